/**
 * `gadget image check IMAGE`: the image's amd64 object into the verifier of the host and of the
 * kernels in --kernels (booted with qemu), as ig's runtime would load it. One line per object ×
 * kernel as results arrive, then a program × kernel table; `--json` prints one document.
 * Exit 1 when a kernel refuses the object or --baseline finds instructions that grew too much.
 */
import { readFile } from "node:fs/promises";
import { GadgetError, describeSystemError, usageError } from "../../errors.js";
import type { CommandContext } from "../context.js";

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw usageError(`invalid duration ${JSON.stringify(text)} for --timeout`, "e.g. 90s, 500ms, 5m");
  const n = Number(m[1]);
  const ms = m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  if (ms <= 0) throw usageError(`--timeout must be positive, got ${JSON.stringify(text)}`);
  return Math.round(ms);
}

export async function run(ctx: CommandContext): Promise<number> {
  const [image] = ctx.args as [string];
  const json = ctx.flagBool("json");
  const accel = ctx.flagString("accel") ?? "tcg";
  if (accel !== "tcg" && accel !== "kvm") throw usageError(`invalid value ${JSON.stringify(accel)} for --accel`, "tcg (default) or kvm");
  const timeoutText = ctx.flagString("timeout");
  const timeoutMs = timeoutText === undefined ? undefined : parseDuration(timeoutText);
  const thresholdText = ctx.flagString("threshold") ?? "10";
  const threshold = Number(thresholdText);
  if (!Number.isFinite(threshold) || threshold < 0) throw usageError(`invalid value ${JSON.stringify(thresholdText)} for --threshold`, "a growth in percent, e.g. 10");
  const kernels = ctx.flagList("kernels");

  // The baseline is read first: a bad file is an error before anything boots.
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
      throw new GadgetError({ what: "cannot read the baseline", which: baselinePath, why: "not JSON", hint: "save one with gadget image check IMAGE --json > FILE.json" });
    }
  }

  const { objectsOfImage } = await import("../../check/image.js");
  const { checkObjects } = await import("../../check/check.js");
  const { defaultCheckCacheDir } = await import("../../check/cache.js");
  const report = await import("../../check/report.js");

  const store = await ctx.openStore();
  const objects = await objectsOfImage(store, image);
  const widths = { object: Math.max(...objects.map((o) => o.name.length)), kernel: 0 };
  const notCheckedShown = new Set<string>();

  const result = await checkObjects({
    objects,
    kernels: kernels.length > 0 ? kernels : ["host"],
    cacheDir: defaultCheckCacheDir(ctx.env),
    noCache: ctx.flagBool("no-cache"),
    accel,
    timeoutMs,
    env: ctx.env,
    onStart: (ks) => {
      widths.kernel = Math.max(...ks.map((k) => k.label.length));
    },
    onKernel: (k) => {
      if (!json && k.skipped) ctx.out(`- ${k.label}  skipped: ${k.skipped}`);
    },
    onResult: (r) => {
      if (json) return;
      if (r.status === "not-checked") {
        const id = `${r.object}\0${r.arch}`;
        if (notCheckedShown.has(id)) return;
        notCheckedShown.add(id);
      }
      for (const l of report.resultLines(r, widths)) ctx.out(l);
    },
  });

  for (const w of result.warnings) ctx.warn(`Warning: ${w}`);

  let regressions: ReturnType<typeof report.compareWithBaseline> = [];
  if (baseline !== undefined) {
    try {
      regressions = report.compareWithBaseline(result, baseline, threshold);
    } catch (e) {
      throw new GadgetError({ what: "cannot read the baseline", which: baselinePath, why: (e as Error).message });
    }
  }

  if (json) {
    ctx.out(JSON.stringify({ ...result, ok: result.ok && regressions.length === 0, ...(baseline !== undefined ? { threshold, regressions } : {}) }, null, 2));
  } else {
    const table = report.resultTable(result);
    if (table.length > 0) {
      ctx.out("");
      for (const l of table) ctx.out(l);
    }
    if (baseline !== undefined) {
      ctx.out("");
      if (regressions.length === 0) ctx.out(`no program grew by more than ${threshold}% against ${baselinePath}`);
      for (const g of regressions) ctx.out(report.regressionLine(g));
    }
  }
  return result.ok && regressions.length === 0 ? 0 : 1;
}
