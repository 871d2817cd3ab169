/**
 * The OCI content model: descriptors, manifests, indexes (image-spec v1.1), and tolerant
 * parsers that validate shape and name the offending field.
 */
import { GadgetError } from "../errors.js";
import { isDigest, type Digest } from "./digest.js";
import { EMPTY_DIGEST, MediaType, isIndexType, isManifestType } from "./media-types.js";

export type Annotations = Record<string, string>;

export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Annotations;
  /** base64 (Go's []byte encoding) */
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

/** Largest manifest/index we accept (same bound as containerd and distribution). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** The deepest nesting of indexes a copy, import or export accepts (an image is index → manifest → blobs; referrers add a level or two). */
export const MAX_GRAPH_DEPTH = 8;

/**
 * What garbage collection walks to: what the store holds is never deleted because it sits deeper
 * than copies accept (such a graph is refused when read, but its blobs stay until it is removed).
 */
export const KEEP_GRAPH_DEPTH = 1024;

type Json = unknown;

function fail(which: string, why: string): never {
  throw new GadgetError({ what: "invalid OCI content", which, why, code: "INVALID_CONTENT" });
}

function obj(v: Json, path: string): Record<string, Json> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, "expected a JSON object");
  return v as Record<string, Json>;
}

function optString(o: Record<string, Json>, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") fail(`${path}.${key}`, "expected a string");
  return v;
}

function parseAnnotations(v: Json, path: string): Annotations | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, path);
  const out: Annotations = {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== "string") fail(`${path}.${k}`, "annotation values must be strings");
    out[k] = val;
  }
  return out;
}

function parsePlatform(v: Json, path: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, path);
  const p: Platform = {
    architecture: optString(o, "architecture", path) ?? "",
    os: optString(o, "os", path) ?? "",
  };
  const osv = optString(o, "os.version", path);
  if (osv) p["os.version"] = osv;
  const feats = o["os.features"];
  if (Array.isArray(feats) && feats.length > 0) p["os.features"] = feats.map((f, i) => {
    if (typeof f !== "string") fail(`${path}.os.features[${i}]`, "expected a string");
    return f;
  });
  const variant = optString(o, "variant", path);
  if (variant) p.variant = variant;
  return p;
}

export function parseDescriptor(v: Json, path = "descriptor"): Descriptor {
  const o = obj(v, path);
  const digest = o.digest;
  if (!isDigest(digest)) fail(`${path}.digest`, `${JSON.stringify(digest)} is not a valid digest`);
  const size = o.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    fail(`${path}.size`, `${JSON.stringify(size)} is not a valid size`);
  }
  const d: Descriptor = { mediaType: optString(o, "mediaType", path) ?? "", digest, size };
  if (Array.isArray(o.urls) && o.urls.length > 0) d.urls = o.urls.map(String);
  const ann = parseAnnotations(o.annotations, `${path}.annotations`);
  if (ann && Object.keys(ann).length > 0) d.annotations = ann;
  const data = optString(o, "data", path);
  if (data) d.data = data;
  const platform = parsePlatform(o.platform, `${path}.platform`);
  if (platform) d.platform = platform;
  const at = optString(o, "artifactType", path);
  if (at) d.artifactType = at;
  return d;
}

function parseJsonBytes(bytes: Uint8Array | string, which: string): Json {
  const size = typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > MAX_MANIFEST_BYTES) fail(which, `${size} bytes is larger than the ${MAX_MANIFEST_BYTES}-byte limit`);
  const text = typeof bytes === "string" ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (e) {
    fail(which, `not valid JSON: ${(e as Error).message}`);
  }
}

function schemaVersion(o: Record<string, Json>, which: string): number {
  const sv = o.schemaVersion;
  if (sv !== 2) fail(`${which}.schemaVersion`, `expected 2, got ${JSON.stringify(sv)}`);
  return 2;
}

export function parseManifest(bytes: Uint8Array | string, which = "manifest"): Manifest {
  const o = obj(parseJsonBytes(bytes, which), which);
  const m: Manifest = {
    schemaVersion: schemaVersion(o, which),
    config: parseDescriptor(o.config, `${which}.config`),
    layers: [],
  };
  const mt = optString(o, "mediaType", which);
  if (mt) m.mediaType = mt;
  const at = optString(o, "artifactType", which);
  if (at) m.artifactType = at;
  if (o.layers !== undefined && o.layers !== null) {
    if (!Array.isArray(o.layers)) fail(`${which}.layers`, "expected an array");
    m.layers = o.layers.map((l, i) => parseDescriptor(l, `${which}.layers[${i}]`));
  }
  if (o.subject) m.subject = parseDescriptor(o.subject, `${which}.subject`);
  const ann = parseAnnotations(o.annotations, `${which}.annotations`);
  if (ann && Object.keys(ann).length > 0) m.annotations = ann;
  return m;
}

export function parseIndex(bytes: Uint8Array | string, which = "index"): Index {
  const o = obj(parseJsonBytes(bytes, which), which);
  const idx: Index = { schemaVersion: schemaVersion(o, which), manifests: [] };
  const mt = optString(o, "mediaType", which);
  if (mt) idx.mediaType = mt;
  const at = optString(o, "artifactType", which);
  if (at) idx.artifactType = at;
  // ig's and oras' stores may write "manifests":null.
  if (o.manifests !== undefined && o.manifests !== null) {
    if (!Array.isArray(o.manifests)) fail(`${which}.manifests`, "expected an array");
    idx.manifests = o.manifests.map((d, i) => parseDescriptor(d, `${which}.manifests[${i}]`));
  }
  if (o.subject) idx.subject = parseDescriptor(o.subject, `${which}.subject`);
  const ann = parseAnnotations(o.annotations, `${which}.annotations`);
  if (ann && Object.keys(ann).length > 0) idx.annotations = ann;
  return idx;
}

/** Which kind of node a descriptor points at, from its media type or (if missing) its JSON. */
export function nodeKind(mediaType: string | undefined): "index" | "manifest" | "blob" {
  if (isIndexType(mediaType)) return "index";
  if (isManifestType(mediaType)) return "manifest";
  return "blob";
}

/** Child descriptors of a manifest or index (config + layers + subject are not children of the subject). */
export function successors(kind: "index" | "manifest", bytes: Uint8Array, which: string): Descriptor[] {
  if (kind === "index") return parseIndex(bytes, which).manifests;
  const m = parseManifest(bytes, which);
  return [m.config, ...m.layers];
}

/** Sniff the kind of a JSON document whose media type is unknown (e.g. a layout entry without mediaType). */
export function sniffKind(bytes: Uint8Array): "index" | "manifest" | "blob" {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) return "blob";
  try {
    const o = JSON.parse(Buffer.from(bytes).toString("utf8")) as Record<string, unknown>;
    if (o && typeof o === "object") {
      if (typeof o.mediaType === "string") return nodeKind(o.mediaType) === "blob" ? "blob" : nodeKind(o.mediaType);
      if (Array.isArray(o.manifests)) return "index";
      if (o.config && typeof o.config === "object") return "manifest";
    }
  } catch {
    /* not JSON */
  }
  return "blob";
}

export const emptyDescriptor = (): Descriptor => ({
  mediaType: MediaType.Empty,
  digest: EMPTY_DIGEST,
  size: 2,
  data: "e30=",
});
