/**
 * The public gadgetfile and stage API (DESIGN §7) — the one file of types that gadgetfile.ts
 * authors, organizations' stage plugins and gadget's own built-in stages (plugins/) all use.
 * Core never imports a plugin; plugins use only what is declared here (and exported from
 * "gadget"). Everything here is validated at run time by the engine, since type checks are
 * skipped when a gadgetfile is transpiled.
 */
import type { Digest } from "./oci/digest.js";
import type { Arch } from "./oci/pack.js";
import type { Descriptor } from "./oci/model.js";
import type { Schema } from "./schema.js";
import { recordSite } from "./gadgetfile/site.js";

export type { Arch, Digest, Descriptor };
export { t, type Schema, type Infer } from "./schema.js";
export { GadgetError, ToolError, type ErrorCode, type GadgetErrorInit } from "./errors.js";

// ---- stages ---------------------------------------------------------------------------------

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  /** A tool's own diagnostics (clang's `file:line:col: warning: …`), shown verbatim; default: warn. */
  diagnostics?(text: string): void;
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
  env?: Record<string, string | undefined>;
  input?: string | Uint8Array;
  /** Resolve instead of throwing when the process exits non-zero. */
  nothrow?: boolean;
  /** What the tool was doing, for the error line: `Error: <what> (<tool>): exit status 1` (default `<tool> failed`). */
  what?: string;
  /** A fix to print under the error (`hint: …`), or a function of the failed run's output (e.g. a missing header's package); exit 126/127 get one of their own. */
  hint?: string | ((out: ProcessOutput) => string | undefined);
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
  /** gadget.yaml is checked against the program's BTF unless false (gadgetfile `validateMetadata`; oci-pack's option wins). */
  validateMetadata?: boolean;
  /** Free-form settings from the gadgetfile or build.yaml, for custom stages. */
  settings: Record<string, unknown>;
  /** `io.inspektor-gadget.builder.version` from the gadgetfile (see oci-pack's `builderVersion`). */
  builderVersion?: string;
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

/**
 * The local OCI store as stages see it: the few operations a stage needs, not the store itself.
 * Library functions that work on a whole store (pushImage, exportImages…) take `root`.
 */
export interface StageStore {
  /** The store's folder. */
  readonly root: string;
  /** Write a blob (verified against the descriptor; a no-op when present). */
  push(desc: Descriptor, content: Uint8Array): Promise<void>;
  exists(desc: Descriptor): Promise<boolean>;
  /** A blob's bytes (manifests, indexes, configs: bounded in size). */
  fetchBytes(desc: Descriptor): Promise<Uint8Array>;
  /** The descriptor a reference is tagged with (GadgetError NOT_FOUND otherwise). */
  resolve(reference: string): Promise<Descriptor>;
  /** Tag a descriptor already in the store; annotations go on its index.json entry. */
  tag(desc: Descriptor, reference: string, annotations?: Record<string, string>): Promise<void>;
}

/** The whole run, as `setup` sees it (once per run, before the stage's first step). */
export interface RunInfo {
  /** Every gadget of the run. */
  gadgets: readonly GadgetInfo[];
  /** The gadgetfile's folder (relative paths in options are relative to it). */
  projectRoot: string;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  signal: AbortSignal;
}

