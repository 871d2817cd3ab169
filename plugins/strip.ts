/**
 * strip: `llvm-strip -g` for one architecture, as ig does — drops `.debug_*`, keeps `.BTF` and
 * `.BTF.ext`. Writes a new file (`-o`) so the cached "object" artifact stays intact.
 * Input artifact "object", output artifact "ebpf".
 */
import { join } from "node:path";
import { defineStage } from "../core/types.js";
import { findTool, toolFailure } from "./tools.js";

export interface StripOptions {
  llvmStrip?: string;
}

export const stripStage = defineStage<StripOptions>({
  name: "strip",
  version: "1",
  perArch: true,
  async inputs(ctx) {
    if (!ctx.artifacts.has("object")) return { args: { object: false } };
    return { tools: [ctx.options.llvmStrip ?? (await findTool("llvm-strip", ctx.env))], artifacts: ["object"], args: ["-g"] };
  },
  async run(ctx) {
    const obj = ctx.artifacts.get("object");
    if (!obj) return;
    const tool = ctx.options.llvmStrip ?? (await findTool("llvm-strip", ctx.env));
    const out = join(ctx.outDir, `${ctx.arch ?? "object"}.bpf.o`);
    const res = await ctx.exec(tool, ["-g", obj.path, "-o", out], { nothrow: true });
    if (res.exitCode !== 0 || res.signal) throw await toolFailure(res, `stripping the ${ctx.arch ?? ""} eBPF object`);
    return { artifacts: { ebpf: out } };
  },
});
