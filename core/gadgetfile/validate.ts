/**
 * Run-time validation of a gadgetfile (type checks are skipped when it is transpiled): unknown
 * keys and wrong types are errors naming the key path and the file:line where it is written.
 */
import { GadgetError } from "../errors.js";
import type { Gadgetfile } from "../types.js";

type Schema =
  | { kind: "string" }
  | { kind: "boolean" }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "array"; of: Schema }
  | { kind: "record"; of: Schema }
  | { kind: "object"; fields: Record<string, Schema>; required?: string[] }
  | { kind: "json-object" }
  | { kind: "union"; name: string; test: (v: unknown) => Schema | string };

const str: Schema = { kind: "string" };
const strs: Schema = { kind: "array", of: str };
const archs: Schema = { kind: "array", of: { kind: "enum", values: ["amd64", "arm64"] } };

const overrideFields: Record<string, Schema> = {
  tag: str,
  archs,
  cflags: strs,
  wasm: str,
  ebpfsource: str,
  metadata: str,
  settings: { kind: "json-object" },
};

const gadgetSpec: Schema = { kind: "object", fields: { path: str, name: str, ...overrideFields }, required: ["path"] };

const stepObject: Schema = { kind: "object", fields: { stage: str, options: { kind: "json-object" }, archs }, required: ["stage"] };

const publishSchemas: Record<string, Schema> = {
  "store-tag": { kind: "object", fields: { type: str, tag: str }, required: ["type"] },
  push: { kind: "object", fields: { type: str, tag: str, insecure: { kind: "boolean" }, authfile: str }, required: ["type"] },
  "tar-export": { kind: "object", fields: { type: str, file: str }, required: ["type", "file"] },
  sign: { kind: "object", fields: { type: str, key: str, format: { kind: "enum", values: ["legacy", "oci11", "bundle"] } }, required: ["type", "key"] },
};

export const GADGETFILE_SCHEMA: Schema = {
  kind: "object",
  required: ["gadgets"],
  fields: {
    gadgets: { kind: "array", of: { kind: "union", name: "a folder/glob string or { path, … }", test: (v) => (typeof v === "string" ? str : gadgetSpec) } },
    defaults: { kind: "object", fields: overrideFields },
    tasks: { kind: "record", of: { kind: "object", fields: { deps: strs, steps: { kind: "array", of: { kind: "union", name: "a stage name or { stage, options, archs }", test: (v) => (typeof v === "string" ? str : stepObject) } }, description: str } } },
    publish: {
      kind: "array",
      of: {
        kind: "union",
        name: "{ type: store-tag | push | tar-export | sign, … }",
        test: (v) => {
          const t = (v as { type?: unknown } | null)?.type;
          if (typeof t === "string" && publishSchemas[t]) return publishSchemas[t]!;
          return `type must be one of ${Object.keys(publishSchemas).join(", ")}${t === undefined ? "" : `, got ${JSON.stringify(t)}`}`;
        },
      },
    },
    plugins: strs,
  },
};

export type KeyPath = (string | number)[];

export function formatKeyPath(path: KeyPath): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s ? `.${p}` : p;
  return s || "(root)";
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

export interface Problem {
  path: KeyPath;
  message: string;
}

/** The first problem found (depth-first, in key order), or undefined. */
export function checkSchema(value: unknown, schema: Schema, path: KeyPath = []): Problem | undefined {
  switch (schema.kind) {
    case "string":
      return typeof value === "string" ? undefined : { path, message: `expected a string, got ${typeName(value)}` };
    case "boolean":
      return typeof value === "boolean" ? undefined : { path, message: `expected true or false, got ${typeName(value)}` };
    case "enum":
      return typeof value === "string" && schema.values.includes(value) ? undefined : { path, message: `expected one of ${schema.values.join(", ")}, got ${JSON.stringify(value)}` };
    case "array": {
      if (!Array.isArray(value)) return { path, message: `expected an array, got ${typeName(value)}` };
      for (let i = 0; i < value.length; i++) {
        const p = checkSchema(value[i], schema.of, [...path, i]);
        if (p) return p;
      }
      return undefined;
    }
    case "json-object":
      return value !== null && typeof value === "object" && !Array.isArray(value) ? undefined : { path, message: `expected an object, got ${typeName(value)}` };
    case "record": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return { path, message: `expected an object, got ${typeName(value)}` };
      for (const [k, v] of Object.entries(value)) {
        const p = checkSchema(v, schema.of, [...path, k]);
        if (p) return p;
      }
      return undefined;
    }
    case "object": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return { path, message: `expected an object, got ${typeName(value)}` };
      const obj = value as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!(k in schema.fields)) return { path: [...path, k], message: `unknown key ${JSON.stringify(k)} (known keys: ${Object.keys(schema.fields).join(", ")})` };
      }
      for (const r of schema.required ?? []) if (obj[r] === undefined) return { path: [...path, r], message: `missing required key ${JSON.stringify(r)}` };
      for (const [k, s] of Object.entries(schema.fields)) {
        if (obj[k] === undefined) continue;
        const p = checkSchema(obj[k], s, [...path, k]);
        if (p) return p;
      }
      return undefined;
    }
    case "union": {
      const s = schema.test(value);
      if (typeof s === "string") return { path, message: s };
      if (value === null || (typeof value !== "string" && typeof value !== "object")) return { path, message: `expected ${schema.name}, got ${typeName(value)}` };
      return checkSchema(value, s, path);
    }
  }
}

/**
 * The line (1-based) where a key path is written in the source: each key is searched after the
 * previous one (a heuristic that fits object literals; falls back to the last key found).
 */
export function locateKeyPath(source: string, path: KeyPath): { line: number; column: number } | undefined {
  let pos = -1;
  let anchored = source.search(/defineGadgetfile\s*\(|export\s+default/);
  if (anchored < 0) anchored = 0;
  let from = anchored;
  for (const seg of path) {
    if (typeof seg === "number") continue;
    const re = new RegExp(`(^|[\\s{,(])(["'\`]?)${seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\2\\s*:`, "gm");
    re.lastIndex = from;
    const m = re.exec(source);
    if (!m) break;
    pos = m.index + m[1]!.length;
    from = pos + 1;
  }
  if (pos < 0) pos = anchored;
  const before = source.slice(0, pos);
  const line = before.split("\n").length;
  const column = pos - before.lastIndexOf("\n");
  return { line, column };
}

export function gadgetfileError(file: string, source: string | undefined, path: KeyPath, why: string, hint?: string, code = "GADGETFILE_INVALID"): GadgetError {
  const loc = source !== undefined ? locateKeyPath(source, path) : undefined;
  const at = loc ? `${file}:${loc.line}` : file;
  return new GadgetError({ what: "invalid gadgetfile", which: `${at}: ${formatKeyPath(path)}`, why, hint, code });
}

/** Validate a loaded default export; throws a GadgetError with file:line and the key path. */
export function validateGadgetfile(value: unknown, file: string, source?: string): Gadgetfile {
  if (value === undefined) {
    throw new GadgetError({ what: "invalid gadgetfile", which: file, why: "no default export", hint: "end the file with: export default defineGadgetfile({ gadgets: [...] })", code: "GADGETFILE_INVALID" });
  }
  const p = checkSchema(value, GADGETFILE_SCHEMA);
  if (p) throw gadgetfileError(file, source, p.path, p.message);
  return value as Gadgetfile;
}
