/**
 * Run-time validation of a gadgetfile (type checks are skipped when it is transpiled): unknown
 * keys and wrong types are errors naming the key path and the file:line where it is written.
 */
import { GadgetError, type ErrorCode } from "../errors.js";
import type { Gadgetfile } from "../types.js";
import { checkSchema, formatKeyPath, t, type KeyPath, type Schema } from "../schema.js";

export { checkSchema, formatKeyPath, type KeyPath };

const str = t.string();
const strs = t.array(str);
const archs = t.array(t.enum(["amd64", "arm64"]));

const overrideFields = {
  tag: str,
  archs,
  cflags: strs,
  wasm: str,
  ebpfsource: str,
  metadata: str,
  validateMetadata: t.boolean(),
  settings: t.anyObject(),
  builderVersion: str,
};

const gadgetSpec = t.object({ path: t.required(str), name: str, ...overrideFields });

const stepObject = t.object({ stage: t.required(str), options: t.anyObject(), archs });

/** A publish target: `type` names a stage; its other keys are that stage's options (checked once the stages are loaded). */
const publishTarget: Schema = { kind: "object", fields: { type: t.required(str) }, open: true };

export const GADGETFILE_SCHEMA = t.object({
  gadgets: t.required(t.array(t.union("a folder/glob string or { path, … }", (v) => (typeof v === "string" ? str : gadgetSpec)))),
  defaults: t.object(overrideFields),
  tasks: t.record(t.object({ deps: strs, steps: t.array(t.union("a stage name or { stage, options, archs }", (v) => (typeof v === "string" ? str : stepObject))), description: str })),
  publish: t.array(publishTarget),
  plugins: strs,
  /** The check stage's options: their keys are checked against its schema once stages are loaded. */
  check: t.anyObject(),
  watch: t.object({ exec: strs }),
  cache: t.object({ remote: str, readOnly: t.boolean(), publicKeys: strs, signKey: str }),
});

/** Where a key path is written: a file (display path) and 1-based line and column. */
export type KeyLocation = { file: string; line: number; column: number };
/** Finds where a key path of the loaded gadgetfile is written (see load.ts: through recipes and helpers too). */
export type KeyLocator = (path: KeyPath) => KeyLocation | undefined;

/**
 * The line (1-based) where a key path is written in the source: each key is searched after the
 * previous one (a heuristic that fits object literals; falls back to the last key found), from
 * `start` (an offset: where the object was made) or else from `defineGadgetfile(`.
 */
export function locateKeyPath(source: string, path: KeyPath, start?: number): { line: number; column: number } | undefined {
  const r = findKeyPath(source, path, start);
  return { line: r.line, column: r.column };
}

/** locateKeyPath, saying whether the path's last key was found (not only a fallback position). */
export function findKeyPath(source: string, path: KeyPath, start?: number): { line: number; column: number; found: boolean } {
  let pos = -1;
  let found = false;
  let anchored = start ?? source.search(/defineGadgetfile\s*\(|export\s+default/);
  if (anchored < 0) anchored = 0;
  let from = anchored;
  for (const seg of path) {
    if (typeof seg === "number") continue;
    const re = new RegExp(`(^|[\\s{,(])(["'\`]?)${seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\2\\s*:`, "gm");
    re.lastIndex = from;
    const m = re.exec(source);
    if (!m) {
      found = false;
      break;
    }
    pos = m.index + m[1]!.length;
    from = pos + 1;
    found = true;
  }
  if (pos < 0) pos = anchored;
  const before = source.slice(0, pos);
  const line = before.split("\n").length;
  const column = pos - before.lastIndexOf("\n");
  return { line, column, found };
}

/** An error at a key of the gadgetfile: `invalid gadgetfile (<file>:<line>: <key path>): <why>`, with the location as data. */
export function gadgetfileError(file: string, source: string | KeyLocator | undefined, path: KeyPath, why: string, hint?: string, code: ErrorCode = "GADGETFILE_INVALID", what = "invalid gadgetfile"): GadgetError {
  const loc = typeof source === "function" ? source(path) : source !== undefined ? { file, ...locateKeyPath(source, path)! } : undefined;
  const at = loc ? `${loc.file}:${loc.line}` : file;
  return new GadgetError({ what, which: `${at}: ${formatKeyPath(path)}`, why, hint, code, location: loc ?? { file } });
}

/** Validate a loaded default export; throws a GadgetError with file:line and the key path. */
export function validateGadgetfile(value: unknown, file: string, source?: string | KeyLocator): Gadgetfile {
  if (value === undefined) {
    throw new GadgetError({ what: "invalid gadgetfile", which: file, why: "no default export", hint: "end the file with: export default defineGadgetfile({ gadgets: [...] })", code: "GADGETFILE_INVALID" });
  }
  const p = checkSchema(value, GADGETFILE_SCHEMA);
  if (p) throw gadgetfileError(file, source, p.path, p.message);
  return value as Gadgetfile;
}
