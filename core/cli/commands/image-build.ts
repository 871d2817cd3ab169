/**
 * `gadget image build PATH`: ig's `image build --local`, as the ig recipe (recipes/ig.ts) run by
 * the engine — clang + llvm-strip per architecture concurrently, wasm, btfgen, oci-pack,
 * store-tag. Prints `Successfully built <repo>:<tag>@sha256:…` (untagged: `@sha256:…`) as ig.
 */
import { copyFile, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GadgetError, usageError } from "../../errors.js";
import { normalizeReference, parseReference, referenceName } from "../../oci/reference.js";
import type { Arch, GadgetInfo, Logger, StepSpec } from "../../types.js";
import type { CommandContext } from "../context.js";

interface IgRecipe {
  igSteps(opts: { btfgen?: boolean; btfhubArchive?: string; validateMetadata?: boolean; updateMetadata?: boolean }): StepSpec[];
  gadgetFromBuildYaml(dir: string, opts: { file?: string; tag?: string; archs?: Arch[]; cwd?: string; updateMetadata?: boolean }): Promise<{ gadget: GadgetInfo; warnings: string[] }>;
  parseArchs(values: string[]): Promise<Arch[]>;
}

/** The recipe is loaded like a plugin (core never imports recipes/ statically). */
async function loadRecipe(): Promise<IgRecipe> {
  const self = import.meta.url;
  const url = new URL(self.endsWith(".ts") ? "../../../recipes/ig.ts" : "../../../recipes/ig.js", self);
  return (await import(url.href)) as IgRecipe;
}

/** ig's output line: `<repository>:<tag>@<digest>`, or `@<digest>` when untagged. */
export function builtLine(reference: string | undefined, digest: string): string {
  if (!reference) return `Successfully built @${digest}`;
  const ref = parseReference(reference);
  return `Successfully built ${referenceName(ref)}:${ref.tag ?? "latest"}@${digest}`;
}

const OUTPUT_NAMES: Record<string, (arch?: string) => string> = {
  ebpf: (a) => `${a}.bpf.o`,
  wasm: () => "program.wasm",
  btfgen: (a) => `btfs-${a === "amd64" ? "x86_64" : a}.tar.gz`,
};

export async function run(ctx: CommandContext): Promise<void> {
  const builder = ctx.flagString("builder-image");
  if (builder !== undefined) {
    throw new GadgetError({
      what: "container builds are not supported",
      which: "--builder-image",
      why: "gadget always builds with the tools on PATH (clang, llvm-strip, bpftool)",
      hint: "drop --builder-image (--local is the default); scripts/bootstrap installs the tools",
      exitCode: 2,
      code: "USAGE",
    });
  }
  const path = ctx.args[0];
  if (path === undefined) throw usageError("missing PATH", "gadget image build PATH (the gadget folder, e.g. `.`)");
  const btfgen = ctx.flagBool("btfgen");
  const btfhubArchive = ctx.flagString("btfhub-archive");
  if (btfgen && !btfhubArchive) throw usageError("btfgen requires --btfhub-archive", "pass --btfhub-archive DIR (a btfhub-archive checkout)");
  const outputDir = ctx.flagString("output");
  // ig's checkBuildOptions: paths must not smuggle in flags or response files
  for (const [flag, v] of [["--output", outputDir], ["--btfhub-archive", btfhubArchive]] as const) {
    const t = v?.trim() ?? "";
    if (t.startsWith("-") || t.startsWith("@")) {
      throw new GadgetError({ what: "wrong build option", which: flag, why: `${t.startsWith("-") ? "flags" : "response files"} are not accepted: ${JSON.stringify(v)}`, hint: "give a path (prefix it with ./)", exitCode: 2, code: "USAGE" });
    }
  }
  if (outputDir !== undefined) {
    try {
      if (!(await stat(outputDir)).isDirectory()) throw new Error("not a directory");
    } catch (e) {
      throw new GadgetError({ what: "output directory not usable", which: outputDir, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : (e as Error).message, hint: "create it first (ig's -o needs an existing folder)" });
    }
  }
  const updateMetadata = ctx.flagBool("update-metadata");
  const validateMetadata = ctx.flags["validate-metadata"] !== false;

  const recipe = await loadRecipe();
  const archFlag = ctx.flagList("arch");
  const archs = archFlag.length > 0 ? await recipe.parseArchs(archFlag) : undefined;
  const rawTag = ctx.flagString("tag");
  const tag = rawTag !== undefined && rawTag !== "" ? normalizeReference(rawTag) : undefined;
  const { gadget, warnings } = await recipe.gadgetFromBuildYaml(path, {
    ...(ctx.flagString("file") !== undefined ? { file: ctx.flagString("file")! } : {}),
    ...(tag !== undefined ? { tag } : {}),
    ...(archs ? { archs } : {}),
    cwd: ctx.cwd,
    updateMetadata,
  });
  for (const w of warnings) ctx.warn(`Warning: ${w}`);
  if (btfgen) ctx.warn("btfgen is enabled, building will take a while...");

  const steps = recipe.igSteps({ btfgen, ...(btfhubArchive ? { btfhubArchive } : {}), validateMetadata, updateMetadata });
  const [{ runGraph }, { loadBuiltinStages }] = await Promise.all([import("../../engine/run-graph.js"), import("../../engine/plugins.js")]);
  const stages = await loadBuiltinStages();

  const logger: Logger = {
    info: (m) => {
      if (ctx.verbose || ctx.stderrIsTTY) ctx.warn(m);
    },
    // tool diagnostics (clang's "file:line:col: warning: …") verbatim; our own warnings prefixed
    warn: (m) => ctx.warn(/^Warning|: warning: /m.test(m) ? m : `Warning: ${m}`),
    debug: (m) => {
      if (ctx.verbose) ctx.warn(m);
    },
  };
  const workDir = outputDir !== undefined ? await mkdtemp(join(tmpdir(), "gadget-build-")) : undefined;
  try {
    const [result] = await runGraph({
      gadgets: [gadget],
      steps,
      stages,
      storeDir: ctx.storeDir(),
      projectRoot: gadget.dir,
      cache: false,
      env: ctx.env,
      logger,
      ...(workDir ? { workDir } : {}),
      ...(ctx.stderrIsTTY && !ctx.flagBool("json")
        ? { onEvent: (e: { type: string; stage: string; arch?: string; ms?: number }) => e.type === "done" && ctx.warn(`  ${e.stage}${e.arch ? ` (${e.arch})` : ""} ${Math.round(e.ms ?? 0)} ms`) }
        : {}),
    });
    if (!result) throw new GadgetError({ what: "build produced no result", which: path });
    if (!result.ok) throw result.error;
    if (outputDir !== undefined) {
      for (const [name, art] of result.artifacts) {
        const [base, arch] = name.split("@") as [string, string | undefined];
        const fn = OUTPUT_NAMES[base];
        if (fn) await copyFile(art.path, join(outputDir, fn(arch)));
      }
    }
    const packed = result.results["oci-pack"] as { digest: string; size: number; manifests?: unknown } | undefined;
    const tagged = result.results["store-tag"] as { reference?: string; digest: string } | undefined;
    const digest = tagged?.digest ?? packed?.digest;
    if (!digest) throw new GadgetError({ what: "build produced no image", which: path });
    if (ctx.flagBool("json")) {
      ctx.out(JSON.stringify({ gadget: gadget.name, reference: tagged?.reference ?? null, digest, size: packed?.size, manifests: packed?.manifests ?? [] }));
    } else {
      ctx.out(builtLine(tagged?.reference, digest));
    }
  } finally {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}
