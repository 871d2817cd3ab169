/** Run the real CLI (bin/gadget.js → dist/) as a child process, as users do. */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const GADGET_BIN = join(REPO_ROOT, "bin", "gadget.js");
/** Real third-party data, copied into the repository (a fresh clone has nothing beside it). */
export const FIXTURES = join(REPO_ROOT, "test", "fixtures");
export const IG_FIXTURE_TAR = join(FIXTURES, "ig", "trace_open.tar");
export const IG_FIXTURE_INDEX_DIGEST = "sha256:87c3ecca8d843f2e08382836cb0eff718fa5c56d786c73e2674d7e9db13a1ac7";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
}

export function runGadget(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, [GADGET_BIN, ...args], opts);
}

export function runCommand(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
    const child = spawn(file, args, { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** A temp directory removed by the returned cleanup. */
export async function tempDir(prefix = "gadget-test-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