export interface StageContext<Options = Record<string, unknown>, State = undefined> {
  /** This step's options (checked against the stage's `options` schema). */
  options: Options;
  gadget: GadgetInfo;
  /** Set for per-architecture stages. */
  arch?: Arch;
  /** The gadget folder. */
  cwd: string;
  /** The gadgetfile's folder: relative paths in options (files, keys) are relative to it. */
  projectRoot: string;
  env: Readonly<Record<string, string | undefined>>;
  logger: Required<Logger>;
  signal: AbortSignal;
  /** An empty directory for this step's outputs. */
  outDir: string;
  /**
   * A persistent folder of this stage, kept between runs and shared by all its steps, gadgets and
   * concurrent runs: `<cache root>/stages/<stage name>` (the cache root is `.gadget/` next to the
   * gadgetfile, or GADGET_CACHE_DIR). Not created for the stage: make it when needed. Nothing in
   * it is part of a cache key; write files atomically (temp + rename), since others may read them.
   */
  cacheDir: string;
  /**
   * Outputs of earlier steps of the same gadget. A per-arch step sees its own arch's outputs
   * under their plain names (e.g. "object") plus arch-independent ones; a per-gadget step sees
   * per-arch outputs as `<name>@<arch>` (e.g. "ebpf@amd64") plus arch-independent ones.
   */
  artifacts: ReadonlyMap<string, Artifact>;
  /** Annotations collected from earlier steps of this gadget (custom stages may add more; oci-pack applies them). */
  annotations: Readonly<Record<string, string>>;
  /** What the stage's `setup` returned for this run (per-run state; never module-level). */
  state: State;
  /**
   * Run a tool without a shell. On a non-zero exit it throws a ToolError (a ProcessOutput and a
   * GadgetError: `<what> (<tool>): exit status N`, the tool's stderr verbatim, `hint`, and the
   * first `file:line:col` diagnostic as `location`) unless `nothrow`.
   */
  exec(file: string, args: string[], opts?: ExecOptions): Promise<ProcessOutput>;
  /** A zx-style `$` bound to cwd, env and signal, without a shell: the template is split into argv and each value stays one argument, so nothing is ever interpolated into a shell string. */
  $: (pieces: TemplateStringsArray, ...values: unknown[]) => Promise<ProcessOutput>;
  /** The local OCI store (for oci-pack, store-tag and publish stages). */
  store(): Promise<StageStore>;
}

export interface StageResult<Result = Record<string, unknown>> {
  /** Named outputs (names declared in the stage's `outputs`): a path inside outDir (the engine hashes and caches it). */
  artifacts?: Record<string, string>;
  /** Annotations for oci-pack. */
  annotations?: Record<string, string>;
  /** Files the step turned out to read (e.g. headers from clang's -MD depfile): part of the next cache key and watched. */
  discoveredInputs?: string[];
  /** Something to report (e.g. the built image's digest and reference), checked against the stage's `result` schema. */
  result?: Result;
}

/**
 * A stage: a typed plugin the engine runs per gadget (or per gadget and architecture). Its
 * contract is data the engine checks: `options` (a schema; step options and publish-target keys
 * are validated against it, unknown keys are errors with the gadgetfile line), `outputs` (the
 * artifact names `run` may return), `result` (the schema of `StageResult.result`).
 */
export interface Stage<Options = any, Result = any, State = any> {
  /** Unique name, e.g. "clang", "@acme/lint". */
  name: string;
  /** Bump when the stage's behaviour changes: part of every cache key. */
  version: string;
  /** One line for `gadget run --dry` and errors. */
  description?: string;
  /** Run once per architecture (clang, strip) or once per gadget (default). */
  perArch?: boolean;
  /** Cached by inputs (default true). Publish stages (store-tag, push, tar-export) set false. */
  cacheable?: boolean;
  /** The options' schema (`t.object({...})`); without one the stage takes no options. */
  options?: Schema<Options>;
  /** Artifact names `run` may return (per architecture for perArch stages). */
  outputs?: readonly string[];
  /** The schema of `StageResult.result` (default: any plain object). */
  result?: Schema<Result>;
  /** Usable as a gadgetfile publish target: `publish: [{ type: "<name>", ...options }]`. */
  publishTarget?: boolean;
  /**
   * For publish targets: does the stage send the image off this machine (push, tar-export: true,
   * the default) or only change the local store (sign, store-tag: false)? Targets that stay local
   * run first, whatever order the gadgetfile lists them in, so signatures exist before anything
   * leaves the machine. A step that leaves the machine starts the publish phase: it runs only when
   * every gadget built (all or nothing).
   */
  leavesMachine?: boolean;
  /** Once per run, before the stage's first step: returns the run's state (`ctx.state`). */
  setup?(run: RunInfo): State | Promise<State>;
  /** Once per run, after every step (also after failures). */
  teardown?(state: State): void | Promise<void>;
  /** Declares the cache key's parts before run. */
  inputs?(ctx: StageContext<Options, State>): StageInputs | Promise<StageInputs>;
  /** The work, for one gadget (or one gadget and architecture). A stage has `run` or `runBatch`. */
  run?(ctx: StageContext<Options, State>): Promise<StageResult<Result> | void>;
  /**
   * Instead of `run`: once per run for all the gadgets that reach this step, after every gadget
   * has arrived or dropped out (failed earlier; cache hits do not take part) — one VM boot or one
   * archive for all of them. Returns one outcome per context, in order: a result, nothing, or an
   * Error that fails that gadget only. Not for perArch stages.
   */
  runBatch?(ctxs: StageContext<Options, State>[]): Promise<(StageResult<Result> | void | Error)[]>;
}

