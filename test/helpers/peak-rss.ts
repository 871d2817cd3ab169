/**
 * Run the CLI under GNU time to learn its peak RSS (the kernel's maxrss of the process), with
 * a watchdog that kills it when its RSS passes a ceiling — so a test of a memory bound fails
 * quickly on code that has none, instead of eating the machine.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { GADGET_BIN, REPO_ROOT, type RunResult } from "./cli.js";

const TIME = "/usr/bin/time";
const MARK = "gadget-peak-rss-kb";

export interface MeasuredRun extends RunResult {
  peakRssMb: number;
  ms: number;
  /** Killed by the watchdog (RSS above the ceiling, or the time limit). */
  killed?: "memory" | "time";
}

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text.split(/\s+/).filter(Boolean).map(Number);
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

export async function runGadgetMeasured(args: string[], opts: { env?: Record<string, string>; killAboveMb: number; timeoutMs: number }): Promise<MeasuredRun> {
  if (!existsSync(TIME)) throw new Error(`${TIME} is missing (Debian package "time"): run scripts/bootstrap`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
  const t0 = Date.now();
  const child = spawn(TIME, ["-f", `${MARK} %M`, process.execPath, GADGET_BIN, ...args], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  let killed: MeasuredRun["killed"];
  const kill = async (why: "memory" | "time") => {
    killed ??= why;
    for (const pid of await childrenOf(child.pid!)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  };
  const watchdog = setInterval(() => {
    void (async () => {
      for (const pid of await childrenOf(child.pid!)) if ((await rssKb(pid)) > opts.killAboveMb * 1024) await kill("memory");
    })();
  }, 50);
  const timer = setTimeout(() => void kill("time"), opts.timeoutMs);
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (c) => resolve(c ?? -1));
  });
  clearInterval(watchdog);
  clearTimeout(timer);
  const ms = Date.now() - t0;
  const m = new RegExp(`(?:^|\\n)(?:Command [^\\n]*\\n)?${MARK} (\\d+)\\n?$`).exec(stderr);
  const peakRssMb = m ? Number(m[1]) / 1024 : Number.NaN;
  if (m) stderr = stderr.slice(0, m.index + (m[0].startsWith("\n") ? 1 : 0));
  return { code, stdout, stderr, peakRssMb, ms, ...(killed ? { killed } : {}) };
}
