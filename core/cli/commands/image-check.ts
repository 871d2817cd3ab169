/**
 * `gadget image check IMAGE`: the image's amd64 object into the verifier of the host and of the
 * kernels in --kernels (booted with qemu), as ig's runtime would load it. One line per object ×
 * kernel as results arrive, then a program × kernel table; `--json` prints one document.
 * Exit 1 when a kernel refuses the object or --baseline finds instructions that grew too much.
 */
import type { CommandContext } from "../context.js";
import { checkFlags, finishCheckOutput } from "../check-output.js";

export async function run(ctx: CommandContext): Promise<number> {
  const [image] = ctx.args as [string];
  const json = ctx.flagBool("json");
  const flags = await checkFlags(ctx);

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
    kernels: flags.kernels.length > 0 ? flags.kernels : ["host"],
    cacheDir: defaultCheckCacheDir(ctx.env),
    noCache: ctx.flagBool("no-cache"),
    accel: flags.accel,
    timeoutMs: flags.timeoutMs,
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
  return finishCheckOutput(ctx, result, flags, json);
}