/** Define a stage; the option, result and state types are inferred from the schemas and `setup`. */
export function defineStage<Options = Record<string, never>, Result = Record<string, unknown>, State = undefined>(stage: Stage<Options, Result, State>): Stage<Options, Result, State> {
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

/**
 * A publish target: `type` names a stage that can publish (built-in: store-tag, push, tar-export,
 * sign; or a plugin's stage with `publishTarget: true`), the other keys are that stage's options,
 * checked against its schema when the gadgetfile loads. Relative paths are relative to the
 * gadgetfile's folder. E.g. `{ type: "push", tag: "ghcr.io/acme/{name}:v1" }`,
 * `{ type: "tar-export", file: "dist/gadgets.tar" }`, `{ type: "sign", key: "release.key" }`.
 */
export interface PublishTarget {
  type: string;
  [option: string]: unknown;
}

export interface GadgetOverrides {
  /** Image tag template: `{name}` is the gadget name, e.g. "ghcr.io/acme/{name}:dev". */
  tag?: string;
  archs?: Arch[];
  cflags?: string[];
  /** Path (relative to the gadget) of a .wasm module or a .go/.rs/.c source. */
  wasm?: string;
  ebpfsource?: string;
  metadata?: string;
  /** Check gadget.yaml against the program's BTF (default true; `gadget run --validate-metadata=false` overrides). */
  validateMetadata?: boolean;
  settings?: Record<string, unknown>;
  /**
   * The `io.inspektor-gadget.builder.version` annotation, e.g. "v0.41.0": ig warns when it differs
   * from its own version. Default: env GADGET_BUILDER_VERSION, else `ig version` of an ig on PATH,
   * else gadget's own version.
   */
  builderVersion?: string;
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
  /**
   * The `check` task's options (`gadget check`, `gadget run check`): `kernels` ("host" and vmlinuz
   * paths, relative to the gadgetfile), `accel` ("tcg" | "kvm"), `timeout` ("90s"). Checked
   * against the check stage's schema.
   */
  check?: Record<string, unknown>;
  /** `gadget run --watch` settings. */
  watch?: WatchSettings;
  /** The step cache's second tier in an OCI registry (docs/remote-cache.md). */
  cache?: CacheSettings;
}

/**
 * The remote step cache of a gadgetfile (docs/remote-cache.md): `--remote-cache REF` and
 * GADGET_REMOTE_CACHE override `remote`; `--remote-cache-read-only` and
 * GADGET_REMOTE_CACHE_READ_ONLY=1 make it read-only.
 */
export interface CacheSettings {
  /** A registry repository, e.g. "ghcr.io/acme/gadget-cache" ("off": no remote cache). */
  remote?: string;
  /** Only read (pull requests: no write credentials needed, nothing written). */
  readOnly?: boolean;
  /** Use only entries signed by one of these keys (PEM text or .pub paths relative to the gadgetfile). */
  publicKeys?: string[];
  /** Sign the entries this builder writes (a PEM key file relative to the gadgetfile, or env://VAR). */
  signKey?: string;
}

/** `gadget run --watch` settings of a gadgetfile. */
export interface WatchSettings {
  /**
   * Commands (re)started for each gadget after every build that changes its image, as
   * `--exec` does (the flag replaces these): `["ig run {ref}"]`. Placeholders `{ref}`,
   * `{digest}`, `{name}`, `{dir}`; no shell unless the command is `sh -c '…'`.
   */
  exec?: string[];
}

export function defineGadgetfile(config: Gadgetfile): Gadgetfile {
  return recordSite(config);
}

/**
 * A step entry, as `{ stage, options, archs }` — for helpers and recipes that make steps: an error
 * in its options (an unknown or mistyped key) names the gadgetfile line of this call.
 */
export function step(stage: string, options?: Record<string, unknown>, archs?: Arch[]): StepSpec {
  return recordSite({ stage, ...(options ? { options } : {}), ...(archs ? { archs } : {}) }, "step");
}
