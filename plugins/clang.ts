/**
 * clang: compiles the gadget's eBPF source for one architecture with exactly ig's argv
 * (DESIGN §6), then build.yaml's cflags, `-ffile-prefix-map=<gadget dir>=.` (the object does
 * not depend on the checkout's path) and `-MD -MF` (the headers clang read become
 * discoveredInputs: part of the next cache key, and watched). Runs in the gadget folder with
 * the source path relative, as ig does after its chdir. Output artifact: "object".
 *
 * With a precompiled header (option `pch`, clang-pch.ts) the same argv gets `-include-pch X.pch`:
 * the object is byte-identical, so nothing about the PCH is part of the cache key, and the
 * depfile's PCH files are left out of discoveredInputs. If the PCH compile fails, the plain one
 * runs: its error is the one reported; if it works, the PCH was at fault and is dropped.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, join, relative, isAbsolute } from "node:path";
import { defineStage, GadgetError, t, type Arch, type GadgetInfo, type Infer, type ProcessOutput, type RunInfo, type StageContext } from "../core/types.js";
import { api } from "./api.js";
import { rememberedMultiarch } from "./clang-identity.js";
import { dropPch, existingPch, makePch, markNoPch, markPchWanted, pchWanted, planPch, realHeaders, shareKey, usePchArgs, type HashMemo, type PchPlan } from "./clang-pch.js";
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
  /**
   * Precompiled headers (default "auto"): "auto" uses one when the source's leading #includes
   * hold vmlinux.h (or add up to 1 MiB), "always" for any leading system/vmlinux.h #includes,
   * "never" compiles plainly. The object is the same either way.
   */
  pch: t.enum(["auto", "always", "never"]),
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
  /** PCH builds of this run by plan (gadgets with the same headers, flags and arch wait for one build). */
  making: Map<string, Promise<{ pch: string } | { reason: string }>>;
  /** Header content hashes of this run (headers do not change during a run; makePch hashes afresh). */
  hashes: HashMemo;
  /** How many compiles of this run could share each PCH (by shareKey), counted on first need. */
  sharers: () => Promise<Map<string, number>>;
}

/** Count the run's compiles per shareKey (arch, cflags, prefix): sources are read once, on first need. */
function countSharers(run: RunInfo): () => Promise<Map<string, number>> {
  let counting: Promise<Map<string, number>> | undefined;
  return () =>
    (counting ??= (async () => {
      const counts = new Map<string, number>();
      for (const g of run.gadgets) {
        const source = await readFile(g.ebpfSource, "utf8").catch(() => undefined);
        if (source === undefined || g.settings.ebpf === false) continue;
        for (const arch of g.archs) {
          const key = shareKey(arch, g.cflags, source, g.ebpfSource);
          if (key) counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
      return counts;
    })());
}

export const clangStage = defineStage({
  name: "clang",
  version: "3",
  description: "compile the eBPF program for one architecture (ig's clang argv)",
  perArch: true,
  options,
  outputs: ["object"],
  setup: (run): ClangRunState => ({ shownWarnings: new Set(), making: new Map(), hashes: new Map(), sharers: countSharers(run) }),
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
    // fixed by clang's identity: asked once, then remembered in the cache folder (clang starts sooner)
    const multiarch = await rememberedMultiarch(ctx.cacheDir, clang, () => hostMultiarch(ctx.exec, clang));
    checkHostHeaders(multiarch);
    const out = join(ctx.outDir, `${arch}.bpf.o`);
    const depfile = join(ctx.outDir, `${arch}.d`);
    const args = clangArgs({ multiarch, arch, source: sourceArg(ctx.gadget), out, gadgetDir: ctx.gadget.dir, cflags: [...ctx.gadget.cflags, ...(ctx.options.cflags ?? [])], depfile });
    const what = `compiling ${relative(process.cwd(), ctx.gadget.ebpfSource) || ctx.gadget.ebpfSource} for ${arch}`;
    const plain = () => ctx.exec(clang, args, { cwd: ctx.gadget.dir, what, hint: (out) => headerHint(out.stderr) });
    const source = await readFile(ctx.gadget.ebpfSource, "utf8");
    const plan = await planPch({ dir: ctx.cacheDir, clang, arch, compileArgs: args, source, sourcePath: ctx.gadget.ebpfSource, mode: ctx.options.pch ?? "auto", hashes: ctx.state.hashes, env: ctx.env });
    let res: ProcessOutput;
    if (typeof plan === "string") {
      ctx.logger.debug(`clang (${arch}): no precompiled header: ${plan}`);
      const compiling = plain();
      void api().catch(() => {}); // load the rest of the library while clang runs
      res = await compiling;
    } else {
      res = await compileWithPch(ctx, plan, clang, args, plain, source);
    }
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
      discovered = realHeaders(parseDepfile(await readFile(depfile, "utf8"), ctx.gadget.dir), ctx.cacheDir);
    } catch {
      /* no depfile: nothing discovered */
    }
    return { artifacts: { object: out }, discoveredInputs: discovered };
  },
});

