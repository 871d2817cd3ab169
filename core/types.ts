/**
 * The public gadgetfile and stage API (DESIGN §7) — the one file of types that gadgetfile.ts
 * authors, organizations' stage plugins and gadget's own built-in stages (plugins/) all use.
 * Core never imports a plugin; plugins use only what is declared here (and exported from
 * "gadget"). Everything here is validated at run time by the engine, since type checks are
 * skipped when a gadgetfile is transpiled.
 */
import type { Digest } from "./oci/digest.js";
import type { Arch } from "./oci/pack.js";

export type { Arch, Digest };

// ---- stages ---------------------------------------------------------------------------------

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** What a finished process produced; thrown (as ToolError) when it failed. Shaped like zx's ProcessOutput. */
export interface ProcessOutput {
  command: string;
  args: string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  /** Extra environment variables (merged over the step's env). */
  env?: Record<string, string>;
  input?: string | Uint8Array;
  /** Resolve instead of throwing when the process exits non-zero. */
  nothrow?: boolean;
}

/** A named output of a step: a file the engine caches by content. */
export interface Artifact {
  /** Absolute path of the file (inside the step's outDir, or restored from the cache). */
  path: string;
  digest: Digest;
  size: number;
}

/** The gadget a step works on, with its resolved build settings. */
export interface GadgetInfo {
  /** Short name (folder name unless set), e.g. "trace_open". */
  name: string;
  /** Absolute path of the gadget folder. */
  dir: string;
  /** Normalized image reference to tag, if any. */
  tag?: string;
  /** Absolute path of the eBPF source (may not exist: wasm-only gadgets). */
  ebpfSource: string;
  /** Absolute path of gadget.yaml (may not exist). */
  metadata: string;
  /** Absolute path of a wasm module or source (.wasm, .go, .rs, .c), if any. */
  wasm?: string;
  /** Extra clang arguments (argv, never a shell string). */
  cflags: string[];
  archs: Arch[];
  /** Free-form settings from the gadgetfile or build.yaml, for custom stages. */
  settings: Record<string, unknown>;
}

/**
 * What a step's cache key is made of, declared before it runs (DESIGN §7): files it reads,
 * tools it runs (path + `--version` are hashed, or the outputs of a ToolProbe), arguments,
 * environment variable names, and artifacts of earlier steps it consumes.
 */
export interface StageInputs {
  files?: string[];
  tools?: (string | ToolProbe)[];
  args?: unknown;
  env?: string[];
  artifacts?: string[];
}

/**
 * A tool whose identity is not its `--version` output: the outputs of `probe` (argv lists, the
 * tool itself left out) identify it — Go: `[["version"], ["env", "GOVERSION", "GOOS", "GOARCH"]]`.
 * Like `--version`, the probes run once per binary (path, size, mtime, inode) and are remembered
 * in the cache, so a no-op run spawns nothing.
 */
export interface ToolProbe {
  tool: string;
  probe: string[][];
}

export interface StageContext<Options = Record<string, unknown>> {
  /** This step's options, from the gadgetfile step (or the recipe). */
  options: Options;
  gadget: GadgetInfo;
  /** Set for per-architecture stages. */
  arch?: Arch;
  /** The gadget folder. */
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  signal: AbortSignal;
  /** An empty directory for this step's outputs. */
  outDir: string;
  /**
   * Outputs of earlier steps of the same gadget. A per-arch step sees its own arch's outputs
   * under their plain names (e.g. "object") plus arch-independent ones; a per-gadget step sees
   * per-arch outputs as `<name>@<arch>` (e.g. "ebpf@amd64") plus arch-independent ones.
   */
  artifacts: ReadonlyMap<string, Artifact>;
  /** Annotations collected from earlier steps (custom stages may add more; oci-pack applies them). */
  annotations: Readonly<Record<string, string>>;
  /** Run a tool without a shell. Throws ToolError (a ProcessOutput) on non-zero exit unless nothrow. */
  exec(file: string, args: string[], opts?: ExecOptions): Promise<ProcessOutput>;
  /** A zx-style `$` bound to cwd, env and signal, without a shell: the template is split into argv and each value stays one argument, so nothing is ever interpolated into a shell string. */
  $: (pieces: TemplateStringsArray, ...values: unknown[]) => Promise<ProcessOutput>;
  /** The local OCI store (for oci-pack, store-tag and publish stages). */
  store(): Promise<import("./store/layout-store.js").LayoutStore>;
}

export interface StageResult {
  /** Named outputs: a path inside outDir (the engine hashes and caches it). */
  artifacts?: Record<string, string>;
  /** Annotations for oci-pack. */
  annotations?: Record<string, string>;
  /** Files the step turned out to read (e.g. headers from clang's -MD depfile): part of the next cache key and watched. */
  discoveredInputs?: string[];
  /** Something to report (e.g. the built image's digest and reference). */
  result?: Record<string, unknown>;
}

export interface Stage<Options = Record<string, unknown>> {
  /** Unique name, e.g. "clang", "@acme/lint". */
  name: string;
  /** Bump when the stage's behaviour changes: part of every cache key. */
  version: string;
  /** Run once per architecture (clang, strip) or once per gadget (default). */
  perArch?: boolean;
  /** Cached by inputs (default true). Publish stages (store-tag, push, tar-export) set false. */
  cacheable?: boolean;
  /** Declares the cache key's parts before run. */
  inputs?(ctx: StageContext<Options>): StageInputs | Promise<StageInputs>;
  run(ctx: StageContext<Options>): Promise<StageResult | void>;
}

export function defineStage<Options = Record<string, unknown>>(stage: Stage<Options>): Stage<Options> {
  return stage;
}

// ---- gadgetfile -----------------------------------------------------------------------------

/** A step in a task: a stage name, or a stage with options. */
export type StepSpec = string | { stage: string; options?: Record<string, unknown>; archs?: Arch[] };

export interface TaskSpec {
  /** Tasks that run first. */
  deps?: string[];
  /** Stages run in order for every gadget (per-arch stages per architecture, concurrently). */
  steps?: StepSpec[];
  description?: string;
}

export type PublishTarget =
  | { type: "store-tag"; tag?: string }
  | { type: "push"; tag?: string; insecure?: boolean; authfile?: string }
  | { type: "tar-export"; file: string }
  | { type: "sign"; key: string; format?: "legacy" | "oci11" | "bundle" };

export interface GadgetOverrides {
  /** Image tag template: `{name}` is the gadget name, e.g. "ghcr.io/acme/{name}:dev". */
  tag?: string;
  archs?: Arch[];
  cflags?: string[];
  /** Path (relative to the gadget) of a .wasm module or a .go/.rs/.c source. */
  wasm?: string;
  ebpfsource?: string;
  metadata?: string;
  settings?: Record<string, unknown>;
}

export interface GadgetSpec extends GadgetOverrides {
  /** Folder or glob (relative to the gadgetfile). */
  path: string;
  name?: string;
}

export interface Gadgetfile {
  /** Folders or globs of gadgets, or specs with per-gadget overrides. */
  gadgets: (string | GadgetSpec)[];
  /** Defaults for every gadget. */
  defaults?: GadgetOverrides;
  /** Named tasks; `build` exists by default (clang, strip, wasm, oci-pack, store-tag). */
  tasks?: Record<string, TaskSpec>;
  /** Publish targets, run by the `publish` task after `build`. */
  publish?: PublishTarget[];
  /** Stage plugins: local files ("./stages/lint.ts") or npm packages ("@acme/gadget-lint"). */
  plugins?: string[];
}

export function defineGadgetfile(config: Gadgetfile): Gadgetfile {
  return config;
}
