/**
 * `buildImage()`: ig's `image build --local` as a library function — the ig recipe
 * (recipes/ig.ts, loaded like a plugin) run by the engine: clang + llvm-strip per architecture
 * concurrently, wasm, btfgen, oci-pack, store-tag. `gadget image build` only parses flags for it.
 */
import { copyFile, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { GadgetError } from "../errors.js";
import { normalizeReference } from "../oci/reference.js";
import { MediaType } from "../oci/media-types.js";
import type { Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/model.js";
import type { Arch, GadgetInfo, Logger, StepSpec } from "../types.js";
import type { StepEvent } from "../engine/run-graph.js";

export interface BuildOptions {
  /** The gadget folder (relative to cwd). */
  path: string;
  /** Local store directory. */
  storeDir: string;
  cwd?: string;
  /** ig's -f: build file relative to cwd (default PATH/build.yaml). */
  file?: string;
  /** ig's -t: image name (normalized as ig does). */
  tag?: string;
  /** Default amd64 and arm64. */
  archs?: Arch[];
  /** ig's -o: an existing directory that receives <arch>.bpf.o, program.wasm, btfs-<arch>.tar.gz. */
  outputDir?: string;
  updateMetadata?: boolean;
  /** Default true. */
  validateMetadata?: boolean;
  btfgen?: boolean;
  btfhubArchive?: string;
  /** io.inspektor-gadget.builder.version; default: env GADGET_BUILDER_VERSION, `ig version` of an ig on PATH, ours. */
  builderVersion?: string;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  onEvent?: (e: StepEvent) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  gadget: string;
  /** The normalized reference tagged, when a tag was given. */
  reference?: string;
  /** The index digest. */
  digest: string;
  size: number;
  manifests: { arch: Arch; digest: string; size: number }[];
  /** build.yaml warnings (unknown keys). */
  warnings: string[];
}

interface IgRecipe {
  igSteps(opts: { btfgen?: boolean; btfhubArchive?: string; validateMetadata?: boolean; updateMetadata?: boolean; builderVersion?: string }): StepSpec[];
  gadgetFromBuildYaml(dir: string, opts: { file?: string; tag?: string; archs?: Arch[]; cwd?: string; updateMetadata?: boolean }): Promise<{ gadget: GadgetInfo; warnings: string[] }>;
  parseArchs(values: string[]): Promise<Arch[]>;
}

/** The recipe is loaded like a plugin (core never imports recipes/ statically). */
export async function loadIgRecipe(): Promise<IgRecipe> {
  const self = import.meta.url;
  const url = new URL(self.endsWith(".ts") ? "../../recipes/ig.ts" : "../../recipes/ig.js", self);
  return (await import(url.href)) as IgRecipe;
}

const OUTPUT_NAMES: Record<string, (arch?: string) => string> = {
  ebpf: (a) => `${a}.bpf.o`,
  wasm: () => "program.wasm",
  btfgen: (a) => `btfs-${a === "amd64" ? "x86_64" : a}.tar.gz`,
};

/**
 * An untagged build is listed in index.json by digest (no ref name), as ig's oras store records
 * every manifest it is given: the image stays reachable (fsck does not call it garbage) and
 * `gadget image inspect @sha256:…`, `tag` and `export` find it.
 */
async function recordUntagged(storeDir: string, desc: Descriptor): Promise<void> {
  const { LayoutStore } = await import("../store/layout-store.js");
  const store = await LayoutStore.open(storeDir);
  await store.updateIndex((entries) => ({ entries: entries.some((e) => e.digest === desc.digest) ? entries : [...entries, desc], result: undefined }));
}

function usage(what: string, which: string, why: string, hint: string): GadgetError {
  return new GadgetError({ what, which, why, hint, exitCode: 2, code: "USAGE" });
}

export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.btfgen && !opts.btfhubArchive) throw usage("invalid usage", "--btfgen", "btfgen requires --btfhub-archive", "pass --btfhub-archive DIR (a btfhub-archive checkout)");
  // ig's checkBuildOptions: paths must not smuggle in flags or response files
  for (const [flag, v] of [["--output", opts.outputDir], ["--btfhub-archive", opts.btfhubArchive]] as const) {
    const t = v?.trim() ?? "";
    if (t.startsWith("-") || t.startsWith("@")) throw usage("wrong build option", flag, `${t.startsWith("-") ? "flags" : "response files"} are not accepted: ${JSON.stringify(v)}`, "give a path (prefix it with ./)");
  }
  const outputDir = opts.outputDir !== undefined ? resolve(cwd, opts.outputDir) : undefined;
  if (opts.outputDir !== undefined) {
    try {
      if (!(await stat(outputDir!)).isDirectory()) throw new Error("not a directory");
    } catch (e) {
      throw new GadgetError({ what: "output directory not usable", which: opts.outputDir, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : (e as Error).message, hint: "create it first (ig's -o needs an existing folder)" });
    }
  }
  const tag = opts.tag !== undefined && opts.tag !== "" ? normalizeReference(opts.tag) : undefined;

  const recipe = await loadIgRecipe();
  const { gadget, warnings } = await recipe.gadgetFromBuildYaml(opts.path, {
    ...(opts.file !== undefined ? { file: opts.file } : {}),
    ...(tag !== undefined ? { tag } : {}),
    ...(opts.archs && opts.archs.length > 0 ? { archs: opts.archs } : {}),
    cwd,
    updateMetadata: opts.updateMetadata ?? false,
  });
  for (const w of warnings) opts.logger?.warn(w);
  const steps = recipe.igSteps({
    btfgen: opts.btfgen ?? false,
    ...(opts.btfhubArchive ? { btfhubArchive: resolve(cwd, opts.btfhubArchive) } : {}),
    validateMetadata: opts.validateMetadata ?? true,
    updateMetadata: opts.updateMetadata ?? false,
    ...(opts.builderVersion !== undefined ? { builderVersion: opts.builderVersion } : {}),
  });
  const [{ runGraph }, { loadBuiltinStages }, { userStageCacheDir }] = await Promise.all([import("../engine/run-graph.js"), import("../engine/plugins.js"), import("../engine/cache-dir.js")]);
  const stages = await loadBuiltinStages();

  const workDir = outputDir !== undefined ? await mkdtemp(join(tmpdir(), "gadget-build-")) : undefined;
  try {
    const [result] = await runGraph({
      gadgets: [gadget],
      steps,
      stages,
      storeDir: opts.storeDir,
      projectRoot: gadget.dir,
      cache: false,
      // no project: the stages' persistent files (clang's precompiled headers) go to the user's cache
      stageCacheDir: userStageCacheDir(opts.env ?? process.env),
      env: opts.env ?? process.env,
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(workDir ? { workDir } : {}),
    });
    if (!result) throw new GadgetError({ what: "build produced no result", which: opts.path });
    if (!result.ok) throw result.error;
    if (outputDir !== undefined) {
      for (const [name, art] of result.artifacts) {
        const [base, arch] = name.split("@") as [string, string | undefined];
        const fn = OUTPUT_NAMES[base];
        if (fn) await copyFile(art.path, join(outputDir, fn(arch)));
      }
    }
    const packed = result.results["oci-pack"] as { digest: string; size: number; manifests?: BuildResult["manifests"] } | undefined;
    const tagged = result.results["store-tag"] as { reference?: string; digest: string } | undefined;
    const digest = tagged?.digest ?? packed?.digest;
    if (!digest || !packed) throw new GadgetError({ what: "build produced no image", which: opts.path });
    if (!tagged?.reference) await recordUntagged(opts.storeDir, { mediaType: MediaType.ImageIndex, digest: digest as Digest, size: packed.size });
    return { gadget: gadget.name, ...(tagged?.reference ? { reference: tagged.reference } : {}), digest, size: packed.size, manifests: packed.manifests ?? [], warnings };
  } finally {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}
