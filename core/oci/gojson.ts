/**
 * A JSON writer whose bytes equal Go's encoding/json for the OCI image-spec structs, so our
 * digests equal ig's (DESIGN §4): compact, no trailing newline, struct field order, map keys
 * sorted, omitempty honoured, and Go's string escaping (`<`, `>`, `&`, U+2028/9 as \uXXXX).
 */
import type { Annotations, Descriptor, Index, Manifest, Platform } from "./model.js";

const SAFE = /^[\x20-\x7e]*$/;
const NEEDS_ESCAPE = /["\\<>&]/;

/** Go's encodeState.string with escapeHTML=true. */
export function goString(s: string): string {
  if (SAFE.test(s) && !NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
      } else out += "\\ufffd";
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\\ufffd";
      continue;
    }
    switch (c) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += "\\\\"; continue;
      case 0x0a: out += "\\n"; continue;
      case 0x0d: out += "\\r"; continue;
      case 0x09: out += "\\t"; continue;
      case 0x08: out += "\\b"; continue;
      case 0x0c: out += "\\f"; continue;
      case 0x3c: case 0x3e: case 0x26: case 0x2028: case 0x2029:
        out += "\\u" + c.toString(16).padStart(4, "0");
        continue;
    }
    if (c < 0x20) out += "\\u00" + c.toString(16).padStart(2, "0");
    else out += s[i];
  }
  return out + '"';
}

type Field = [key: string, value: string | undefined];

function object(fields: Field[]): string {
  const parts: string[] = [];
  for (const [k, v] of fields) if (v !== undefined) parts.push(`${goString(k)}:${v}`);
  return `{${parts.join(",")}}`;
}

/** map[string]string: keys sorted by bytes (Go sorts map keys as strings). */
export function goStringMap(m: Annotations): string {
  const keys = Object.keys(m).sort(compareGoStrings);
  return `{${keys.map((k) => `${goString(k)}:${goString(m[k]!)}`).join(",")}}`;
}

/** Go compares strings bytewise (UTF-8); JS sort compares UTF-16 units. Equal for BMP-only text. */
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

const omitEmptyString = (s: string | undefined) => (s ? goString(s) : undefined);
const omitEmptyMap = (m: Annotations | undefined) => (m && Object.keys(m).length > 0 ? goStringMap(m) : undefined);
const omitEmptyList = (l: string[] | undefined) => (l && l.length > 0 ? `[${l.map(goString).join(",")}]` : undefined);

export function goPlatform(p: Platform): string {
  return object([
    ["architecture", goString(p.architecture)],
    ["os", goString(p.os)],
    ["os.version", omitEmptyString(p["os.version"])],
    ["os.features", omitEmptyList(p["os.features"])],
    ["variant", omitEmptyString(p.variant)],
  ]);
}

export function goDescriptor(d: Descriptor): string {
  return object([
    ["mediaType", goString(d.mediaType)],
    ["digest", goString(d.digest)],
    ["size", String(d.size)],
    ["urls", omitEmptyList(d.urls)],
    ["annotations", omitEmptyMap(d.annotations)],
    // []byte: canonical std base64 with padding
    ["data", d.data ? goString(Buffer.from(d.data, "base64").toString("base64")) : undefined],
    ["platform", d.platform ? goPlatform(d.platform) : undefined],
    ["artifactType", omitEmptyString(d.artifactType)],
  ]);
}

export function goManifest(m: Manifest): string {
  return object([
    ["schemaVersion", String(m.schemaVersion)],
    ["mediaType", omitEmptyString(m.mediaType)],
    ["artifactType", omitEmptyString(m.artifactType)],
    ["config", goDescriptor(m.config)],
    ["layers", `[${m.layers.map(goDescriptor).join(",")}]`],
    ["subject", m.subject ? goDescriptor(m.subject) : undefined],
    ["annotations", omitEmptyMap(m.annotations)],
  ]);
}

export function goIndex(i: Index): string {
  return object([
    ["schemaVersion", String(i.schemaVersion)],
    ["mediaType", omitEmptyString(i.mediaType)],
    ["artifactType", omitEmptyString(i.artifactType)],
    ["manifests", `[${i.manifests.map(goDescriptor).join(",")}]`],
    ["subject", i.subject ? goDescriptor(i.subject) : undefined],
    ["annotations", omitEmptyMap(i.annotations)],
  ]);
}

export const encodeManifest = (m: Manifest): Buffer => Buffer.from(goManifest(m), "utf8");
export const encodeIndex = (i: Index): Buffer => Buffer.from(goIndex(i), "utf8");
