/**
 * The ig recipe: `ig image build PATH` as gadget steps. build.yaml is read with ig's rules
 * (cmd/common/image/build.go): keys `ebpfsource` (default program.bpf.c), `metadata` (default
 * gadget.yaml), `wasm`, plus `cflags` (ours: extra clang argv, a list or a whitespace-separated
 * string, never given to a shell). A missing default source is fine when something else is
 * there; a missing custom path is an error; paths starting with `-` or `@` are rejected.
 */
import { stat, readdir } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import type { Arch, GadgetInfo, StepSpec } from "../core/types.js";
import type { GadgetErrorInit } from "../core/index.js";

const ALL_ARCHS: readonly Arch[] = ["amd64", "arm64"];

/** The library and YAML are loaded only when needed (errors, a build.yaml), keeping the path to clang short. */
const api = () => import("../core/index.js");
async function err(init: GadgetErrorInit): Promise<Error> {
  return new (await api()).GadgetError(init);
}

export const DEFAULT_EBPF_SOURCE = "program.bpf.c";
export const DEFAULT_METADATA = "gadget.yaml";
export const DEFAULT_BUILD_FILE = "build.yaml";
export const BUILD_KEYS = ["ebpfsource", "metadata", "wasm", "cflags"] as const;

export interface IgStepOptions {
  /** Generate minimal BTF (needs btfhubArchive). */
  btfgen?: boolean;
  btfhubArchive?: string;
  /** Check gadget.yaml against the program's BTF (default true). */
  validateMetadata?: boolean;
  /** Create or extend gadget.yaml from the program. */
  updateMetadata?: boolean;
  /** io.inspektor-gadget.builder.version (default: see oci-pack). */
  builderVersion?: string;
}

/** ig's local pipeline: clang + llvm-strip per arch (concurrently), wasm, btfgen, pack, tag. */
export function igSteps(opts: IgStepOptions = {}): StepSpec[] {
  const steps: StepSpec[] = [
    { stage: "clang", options: {} },
    { stage: "strip", options: {} },
    { stage: "wasm", options: {} },
  ];
  if (opts.btfgen) steps.push({ stage: "btfgen", options: { enabled: true, archive: opts.btfhubArchive } });
  // validateMetadata unset: the gadget's setting (gadgetfile defaults.validateMetadata), else on
  steps.push({ stage: "oci-pack", options: { ...(opts.validateMetadata !== undefined ? { validateMetadata: opts.validateMetadata } : {}), updateMetadata: opts.updateMetadata ?? false, ...(opts.builderVersion !== undefined ? { builderVersion: opts.builderVersion } : {}) } });
  steps.push({ stage: "store-tag", options: {} });
  return steps;
}

export interface BuildYaml {
  ebpfsource?: string;
  metadata?: string;
  wasm?: string;
  cflags?: string[];
}

export interface GadgetFromBuildYamlOptions {
  /** ig's -f: a build file path (relative to cwd); when given it must exist. */
  file?: string;
  /** Image name to tag (normalized as ig does). */
  tag?: string;
  archs?: Arch[];
  /** Directory -f and PATH are relative to (default process.cwd()). */
  cwd?: string;
  /** --update-metadata: a missing custom metadata path is then created, not an error. */
  updateMetadata?: boolean;
}

async function rejectFlagLike(value: string, which: string): Promise<void> {
  const v = value.trim();
  if (v.startsWith("-")) throw await err({ what: "wrong build option", which, why: `flags are not accepted: ${JSON.stringify(value)}`, hint: "give a path (prefix it with ./ if it really starts with -)" });
  if (v.startsWith("@")) throw await err({ what: "wrong build option", which, why: `response files are not accepted: ${JSON.stringify(value)}`, hint: "give a path (prefix it with ./ if it really starts with @)" });
}

/** build.yaml is small: anything larger (or endless, like -f /dev/zero) is refused after this many bytes. */
const MAX_BUILD_FILE_BYTES = 1024 * 1024;

async function readBuildFile(path: string, which: string): Promise<string> {
  const { readFileCapped } = await import("../core/stage-api.js");
  const text = (await readFileCapped(path, MAX_BUILD_FILE_BYTES))?.toString("utf8");
  if (text === undefined) throw await err({ what: "reading build file", which, why: `larger than the ${MAX_BUILD_FILE_BYTES}-byte limit for a build file`, code: "BAD_BUILD_FILE" });
  return text;
}

async function fullYaml(text: string, which: string): Promise<unknown> {
  const { parseYaml } = await import("../core/yaml.js");
  return parseYaml(text, which, "BAD_BUILD_FILE");
}

