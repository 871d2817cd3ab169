/** Crash injection: start the real CLI and SIGKILL it after a random delay. */
import { spawn } from "node:child_process";
import { GADGET_BIN, REPO_ROOT } from "./cli.js";

/** A small deterministic PRNG so failures reproduce (seed printed by the test). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface KillResult {
  killed: boolean;
  code: number | null;
  stderr: string;
}

/** Run `gadget args…`, SIGKILL it after delayMs (if still running). */
export function runAndKill(args: string[], delayMs: number, env: Record<string, string> = {}, input?: string): Promise<KillResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GADGET_BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    let killed = false;
    child.stderr.on("data", (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
    const timer = setTimeout(() => {
      killed = child.kill("SIGKILL");
    }, delayMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code, stderr });
    });
  });
}
