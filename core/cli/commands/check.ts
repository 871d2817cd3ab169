/**
 * `gadget check [GADGET…]`: the gadgetfile's `check` task — build as `build` does (cache hits when
 * unchanged), then the check stage loads every object into the verifier of each kernel (the
 * gadgetfile's `check.kernels`, or --kernels). Prints one line per gadget × kernel, then the
 * program × kernel table (or one JSON document); exit 1 when a gadget fails to build, a kernel
 * refuses it, or --baseline finds programs whose verifier instructions grew too much.
 */
import { GadgetError, usageError } from "../../errors.js";
import type { CheckReport, CheckResult, KernelInfo } from "../../check/types.js";
import type { GadgetRunResult } from "../../engine/run-graph.js";
import type { CommandContext } from "../context.js";
import { formatError } from "../output.js";
import { checkFlags, finishCheckOutput } from "../check-output.js";
import { parseJobs, runLogger } from "./run.js";

interface CheckData {
  kernels: KernelInfo[];
  results: CheckResult[];
  warnings: string[];
}

/** This gadget's check results: its step's result, or the data of a refusal. */
function checkData(r: GadgetRunResult): CheckData | undefined {
  const ok = r.results.check as unknown as CheckData | undefined;
  if (ok) return ok;
  const data = r.error instanceof GadgetError && r.error.code === "VERIFIER_REFUSED" ? (r.error.data as CheckData | undefined) : undefined;
  return data;
}

export async function run(ctx: CommandContext): Promise<number> {
  const json = ctx.flagBool("json");
  const flags = await checkFlags(ctx);
  const jobs = parseJobs(ctx.flagString("jobs"));
  const file = ctx.flagString("file");
  const { loadProject, runProject } = await import("../../engine/project.js");
  const project = await loadProject({ cwd: ctx.cwd, ...(file ? { file } : {}), tasks: ["check"] });

  // --kernels/--accel/--timeout override the gadgetfile's check options
  for (const s of project.steps) {
    if (typeof s.spec === "string" || s.spec.stage !== "check") continue;
    s.spec = {
      ...s.spec,
      options: {
        ...(s.spec.options ?? {}),
        ...(flags.kernels.length > 0 ? { kernels: flags.kernels } : {}),
        ...(ctx.flagString("accel") !== undefined ? { accel: flags.accel } : {}),
        ...(flags.timeoutMs !== undefined ? { timeout: `${flags.timeoutMs}ms` } : {}),
      },
    };
  }
  const names = new Set(project.gadgets.map((g) => g.name));
  for (const a of ctx.args) if (!names.has(a)) throw usageError(`unknown gadget ${JSON.stringify(a)}`, `gadgets in ${project.gadgetfile.file}: ${[...names].sort().join(", ")}`);
  if (project.gadgets.length === 0) throw new GadgetError({ what: "nothing to check", which: project.gadgetfile.file, why: "the gadgetfile selects no gadgets" });

  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  process.once("SIGTERM", onSig);
  let results: GadgetRunResult[];
  try {
    results = await runProject(project, {
      storeDir: ctx.storeDir(),
      ...(jobs ? { jobs } : {}),
      cache: !ctx.flagBool("no-cache"),
      env: ctx.env,
      signal: ac.signal,
      logger: runLogger(ctx),
      ...(ctx.args.length > 0 ? { only: new Set(ctx.args) } : {}),
    });
  } finally {
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
    await (await import("../../engine/pool.js")).closePool();
  }
  if (ac.signal.aborted) return 130;

  const report = await import("../../check/report.js");
  const combined: CheckReport = { ok: true, kernels: [], results: [], warnings: [] };
  const failed: { gadget: string; error: string }[] = [];
  for (const r of results) {
    const data = checkData(r);
    if (data) {
      if (combined.kernels.length === 0) combined.kernels = data.kernels;
      combined.results.push(...data.results);
      for (const w of data.warnings) if (!combined.warnings.includes(w)) combined.warnings.push(w);
    } else if (!r.ok) {
      failed.push({ gadget: r.gadget.name, error: (r.error as Error)?.message ?? String(r.error) });
    }
  }
  combined.ok = combined.results.every((x) => x.status !== "refused");
  if (!json) {
    const widths = report.widthsFor(results.map((r) => r.gadget.name), combined.kernels);
    const shown = new Set<string>();
    for (const r of results) {
      const data = checkData(r);
      if (!data) {
        if (!r.ok) {
          ctx.out(`✗ ${r.gadget.name}  not built`);
          ctx.warn(formatError(r.error, ctx.verbose));
        }
        continue;
      }
      for (const k of data.kernels) {
        if (k.skipped && !shown.has(`skip\0${k.label}`)) {
          shown.add(`skip\0${k.label}`);
          ctx.out(`- ${k.label}  skipped: ${k.skipped}`);
        }
      }
      for (const x of data.results) {
        if (x.status === "not-checked") {
          if (shown.has(`${x.object}\0${x.arch}`)) continue;
          shown.add(`${x.object}\0${x.arch}`);
        }
        for (const l of report.resultLines(x, widths)) ctx.out(l);
      }
    }
  }
  return finishCheckOutput(ctx, combined, flags, json, failed.length > 0 ? { ok: false, failed } : {});
}
