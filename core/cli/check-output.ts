/**
 * What `gadget image check` and `gadget check` share: their flags (kernels, accel, timeout,
 * baseline, threshold) read into values, and the end of their output — warnings, the program ×
 * kernel table, the baseline comparison, or one JSON document — with the exit code.
 */
import { readFile } from "node:fs/promises";
import { GadgetError, describeSystemError, usageError } from "../errors.js";
import { parseDuration } from "../duration.js";
import type { CheckReport } from "../check/types.js";
import type { CommandContext } from "./context.js";

export interface CheckFlags {
  kernels: string[];
  accel: "tcg" | "kvm";
  timeoutMs: number | undefined;
  threshold: number;
  baselinePath: string | undefined;
  baseline: unknown;
}

/** The check flags; a bad baseline file is an error before anything builds or boots. */
export async function checkFlags(ctx: CommandContext): Promise<CheckFlags> {
  const accel = ctx.flagString("accel") ?? "tcg";
  if (accel !== "tcg" && accel !== "kvm") throw usageError(`invalid value ${JSON.stringify(accel)} for --accel`, "tcg (default) or kvm");
  const timeoutText = ctx.flagString("timeout");
  const timeoutMs = timeoutText === undefined ? undefined : parseDuration(timeoutText);
  if (timeoutText !== undefined && (timeoutMs === undefined || timeoutMs <= 0)) throw usageError(`invalid duration ${JSON.stringify(timeoutText)} for --timeout`, "e.g. 90s, 500ms, 5m");
  const thresholdText = ctx.flagString("threshold") ?? "10";
  const threshold = Number(thresholdText);
  if (!Number.isFinite(threshold) || threshold < 0) throw usageError(`invalid value ${JSON.stringify(thresholdText)} for --threshold`, "a growth in percent, e.g. 10");
  const baselinePath = ctx.flagString("baseline");
  let baseline: unknown;
  if (baselinePath !== undefined) {
    let text: string;
    try {
      text = await readFile(baselinePath, "utf8");
    } catch (e) {
      throw new GadgetError({ what: "cannot read the baseline", which: baselinePath, why: describeSystemError(e) });
    }
    try {
      baseline = JSON.parse(text);
    } catch {
      throw new GadgetError({ what: "cannot read the baseline", which: baselinePath, why: "not JSON", hint: "save one with --json > FILE.json" });
    }
  }
  return { kernels: ctx.flagList("kernels"), accel, timeoutMs, threshold, baselinePath, baseline };
}

/** Warnings, then the table and the baseline comparison (or the JSON document); returns the exit code. */
export async function finishCheckOutput(ctx: CommandContext, result: CheckReport, flags: CheckFlags, json: boolean, extra: Record<string, unknown> = {}): Promise<number> {
  const report = await import("../check/report.js");
  for (const w of result.warnings) ctx.warn(`Warning: ${w}`);
  let regressions: ReturnType<typeof report.compareWithBaseline> = [];
  if (flags.baseline !== undefined) {
    try {
      regressions = report.compareWithBaseline(result, flags.baseline, flags.threshold);
    } catch (e) {
      throw new GadgetError({ what: "cannot read the baseline", which: flags.baselinePath, why: (e as Error).message });
    }
  }
  const ok = result.ok && regressions.length === 0;
  if (json) {
    ctx.out(JSON.stringify({ ...result, ...extra, ok: ok && extra.ok !== false, ...(flags.baseline !== undefined ? { threshold: flags.threshold, regressions } : {}) }, null, 2));
  } else {
    const table = report.resultTable(result);
    if (table.length > 0) {
      ctx.out("");
      for (const l of table) ctx.out(l);
    }
    if (flags.baseline !== undefined) {
      ctx.out("");
      if (regressions.length === 0) ctx.out(`no program grew by more than ${flags.threshold}% against ${flags.baselinePath}`);
      for (const g of regressions) ctx.out(report.regressionLine(g));
    }
  }
  return ok && extra.ok !== false ? 0 : 1;
}
