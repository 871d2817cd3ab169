/**
 * check: does it load? Every program of every built object ("ebpf@<arch>") into the verifier of
 * each kernel — the host's, and vmlinuz files booted in a micro-VM — prepared as ig's runtime
 * prepares it (the library's checkObjects). A batch stage: the gadgets of a run are checked
 * together, so each kernel boots once for all of them. Cached twice: the step (by the objects'
 * digests, the kernels' identities and the loader's) and, inside checkObjects, each object ×
 * kernel result (refusals too, so a re-check of a refused gadget boots nothing).
 * A kernel that refuses a gadget fails that gadget: the error carries its results (`data`).
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { defineStage, GadgetError, t, type Arch, type Infer, type StageContext, type StageResult } from "../core/types.js";
import { library } from "./api.js";

const options = t.object({
  /** `host` (the running kernel) and/or vmlinuz paths (relative: to the gadgetfile's folder). Default ["host"]. */
  kernels: t.array(t.string()),
  /** qemu's accelerator: tcg (default) or kvm. */
  accel: t.enum(["tcg", "kvm"]),
  /** Watchdog for one VM boot and every load in it: "90s", "5m". */
  timeout: t.string(),
});
export type CheckStageOptions = Infer<typeof options>;

const result = t.object({
  /** checkObjects' KernelInfo for each kernel. */
  kernels: t.required(t.array(t.anyObject())),
  /** checkObjects' CheckResult for each of this gadget's objects × kernels. */
  results: t.required(t.array(t.anyObject())),
  warnings: t.required(t.array(t.string())),
});

const ARCHS: Arch[] = ["amd64", "arm64"];

function kernelSpecs(ctx: StageContext<CheckStageOptions, unknown>): string[] {
  const ks = ctx.options.kernels && ctx.options.kernels.length > 0 ? ctx.options.kernels : ["host"];
  return ks.map((k) => (k === "host" ? k : resolve(ctx.projectRoot, k)));
}

export const checkStage = defineStage({
  name: "check",
  version: "1",
  description: "load every program into the verifier of the host and of other kernels (micro-VM)",
  options,
  result,
  async inputs(ctx) {
    const { findLoader } = await library();
    const kernels = kernelSpecs(ctx);
    const loader = await findLoader(ctx.env as NodeJS.ProcessEnv);
    // The host kernel's identity is its /proc/version line (release and build); a vmlinuz file is hashed as an input.
    const host = kernels.includes("host") ? (await readFile("/proc/version", "utf8").catch(() => "unknown")).trim() : null;
    return {
      artifacts: ARCHS.map((a) => `ebpf@${a}`).filter((k) => ctx.artifacts.has(k)),
      files: kernels.filter((k) => k !== "host"),
      args: { kernels, host, loader: loader?.digest ?? "bpftool", accel: ctx.options.accel ?? "tcg" },
      env: ["GADGET_CHECK_LOADER"],
    };
  },
  async runBatch(ctxs) {
    const { cacheRoot, checkObjects, parseDuration } = await library();
    const first = ctxs[0]!;
    const kernels = kernelSpecs(first);
    const timeoutMs = first.options.timeout === undefined ? undefined : parseDuration(first.options.timeout);
    if (first.options.timeout !== undefined && timeoutMs === undefined) {
      throw new GadgetError({ what: "invalid check timeout", which: first.options.timeout, why: "not a duration", hint: "e.g. 90s or 5m", code: "USAGE" });
    }
    const objects = [];
    for (const ctx of ctxs) {
      for (const arch of ARCHS) {
        const a = ctx.artifacts.get(`ebpf@${arch}`);
        if (a) objects.push({ name: ctx.gadget.name, arch, digest: a.digest, bytes: await readFile(a.path) });
      }
    }
    const report = await checkObjects({
      objects,
      kernels,
      cacheDir: join(cacheRoot(first.projectRoot, first.env), "check"),
      accel: first.options.accel ?? "tcg",
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      env: first.env as NodeJS.ProcessEnv,
    });
    for (const w of report.warnings) first.logger.warn(`check: ${w}`);
    return ctxs.map((ctx): StageResult<Infer<typeof result>> | Error => {
      const results = report.results.filter((r) => r.object === ctx.gadget.name);
      const data = { kernels: report.kernels as unknown as Record<string, unknown>[], results: results as unknown as Record<string, unknown>[], warnings: report.warnings };
      const refused = results.filter((r) => r.status === "refused");
      if (refused.length === 0) return { result: data };
      const r = refused[0]!;
      const prog = r.programs.find((p) => !p.loaded && !p.skipped);
      return new GadgetError({
        what: "refused by the verifier",
        which: `${ctx.gadget.name} on ${refused.map((x) => x.kernel).join(", ")}`,
        why: `${prog ? `${prog.name}: ` : ""}${prog?.reason ?? r.reason ?? "did not load"}`,
        code: "VERIFIER_REFUSED",
        data,
      });
    });
  },
});

export default checkStage;
