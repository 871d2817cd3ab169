/**
 * What a check prints: one line per object × kernel as results arrive, a program × kernel table
 * at the end, and the comparison with a saved `--json` run (`--baseline`). Pure functions.
 */
import type { CheckReport, CheckResult, KernelInfo } from "./types.js";

export interface LineWidths {
  object: number;
  kernel: number;
}

export function widthsFor(objectNames: string[], kernels: KernelInfo[]): LineWidths {
  return { object: Math.max(0, ...objectNames.map((n) => n.length)), kernel: Math.max(0, ...kernels.map((k) => k.label.length)) };
}

/** `✓ trace_exec  6.1.0-57-cloud-amd64  3 progs  max 43 insns`, or `✗ …` with the reason and the verifier's lines. */
export function resultLines(r: CheckResult, w: LineWidths): string[] {
  const head = (mark: string) => `${mark} ${r.object.padEnd(w.object)}  ${r.kernel.padEnd(w.kernel)}`;
  const cached = r.cached ? "  (cached)" : "";
  if (r.status === "not-checked") return [`- ${r.object.padEnd(w.object)}  ${r.arch}: ${r.reason ?? "not checked"}`];
  const loaded = r.programs.filter((p) => p.loaded);
  if (r.status === "loaded" && r.programs.length === 0) return [`${head("✓")}  loaded (bpftool fallback: no verifier figures)${cached}`];
  if (r.status === "loaded") {
    const max = Math.max(0, ...loaded.map((p) => p.insns));
    const n = loaded.length;
    const skipped = r.programs.length - n;
    return [`${head("✓")}  ${n} prog${n === 1 ? "" : "s"}  max ${max} insns${skipped > 0 ? `  (${skipped} not loaded by ig)` : ""}${cached}`];
  }
  const refused = r.programs.filter((p) => !p.loaded && !p.skipped);
  const lines = [`${head("✗")}  ${r.reason ?? "refused"}${cached}`];
  for (const [i, p] of refused.entries()) {
    if (i > 0) lines.push(`    ${p.name}: ${p.reason ?? p.error ?? "refused"}`);
    const at = stoppedAt(p.log ?? []);
    if (at) lines.push(`    ${p.name} at ${at}`);
  }
  return lines;
}

/** The instruction the verifier stopped at (the line before its reason), with the source line when the log has it. */
function stoppedAt(log: string[]): string | undefined {
  if (log.length < 2) return undefined;
  const insn = log[log.length - 2]!;
  if (!/^\d+: \(/.test(insn)) return undefined;
  const source = log[log.length - 3];
  return source?.startsWith(";") ? `${insn}  ${source}` : insn;
}

/** The table at the end: one row per object × program, one column per kernel (verifier insns, ✗ refused). */
export function resultTable(report: CheckReport): string[] {
  const kernels = report.kernels.filter((k) => !k.skipped);
  const rows: string[][] = [["GADGET", "ARCH", "PROGRAM", ...kernels.map((k) => k.label)]];
  const keys: { object: string; arch: string; program: string }[] = [];
  const seen = new Set<string>();
  for (const r of report.results) {
    if (r.status === "not-checked") continue;
    const names = r.programs.length > 0 ? r.programs.map((p) => p.name) : ["(object)"];
    for (const program of names) {
      const id = `${r.object}\0${r.arch}\0${program}`;
      if (!seen.has(id)) {
        seen.add(id);
        keys.push({ object: r.object, arch: r.arch, program });
      }
    }
  }
  for (const key of keys) {
    const row = [key.object, key.arch, key.program];
    for (const k of kernels) {
      const r = report.results.find((x) => x.object === key.object && x.arch === key.arch && x.kernel === k.label);
      const p = r?.programs.find((x) => x.name === key.program);
      if (!r) row.push("");
      else if (!p) row.push(r.status === "loaded" ? "" : "✗");
      else if (p.skipped) row.push("-");
      else row.push(p.loaded ? String(p.insns) : "✗");
    }
    rows.push(row);
  }
  if (rows.length === 1) return [];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? "")].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - [...c].length))).join("  ").trimEnd());
}

export interface Regression {
  object: string;
  arch: string;
  kernel: string;
  program: string;
  before: number;
  after: number;
  /** Growth in percent. */
  growth: number;
}

/** Programs whose processed instructions grew by more than thresholdPct against a saved --json run. */
export function compareWithBaseline(current: CheckReport, baseline: unknown, thresholdPct: number): Regression[] {
  const before = new Map<string, number>();
  const results = (baseline as { results?: unknown }).results;
  if (!Array.isArray(results)) throw new Error("not a `gadget image check --json` document (no results)");
  for (const r of results as CheckResult[]) {
    for (const p of r.programs ?? []) if (p.loaded && p.insns > 0) before.set(`${r.object}\0${r.arch}\0${r.kernel}\0${p.name}`, p.insns);
  }
  const out: Regression[] = [];
  for (const r of current.results) {
    for (const p of r.programs) {
      const b = before.get(`${r.object}\0${r.arch}\0${r.kernel}\0${p.name}`);
      if (!p.loaded || b === undefined) continue;
      const growth = ((p.insns - b) / b) * 100;
      if (growth > thresholdPct) out.push({ object: r.object, arch: r.arch, kernel: r.kernel, program: p.name, before: b, after: p.insns, growth: Math.round(growth * 10) / 10 });
    }
  }
  return out;
}

export function regressionLine(g: Regression): string {
  return `! ${g.object}/${g.program}  ${g.kernel}  ${g.before} → ${g.after} insns (+${g.growth}%)`;
}
