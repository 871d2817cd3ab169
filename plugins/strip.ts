/**
 * strip: `llvm-strip -g` for one architecture, as ig does — drops `.debug_*`, keeps `.BTF` and
 * `.BTF.ext`. Writes a new file (`-o`) so the cached "object" artifact stays intact.
 * Input artifact "object", output artifact "ebpf".
 */
import { join } from "node:path";
import { defineStage, t, type Infer } from "../core/types.js";
import { findTool } from "./tools.js";

const options = t.object({
  /** llvm-strip binary (default: llvm-strip on PATH). */
  llvmStrip: t.string(),
});
export type StripOptions = Infer<typeof options>;

export const stripStage = defineStage({
  name: "strip",
  version: "1",
  description: "llvm-strip -g the object (drops debug info, keeps .BTF)",
  perArch: true,
  options,
  outputs: ["ebpf"],
  async inputs(ctx) {
    if (!ctx.artifacts.has("object")) return { args: { object: false } };
    return { tools: [ctx.options.llvmStrip ?? (await findTool("llvm-strip", ctx.env))], artifacts: ["object"], args: ["-g"] };
  },
  async run(ctx) {
    const obj = ctx.artifacts.get("object");
    if (!obj) return;
    const tool = ctx.options.llvmStrip ?? (await findTool("llvm-strip", ctx.env));
    const out = join(ctx.outDir, `${ctx.arch ?? "object"}.bpf.o`);
    await ctx.exec(tool, ["-g", obj.path, "-o", out], { what: `stripping the ${ctx.arch ?? ""} eBPF object` });
    return { artifacts: { ebpf: out } };
  },
});
