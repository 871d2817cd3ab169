/**
 * Go's encoding/json for plain values, as ig prints its JSON results: json.Marshal (compact, no
 * trailing newline) and json.MarshalIndent(v, "", "  "), with Go's string escaping (`<`, `>`,
 * `&`, U+2028/9 as \uXXXX). Objects keep their key order (Go structs) unless `sortKeys` is set
 * (Go maps: keys sorted bytewise).
 */
import { compareGoStrings, goString } from "./oci/gojson.js";

export interface GoJsonOptions {
  /** MarshalIndent with two spaces (ig's "jsonpretty"). */
  pretty?: boolean;
  /** Sort object keys (the value was a Go map). */
  sortKeys?: boolean;
}

export function goJson(value: unknown, opts: GoJsonOptions = {}): string {
  return encode(value, opts, "");
}

function encode(v: unknown, opts: GoJsonOptions, indent: string): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return goString(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`json: unsupported value: ${v}`);
    return JSON.stringify(v);
  }
  const inner = indent + "  ";
  const nl = opts.pretty ? "\n" : "";
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    const items = v.map((x) => (opts.pretty ? inner : "") + encode(x, opts, inner));
    return `[${nl}${items.join("," + nl)}${nl}${opts.pretty ? indent : ""}]`;
  }
  if (typeof v === "object") {
    let keys = Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
    if (opts.sortKeys) keys = keys.sort(compareGoStrings);
    if (keys.length === 0) return "{}";
    const sep = opts.pretty ? ": " : ":";
    const items = keys.map((k) => (opts.pretty ? inner : "") + goString(k) + sep + encode((v as Record<string, unknown>)[k], opts, inner));
    return `{${nl}${items.join("," + nl)}${nl}${opts.pretty ? indent : ""}}`;
  }
  throw new Error(`json: unsupported type: ${typeof v}`);
}
