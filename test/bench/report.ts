/**
 * How every benchmark measures and prints (issue 22): whole processes — the `gadget` command as a
 * user types it and the peer's command — run alternately in one loop, the median of ≥ 5 reported;
 * one line per figure: ours, the peer, the ratio, the goal, met or not. In-process figures are
 * printed too, labelled as such. Benchmarks never fail on timing.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export const RUNS = Math.max(5, Number(process.env.GADGET_BENCH_RUNS ?? 5));

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface ProcessRun {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
  /** user + system CPU of the process and its children, ms. */
  cpuMs: number;
  /** peak resident set, MB. */
  maxRssMB: number;
}

/** Run a command as a whole process (through /usr/bin/time for its CPU time and peak RSS). */
export function runProcess(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("/usr/bin/time", ["-f", "@@time %U %S %M", file, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (e) => reject(new Error(`${file}: ${e.message} (run scripts/bootstrap: it installs time)`)));
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      const m = /@@time ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr);
      stderr = stderr.replace(/(Command exited with non-zero status \d+\n)?@@time [^\n]*\n?$/, "");
      resolve({ ms, code, stdout, stderr, cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN, maxRssMB: m ? Number(m[3]) / 1024 : NaN });
    });
  });
}

/** Run each named measurement `runs` times, alternating (a, b, c, a, b, c, …); medians by name. */
export async function alternate<K extends string>(runs: number, fns: Record<K, () => Promise<number>>): Promise<Record<K, { median: number; all: number[] }>> {
  const all = Object.fromEntries(Object.keys(fns).map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < runs; i++) for (const k of Object.keys(fns) as K[]) all[k].push(await fns[k]());
  return Object.fromEntries((Object.keys(all) as K[]).map((k) => [k, { median: median(all[k]), all: all[k] }])) as Record<K, { median: number; all: number[] }>;
}

const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/** `what | ours | peer | ratio | goal | met`: a ratio goal (ours / peer ≤ max, or ≥ min). */
export function ratioRow(what: string, ours: number, peerName: string, peer: number, goal: { max?: number; min?: number }, note = ""): string {
  const r = ours / peer;
  const met = (goal.max === undefined || r <= goal.max) && (goal.min === undefined || r >= goal.min);
  const g = goal.max !== undefined ? `≤ ${goal.max}` : `≥ ${goal.min}`;
  const line = `  ${what}: ours ${fmtMs(ours)} | ${peerName} ${fmtMs(peer)} | ratio ${r.toFixed(2)} | goal ${g} | ${met ? "met" : "NOT met"}${note ? ` (${note})` : ""}`;
  console.log(line);
  return line;
}

/** An absolute goal: `what | ours | goal | met`. */
export function valueRow(what: string, ours: number, unit: "ms" | "MB" | "cores", goal: { max?: number; min?: number }, note = ""): string {
  const met = (goal.max === undefined || ours <= goal.max) && (goal.min === undefined || ours >= goal.min);
  const v = unit === "ms" ? fmtMs(ours) : `${ours.toFixed(unit === "cores" ? 2 : 0)} ${unit}`;
  const g = goal.max !== undefined ? `≤ ${goal.max} ${unit}` : `≥ ${goal.min} ${unit}`;
  const line = `  ${what}: ours ${v} | goal ${g} | ${met ? "met" : "NOT met"}${note ? ` (${note})` : ""}`;
  console.log(line);
  return line;
}

/** A figure with no goal (in-process rows, context). */
export function infoRow(what: string, text: string): string {
  const line = `  ${what}: ${text}`;
  console.log(line);
  return line;
}

export function loadLine(): string {
  return `  load average: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`;
}