/**
 * Compile with the plan's PCH, made first when missing (in "auto" mode only when it will be used
 * again: see pchWanted; one build per plan and run). When the PCH compile fails the plain compile
 * runs: its error is the one reported (once). If the plain one works, the PCH was at fault: an
 * existing one (corrupt, stale) is dropped and made again next time; one made just now does not
 * work for these headers, so the plan is marked not to try again (markNoPch).
 */
async function compileWithPch(ctx: StageContext<ClangOptions, ClangRunState>, plan: PchPlan, clang: string, args: string[], plain: () => Promise<ProcessOutput>, source: string): Promise<ProcessOutput> {
  const arch = ctx.arch!;
  let pch = await existingPch(plan);
  let fresh = false;
  if (!pch) {
    let making = ctx.state.making.get(plan.base);
    if (!making && (ctx.options.pch ?? "auto") === "auto" && !(await pchWanted(plan))) {
      const key = shareKey(arch, ctx.gadget.cflags, source, ctx.gadget.ebpfSource);
      const sharers = key ? ((await ctx.state.sharers()).get(key) ?? 0) : 0;
      if (sharers < 2) {
        // used once in this run: compile plainly now, make the PCH on this plan's next build
        ctx.logger.debug(`clang (${arch}): no precompiled header yet: made on the next build of these headers`);
        const compiling = plain(); // clang first: the note can wait
        compiling.catch(() => {}); // a failure is the caller's (no unhandled rejection while the note is written)
        await markPchWanted(plan).catch(() => {});
        void api().catch(() => {});
        return compiling;
      }
    }
    if (!making) {
      making = makePch(plan, (a) => ctx.exec(clang, a, { cwd: ctx.gadget.dir, nothrow: true })).catch((e: unknown) => ({ reason: (e as Error)?.message ?? String(e) }));
      ctx.state.making.set(plan.base, making);
    }
    const made = await making;
    if ("reason" in made) {
      ctx.logger.debug(`clang (${arch}): no precompiled header: ${made.reason}`);
      return plain();
    }
    pch = made.pch;
    fresh = true;
  }
  ctx.logger.debug(`clang (${arch}): using precompiled header ${pch}`);
  const compiling = ctx.exec(clang, [...args, ...usePchArgs(pch)], { cwd: ctx.gadget.dir, nothrow: true });
  void api().catch(() => {}); // load the rest of the library while clang runs
  const res = await compiling;
  if (res.exitCode === 0) return res;
  const again = await plain(); // throws the real error when the source is at fault
  ctx.logger.debug(`clang (${arch}): the precompiled header failed where the plain compile worked; ${fresh ? "not using it for these headers again" : "dropped"}:\n${res.stderr.trim()}`);
  if (fresh) await markNoPch(plan, `a fresh PCH failed where the plain compile worked:\n${res.stderr}`);
  else {
    await dropPch(pch);
    ctx.state.making.delete(plan.base);
    await markPchWanted(plan).catch(() => {}); // it was in use: the next build makes it again
  }
  return again;
}