// A plain scalar the YAML core schema reads as this very string: no indicators, quotes, comments,
// `: `, and not null/bool/number.
const PLAIN = /^[A-Za-z0-9_./+=,@-](?:[A-Za-z0-9_./+=,@ -]*[A-Za-z0-9_./+=,@-])?$/;
const NOT_STRING = /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?(?:\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+)$/;

function scalar(v: string): string | undefined {
  if (PLAIN.test(v) && !NOT_STRING.test(v) && !v.startsWith("-") && !v.startsWith("@") && !v.includes(" #")) return v;
  const q = /^"([^"\\]*)"$/.exec(v) ?? /^'([^']*)'$/.exec(v);
  return q ? q[1] : undefined;
}

/**
 * The common shape of build.yaml — `key: value` lines and `key: [a, b]` flow lists of simple
 * strings, comments, blank lines — read without loading the YAML library (it costs tens of
 * milliseconds before clang can start). Anything else returns undefined and goes to the full
 * parser, so the result is always what the YAML library would give.
 */
export function simpleYamlMap(text: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const rawLine of text.split("\n")) {
    const line = rawLine.replace(/\r$/, "");
    if (/^\s*(#.*)?$/.test(line)) continue;
    const m = /^([a-z][a-z0-9_]*):(?: +(.*?))? *(?: #.*)?$/.exec(line);
    if (!m) return undefined;
    const [, key, value = ""] = m as unknown as [string, string, string | undefined];
    if (key in out || value === "") return undefined;
    if (value.startsWith("[")) {
      const inner = /^\[(.*)\]$/.exec(value);
      if (!inner) return undefined;
      const body = inner[1]!.trim();
      const items = body === "" ? [] : body.split(",").map((x) => x.trim());
      const vals: string[] = [];
      for (const it of items) {
        const v = /^-[A-Za-z0-9_./=+-]*$/.test(it) && !NOT_STRING.test(it) ? it : scalar(it);
        if (v === undefined) return undefined;
        vals.push(v);
      }
      out[key] = vals;
    } else {
      const v = scalar(value);
      if (v === undefined) return undefined;
      out[key] = v;
    }
  }
  return out;
}

/** Parse build.yaml text (pure). Unknown keys → warnings. */
export async function parseBuildYaml(text: string, which = DEFAULT_BUILD_FILE): Promise<{ conf: BuildYaml; warnings: string[] }> {
  const conf: BuildYaml = {};
  const warnings: string[] = [];
  if (text.trim() === "") return { conf, warnings };
  const raw = simpleYamlMap(text) ?? (await fullYaml(text, which));
  if (raw === null || raw === undefined) return { conf, warnings };
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw await err({ what: "invalid build file", which, why: "expected a YAML map with ebpfsource, metadata, wasm, cflags", code: "BAD_BUILD_FILE" });
  }
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !(BUILD_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) warnings.push(`${which}: unknown key${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (ignored; known keys: ${BUILD_KEYS.join(", ")})`);
  for (const k of ["ebpfsource", "metadata", "wasm"] as const) {
    const v = obj[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") throw await err({ what: "invalid build file", which: `${which}: ${k}`, why: `expected a path string, got ${Array.isArray(v) ? "a list" : typeof v}`, code: "BAD_BUILD_FILE" });
    conf[k] = v;
  }
  const cf = obj.cflags;
  if (cf !== undefined && cf !== null) {
    if (typeof cf === "string") conf.cflags = cf.split(/\s+/).filter(Boolean);
    else if (Array.isArray(cf) && cf.every((x) => typeof x === "string" || typeof x === "number")) conf.cflags = cf.map(String);
    else throw await err({ what: "invalid build file", which: `${which}: cflags`, why: "expected a list of strings (or one string)", code: "BAD_BUILD_FILE" });
  }
  return { conf, warnings };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function hasGoFiles(dir: string): Promise<boolean> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.some((e) => e.isFile() && e.name.endsWith(".go"));
  } catch {
    return false;
  }
}

/** Resolve a gadget folder + build.yaml into GadgetInfo with ig's default-path rules. */
export async function gadgetFromBuildYaml(dir: string, opts: GadgetFromBuildYamlOptions = {}): Promise<{ gadget: GadgetInfo; warnings: string[] }> {
  const cwd = opts.cwd ?? process.cwd();
  const gadgetDir = resolve(cwd, dir);
  let st;
  try {
    st = await stat(gadgetDir);
  } catch {
    throw await err({ what: "gadget folder not found", which: dir, why: "no such file or directory", code: "NOT_FOUND" });
  }
  if (!st.isDirectory()) throw await err({ what: "not a gadget folder", which: dir, why: "not a directory", hint: "pass the folder that holds program.bpf.c and gadget.yaml" });

  let text = "";
  let which = join(dir, DEFAULT_BUILD_FILE);
  let buildFile: string | undefined;
  if (opts.file !== undefined) {
    await rejectFlagLike(opts.file, "--file");
    buildFile = resolve(cwd, opts.file);
    which = opts.file;
    try {
      text = await readBuildFile(buildFile, opts.file);
    } catch (e) {
      if (e instanceof Error && "what" in e) throw e;
      throw await err({ what: "reading build file", which: opts.file, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message });
    }
  } else {
    const p = join(gadgetDir, DEFAULT_BUILD_FILE);
    try {
      text = await readBuildFile(p, which);
      buildFile = p;
    } catch (e) {
      if (e instanceof Error && "what" in e) throw e;
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw await err({ what: "reading build file", which, why: (e as Error).message });
    }
  }
  const { conf, warnings } = await parseBuildYaml(text, which);

  const ebpfRel = conf.ebpfsource ?? DEFAULT_EBPF_SOURCE;
  const metaRel = conf.metadata ?? DEFAULT_METADATA;
  await rejectFlagLike(ebpfRel, `${which}: ebpfsource`);
  await rejectFlagLike(metaRel, `${which}: metadata`);
  if (conf.wasm !== undefined) await rejectFlagLike(conf.wasm, `${which}: wasm`);

  const abs = (p: string) => (isAbsolute(p) ? p : join(gadgetDir, p));
  const ebpfSource = abs(ebpfRel);
  const metadata = abs(metaRel);
  const hasEbpf = await exists(ebpfSource);
  if (!hasEbpf && conf.ebpfsource !== undefined && conf.ebpfsource !== DEFAULT_EBPF_SOURCE) {
    throw await err({ what: "source file not found", which: `${which}: ebpfsource`, why: `${JSON.stringify(conf.ebpfsource)} does not exist in ${dir}` });
  }
  const hasMetadata = await exists(metadata);
  if (!hasMetadata && conf.metadata !== undefined && conf.metadata !== DEFAULT_METADATA && !opts.updateMetadata) {
    throw await err({ what: "metadata file not found", which: `${which}: metadata`, why: `${JSON.stringify(conf.metadata)} does not exist in ${dir}`, hint: "fix the path, or pass --update-metadata to create it" });
  }
  let wasm: string | undefined;
  if (conf.wasm !== undefined && conf.wasm !== "") {
    wasm = abs(conf.wasm);
    if (!(await exists(wasm))) throw await err({ what: "wasm file not found", which: `${which}: wasm`, why: `${JSON.stringify(conf.wasm)} does not exist in ${dir}` });
  }
  if (!hasEbpf && !hasMetadata && !wasm && !(await hasGoFiles(join(gadgetDir, "go")))) {
    throw await err({
      what: "not a gadget folder",
      which: dir,
      why: "at least one of ebpf source (program.bpf.c), metadata (gadget.yaml), .go files (present in go folder) or wasm module is required",
      hint: "run `gadget init` to scaffold one",
    });
  }

  let tag: string | undefined;
  if (opts.tag !== undefined && opts.tag !== "") tag = looksNormalized(opts.tag) ? opts.tag : (await api()).normalizeReference(opts.tag);

  const gadget: GadgetInfo = {
    name: basename(gadgetDir),
    dir: gadgetDir,
    ebpfSource,
    metadata,
    cflags: conf.cflags ?? [],
    archs: opts.archs && opts.archs.length > 0 ? ALL_ARCHS.filter((a) => opts.archs!.includes(a)) : [...ALL_ARCHS],
    settings: {
      // ig: a missing default program.bpf.c means "no eBPF program" (wasm- or metadata-only gadget)
      ebpf: hasEbpf,
      // the build file read (absolute), for stages that want it
      ...(buildFile ? { buildFile } : {}),
    },
  };
  if (tag) gadget.tag = tag;
  if (wasm) gadget.wasm = wasm;
  return { gadget, warnings };
}

/** Already in ig's canonical form (registry/repository:tag, lowercase): nothing to normalize. */
function looksNormalized(tag: string): boolean {
  return /^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+)(:\d+)?\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[\w][\w.-]{0,127}$/.test(tag);
}

/** Validate `--arch` values. */
export async function parseArchs(values: string[]): Promise<Arch[]> {
  const out: Arch[] = [];
  for (const v of values) {
    const a = v.trim();
    if (a !== "amd64" && a !== "arm64") throw await err({ what: "unsupported architecture", which: "--arch", why: JSON.stringify(a), hint: "use amd64, arm64 or amd64,arm64", exitCode: 2, code: "USAGE" });
    if (!out.includes(a)) out.push(a);
  }
  return out;
}
