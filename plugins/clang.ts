/**
 * clang: compiles the gadget's eBPF source for one architecture with exactly ig's argv
 * (DESIGN §6), then build.yaml's cflags, `-ffile-prefix-map=<gadget dir>=.` (the object does
 * not depend on the checkout's path) and `-MD -MF` (the headers clang read become
 * discoveredInputs: part of the next cache key, and watched). Runs in the gadget folder with
 * the source path relative, as ig does after its chdir. Output artifact: "object".
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, join, relative, isAbsolute } from "node:path";
import { defineStage, GadgetError, t, type Arch, type GadgetInfo, type Infer } from "../core/types.js";
import { api } from "./api.js";
import { parseDepfile } from "./depfile.js";
import { checkHostHeaders, findTool, headerHint, hostMultiarch } from "./tools.js";
import { checkUnresolvedSymbols } from "./unresolved-symbols.js";
import { ALLOW_UNSAFE_CFLAGS_ENV, refuseUnsafeCflags } from "./unsafe-cflags.js";

const options = t.object({
  /** clang binary (default: clang on PATH). */
  clang: t.string(),
  /** Extra arguments after build.yaml's cflags. */
  cflags: t.array(t.string()),
  /** Allow cflags that load code into clang (-fplugin, -Xclang -load, -B, …; see unsafe-cflags.ts). */
  allowUnsafeCflags: t.boolean(),
});
export type ClangOptions = Infer<typeof options>;

/** cflags that load code are refused unless the user allowed them (see unsafe-cflags.ts). */
function checkCflags(ctx: { options: ClangOptions; env: Readonly<Record<string, string | undefined>>; gadget: GadgetInfo }): Promise<void> {
  const allow = ctx.options.allowUnsafeCflags === true || ctx.env[ALLOW_UNSAFE_CFLAGS_ENV] === "1";
  return refuseUnsafeCflags([...ctx.gadget.cflags, ...(ctx.options.cflags ?? [])], { allow, gadget: ctx.gadget.name });
}

export const TARGET_ARCH_DEFINE: Record<Arch, string> = { amd64: "x86", arm64: "arm64" };

/** ig's clang argv for one arch (without the program name). */
export function igClangArgs(opts: { multiarch: string; arch: Arch; source: string; out: string }): string[] {
  return [
    "-target", "bpf",
    "-Wall",
    "-g",
    "-O2",
    `-I/usr/include/${opts.multiarch}`,
    "-D", `__TARGET_ARCH_${TARGET_ARCH_DEFINE[opts.arch]}`,
    "-c", opts.source,
    "-I", `/usr/include/gadget/${opts.arch}/`,
    "-o", opts.out,
  ];
}

/** Our full argv: ig's, then cflags, then path-independence and dependency output. */
export function clangArgs(opts: { multiarch: string; arch: Arch; source: string; out: string; gadgetDir: string; cflags: string[]; depfile: string }): string[] {
  return [...igClangArgs(opts), ...opts.cflags, `-ffile-prefix-map=${opts.gadgetDir}=.`, "-MD", "-MF", opts.depfile];
}

/** Source path as clang gets it: relative to the gadget folder when inside it. */
export function sourceArg(gadget: GadgetInfo): string {
  const rel = relative(gadget.dir, gadget.ebpfSource);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : gadget.ebpfSource;
}

/** Whether the gadget has an eBPF program to compile (ig: a missing default program.bpf.c means none). */
export async function hasEbpfSource(gadget: GadgetInfo): Promise<boolean> {
  if (gadget.settings.ebpf === false) return false;
  if (existsSync(gadget.ebpfSource)) return true;
  if (basename(gadget.ebpfSource) === "program.bpf.c") return false;
  throw new GadgetError({ what: "source file not found", which: gadget.ebpfSource, why: "no such file or directory", code: "NOT_FOUND" });
}

function archOf(ctx: { arch?: Arch }): Arch {
  if (!ctx.arch) throw new GadgetError({ what: "clang stage", why: "runs per architecture but got none" });
  return ctx.arch;
}

/** Per run: clang's warnings already shown (every arch compiles the same source: show them once). */
interface ClangRunState {
  shownWarnings: Set<string>;
}

export const clangStage = defineStage({
  name: "clang",
  version: "3",
  description: "compile the eBPF program for one architecture (ig's clang argv)",
  perArch: true,
  options,
  outputs: ["object"],
  setup: (): ClangRunState => ({ shownWarnings: new Set() }),
  async inputs(ctx) {
    if (!(await hasEbpfSource(ctx.gadget))) return { args: { ebpf: false } };
    await checkCflags(ctx);
    const clang = ctx.options.clang ?? (await findTool("clang", ctx.env));
    const arch = archOf(ctx);
    return {
      files: [ctx.gadget.ebpfSource],
      tools: [clang],
      // The host multiarch dir is what this clang prints for -print-multiarch: fixed by the
      // tool's identity (already in the key), so a no-op run does not spawn clang to ask it.
      // The headers read from that dir are in the key through the depfile.
      args: igClangArgs({ multiarch: "<clang -print-multiarch>", arch, source: sourceArg(ctx.gadget), out: `${arch}.bpf.o` }).concat(ctx.gadget.cflags, ctx.options.cflags ?? [], ["-ffile-prefix-map"]),
    };
  },
  async run(ctx) {
    if (!(await hasEbpfSource(ctx.gadget))) return;
    await checkCflags(ctx);
    const arch = archOf(ctx);
    const clang = ctx.options.clang ?? (await findTool("clang", ctx.env));
    const multiarch = await hostMultiarch(ctx.exec, clang);
    checkHostHeaders(multiarch);
    const out = join(ctx.outDir, `${arch}.bpf.o`);
    const depfile = join(ctx.outDir, `${arch}.d`);
    const args = clangArgs({ multiarch, arch, source: sourceArg(ctx.gadget), out, gadgetDir: ctx.gadget.dir, cflags: [...ctx.gadget.cflags, ...(ctx.options.cflags ?? [])], depfile });
    const what = `compiling ${relative(process.cwd(), ctx.gadget.ebpfSource) || ctx.gadget.ebpfSource} for ${arch}`;
    const compiling = ctx.exec(clang, args, { cwd: ctx.gadget.dir, what, hint: (out) => headerHint(out.stderr) });
    void api().catch(() => {}); // load the rest of the library while clang runs
    const res = await compiling;
    // clang's warnings, as clang printed them — once, even though every arch compiles the same source
    const warnings = res.stderr.trimEnd();
    const seen = `${ctx.gadget.dir}\0${warnings}`;
    if (warnings && !ctx.state.shownWarnings.has(seen)) {
      ctx.state.shownWarnings.add(seen);
      ctx.logger.diagnostics(warnings);
    }
    await checkUnresolvedSymbols(out, ctx.gadget, arch);
    let discovered: string[] = [];
    try {
      discovered = parseDepfile(await readFile(depfile, "utf8"), ctx.gadget.dir);
    } catch {
      /* no depfile: nothing discovered */
    }
    return { artifacts: { object: out }, discoveredInputs: discovered };
  },
});
