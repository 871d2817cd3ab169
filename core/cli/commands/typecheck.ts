/** `gadget typecheck [-f FILE]`: the gadgetfile and its local stages through the TypeScript compiler. */
import { relative, isAbsolute } from "node:path";
import { GadgetError } from "../../errors.js";
import type { CommandContext } from "../context.js";
import { toJson } from "../output.js";

/** Relative to the current folder, as tsc prints paths (also `../../stages/x.ts` from a subfolder). */
function shown(ctx: CommandContext, p: string): string {
  const r = relative(ctx.cwd, p);
  return r && !isAbsolute(r) ? r : p;
}

/**
 * Prints one `file:line:col: message (TSxxxx)` line per type error on stdout and fails with a
 * summary; when clean, one `✓` line (unless `quietWhenClean`: `gadget run --typecheck`).
 */
export async function typecheckCommand(ctx: CommandContext, o: { quietWhenClean?: boolean } = {}): Promise<number> {
  const file = ctx.flagString("file");
  const [{ findGadgetfile, loadGadgetfile }, { typecheckFiles, localStageFiles }] = await Promise.all([import("../../gadgetfile/load.js"), import("../../gadgetfile/typecheck.js")]);
  const gadgetfile = findGadgetfile(ctx.cwd, file);
  const { dirname } = await import("node:path");
  const dir = dirname(gadgetfile);
  // The stages to check are the gadgetfile's local plugins; a gadgetfile that does not load is still checked (its errors are the point).
  let stages: string[] = [];
  try {
    const gf = await loadGadgetfile(gadgetfile);
    stages = localStageFiles(gf.config.plugins ?? [], dir);
  } catch {
    stages = [];
  }
  const res = typecheckFiles([gadgetfile, ...stages], dir);
  const json = ctx.flagBool("json") && !o.quietWhenClean;
  if (json) {
    ctx.out(toJson({ ok: res.diagnostics.length === 0, files: res.files.map((f) => shown(ctx, f)), diagnostics: res.diagnostics.map((d) => ({ ...d, ...(d.file ? { file: shown(ctx, d.file) } : {}) })), typescript: res.typescript.version }, false));
  } else {
    for (const d of res.diagnostics) ctx.out(`${d.file ? `${shown(ctx, d.file)}:${d.line}:${d.column}: ` : ""}${d.message} (${d.code})`);
  }
  if (res.diagnostics.length > 0) {
    const files = new Set(res.diagnostics.map((d) => d.file ?? "")).size;
    const n = res.diagnostics.length;
    throw new GadgetError({ what: "type check failed", which: shown(ctx, gadgetfile), why: `${n} error${n === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"}`, code: "TYPE_ERRORS" });
  }
  if (!json && !o.quietWhenClean) {
    const n = stages.length;
    ctx.out(`✓ no type errors: ${shown(ctx, gadgetfile)}${n ? ` and ${n} stage${n === 1 ? "" : "s"}` : ""} (${res.files.length} file${res.files.length === 1 ? "" : "s"}, TypeScript ${res.typescript.version})`);
  }
  return 0;
}

export async function run(ctx: CommandContext): Promise<number> {
  return typecheckCommand(ctx);
}
