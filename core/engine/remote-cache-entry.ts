/**
 * The remote step cache's entry format (docs/remote-cache.md), as pure functions: bytes in,
 * bytes and descriptors out; nothing here talks to a registry.
 *
 *   tag       `step-sha256-<key hex>` (not `sha256-<hex>`: that is the referrers tag schema and
 *             cosign's prefix)
 *   manifest  an OCI image manifest, `artifactType: application/vnd.gadget.cache.v1`,
 *             annotations `dev.gadget.cache.key` (the key) and `org.opencontainers.image.created`
 *   config    `application/vnd.gadget.cache.config.v1+json`: format version, key, stage name and
 *             version, outputs (name, digest, size), annotations, result, discovered inputs (the
 *             headers clang read, with digests) and store blobs (what oci-pack wrote into the store)
 *   layers    one per output (`…cache.output.v1`, annotation `dev.gadget.cache.output` = its name),
 *             then one per store blob that is not already an output (`…cache.store-blob.v1`, the
 *             blob's own media type in `dev.gadget.cache.media-type`)
 *
 * Small blobs (≤ 32 KiB; the config ≤ 64 KiB) are also embedded in their descriptor's `data`,
 * so a hit is one HEAD and one GET; a reader uses embedded bytes only when they match the
 * descriptor's digest. A reader rejects an entry whose annotation or config names another key.
 *
 * Signatures use cosign's legacy layout: a `sha256-<manifest hex>.sig` tag holding a
 * simple-signing payload over the manifest digest whose `optional` names the key.
 */
import { sha256, isDigest, type Digest } from "../oci/digest.js";
import { MediaType } from "../oci/media-types.js";
import type { Descriptor } from "../oci/model.js";
import { simpleSigningPayload, parseSimpleSigning } from "../sign/payload.js";
import { COSIGN_SIGNATURE_TYPE } from "../sign/constants.js";

export const CACHE_ARTIFACT_TYPE = "application/vnd.gadget.cache.v1";
export const CACHE_CONFIG_TYPE = "application/vnd.gadget.cache.config.v1+json";
export const CACHE_OUTPUT_TYPE = "application/vnd.gadget.cache.output.v1";
export const CACHE_STORE_BLOB_TYPE = "application/vnd.gadget.cache.store-blob.v1";
export const KEY_ANNOTATION = "dev.gadget.cache.key";
export const OUTPUT_ANNOTATION = "dev.gadget.cache.output";
export const MEDIA_TYPE_ANNOTATION = "dev.gadget.cache.media-type";
export const CREATED_ANNOTATION = "org.opencontainers.image.created";
export const FORMAT_VERSION = 1;
/** Blobs up to this size are embedded in their descriptor. */
export const INLINE_MAX = 32 * 1024;
export const INLINE_CONFIG_MAX = 64 * 1024;
/** At most this many embedded bytes per manifest (registries cap manifests at 4 MiB). */
export const INLINE_BUDGET = 1024 * 1024;
export const TAG_PREFIX = "step-sha256-";

export interface EntryOutput {
  name: string;
  digest: Digest;
  size: number;
}

export interface EntryStoreBlob {
  mediaType: string;
  digest: Digest;
  size: number;
}

/** What an entry says about a step (the config's content). */
export interface EntryConfig {
  v: typeof FORMAT_VERSION;
  key: string;
  stage: { name: string; version: string };
  outputs: EntryOutput[];
  annotations: Record<string, string>;
  result?: Record<string, unknown>;
  /** Discovered inputs (relative to the project when inside it) → sha256 hex digest. */
  discovered: Record<string, string>;
  /** Blobs the step wrote into the local store, in the order it wrote them. */
  storeBlobs: EntryStoreBlob[];
}

export interface EncodedEntry {
  tag: string;
  manifest: { descriptor: Descriptor; bytes: Buffer };
  config: { descriptor: Descriptor; bytes: Buffer };
  /** Every layer (outputs, then store blobs), without the embedded data. */
  layers: Descriptor[];
}

/** An entry that cannot be used: `another-key` (swapped under another key's tag) or `corrupt`. */
export class EntryRejected extends Error {
  constructor(
    readonly kind: "another-key" | "corrupt",
    message: string,
  ) {
    super(message);
  }
}

export function isKey(key: string): boolean {
  return /^[a-f0-9]{64}$/.test(key);
}

/** The tag an entry is found under: `step-sha256-<key>` (76 characters, valid tag grammar). */
export function entryTag(key: string): string {
  if (!isKey(key)) throw new Error(`not a step key: ${key}`);
  return `${TAG_PREFIX}${key}`;
}

/** The key a tag names, or undefined for other tags. */
export function keyOfTag(tag: string): string | undefined {
  if (!tag.startsWith(TAG_PREFIX)) return undefined;
  const k = tag.slice(TAG_PREFIX.length);
  return isKey(k) ? k : undefined;
}

function descriptor(mediaType: string, bytes: Uint8Array, annotations?: Record<string, string>): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength, ...(annotations ? { annotations } : {}) };
}

/**
 * The entry's manifest and config. `content` gives the bytes of small blobs to embed (others may
 * be missing from it); `inline: false` embeds nothing.
 */
export function encodeEntry(cfg: EntryConfig, o: { created: string; content?: ReadonlyMap<string, Uint8Array>; inline?: boolean }): EncodedEntry {
  const inline = o.inline !== false;
  const configBytes = Buffer.from(JSON.stringify(cfg), "utf8");
  const config = descriptor(CACHE_CONFIG_TYPE, configBytes);
  let budget = INLINE_BUDGET;
  const embed = (d: Descriptor, bytes: Uint8Array | undefined, max: number): Descriptor => {
    if (!inline || !bytes || d.size > max || d.size > budget || bytes.byteLength !== d.size) return d;
    budget -= d.size;
    return { ...d, data: Buffer.from(bytes).toString("base64") };
  };
  const layers: Descriptor[] = [];
  const seen = new Set<string>();
  for (const out of cfg.outputs) {
    layers.push({ mediaType: CACHE_OUTPUT_TYPE, digest: out.digest, size: out.size, annotations: { [OUTPUT_ANNOTATION]: out.name } });
    seen.add(out.digest);
  }
  for (const b of cfg.storeBlobs) {
    if (seen.has(b.digest)) continue;
    seen.add(b.digest);
    layers.push({ mediaType: CACHE_STORE_BLOB_TYPE, digest: b.digest, size: b.size, annotations: { [MEDIA_TYPE_ANNOTATION]: b.mediaType } });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: embed(config, configBytes, INLINE_CONFIG_MAX),
    layers: layers.map((l) => embed(l, o.content?.get(l.digest), INLINE_MAX)),
    annotations: { [KEY_ANNOTATION]: cfg.key, [CREATED_ANNOTATION]: o.created },
  };
  const bytes = Buffer.from(JSON.stringify(manifest), "utf8");
  return { tag: entryTag(cfg.key), manifest: { descriptor: descriptor(MediaType.ImageManifest, bytes), bytes }, config: { descriptor: config, bytes: configBytes }, layers };
}

export interface DecodedManifest {
  key: string;
  created?: string;
  config: Descriptor;
  layers: Descriptor[];
}

function corrupt(why: string): EntryRejected {
  return new EntryRejected("corrupt", why);
}

function checkDescriptor(d: unknown, where: string): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (!o || typeof o !== "object" || typeof o.mediaType !== "string" || !isDigest(o.digest) || !Number.isSafeInteger(o.size) || (o.size as number) < 0) throw corrupt(`${where} is not a descriptor`);
  if (o.data !== undefined && typeof o.data !== "string") throw corrupt(`${where}.data is not base64`);
  return o as Descriptor;
}

/** Parse an entry manifest and check it is the entry of `key`. */
export function decodeManifest(bytes: Uint8Array, key: string): DecodedManifest {
  let m: { artifactType?: unknown; config?: unknown; layers?: unknown; annotations?: Record<string, unknown> };
  try {
    m = JSON.parse(Buffer.from(bytes).toString("utf8")) as typeof m;
  } catch {
    throw corrupt("the manifest is not JSON");
  }
  if (!m || typeof m !== "object" || m.artifactType !== CACHE_ARTIFACT_TYPE) throw corrupt("not a gadget cache entry");
  const named = m.annotations?.[KEY_ANNOTATION];
  if (named !== key) throw new EntryRejected("another-key", `the entry names key ${typeof named === "string" ? named : "(none)"}`);
  const config = checkDescriptor(m.config, "config");
  if (config.mediaType !== CACHE_CONFIG_TYPE) throw corrupt("unexpected config media type");
  if (!Array.isArray(m.layers)) throw corrupt("no layers");
  const layers = m.layers.map((l, i) => checkDescriptor(l, `layers[${i}]`));
  const created = m.annotations?.[CREATED_ANNOTATION];
  return { key, config, layers, ...(typeof created === "string" ? { created } : {}) };
}

/** The embedded bytes of a descriptor, only when they match its digest and size. */
export function embeddedBytes(d: Descriptor): Buffer | undefined {
  if (typeof d.data !== "string") return undefined;
  const b = Buffer.from(d.data, "base64");
  if (b.byteLength !== d.size || sha256(b) !== d.digest) return undefined;
  return b;
}

/** Whether a descriptor embeds data that does not match its digest (a tampered entry). */
export function hasBadEmbedding(d: Descriptor): boolean {
  return typeof d.data === "string" && embeddedBytes(d) === undefined;
}

function isRecordOfStrings(v: unknown): v is Record<string, string> {
  return !!v && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string");
}

/** Parse and check an entry's config: it must be for `key`, and name exactly the manifest's layers. */
export function decodeConfig(bytes: Uint8Array, key: string, layers: readonly Descriptor[]): EntryConfig {
  let c: Partial<EntryConfig>;
  try {
    c = JSON.parse(Buffer.from(bytes).toString("utf8")) as Partial<EntryConfig>;
  } catch {
    throw corrupt("the config is not JSON");
  }
  if (!c || typeof c !== "object" || c.v !== FORMAT_VERSION) throw corrupt("unknown entry format version");
  if (c.key !== key) throw new EntryRejected("another-key", `the entry's config names key ${String(c.key)}`);
  if (!c.stage || typeof c.stage.name !== "string" || typeof c.stage.version !== "string") throw corrupt("config: no stage");
  if (!Array.isArray(c.outputs) || !Array.isArray(c.storeBlobs)) throw corrupt("config: no outputs");
  if (!isRecordOfStrings(c.annotations) || !isRecordOfStrings(c.discovered)) throw corrupt("config: bad annotations or discovered inputs");
  if (c.result !== undefined && (typeof c.result !== "object" || c.result === null)) throw corrupt("config: bad result");
  const byDigest = new Map(layers.map((l) => [l.digest, l]));
  for (const o of c.outputs) {
    if (!o || typeof o.name !== "string" || !isDigest(o.digest) || byDigest.get(o.digest)?.size !== o.size) throw corrupt(`config: output ${String(o?.name)} is not a layer`);
  }
  for (const b of c.storeBlobs) {
    if (!b || typeof b.mediaType !== "string" || !isDigest(b.digest) || byDigest.get(b.digest)?.size !== b.size) throw corrupt("config: a store blob is not a layer");
  }
  return c as EntryConfig;
}

/** The simple-signing payload a cache writer signs: the manifest digest, with the key in `optional`. */
export function signaturePayload(dockerReference: string, manifestDigest: Digest, key: string): Buffer {
  return simpleSigningPayload(dockerReference, manifestDigest, { [KEY_ANNOTATION]: key });
}

/** Whether a (verified) signature payload binds this manifest digest to this key. */
export function checkSignaturePayload(payload: Uint8Array, manifestDigest: Digest, key: string): boolean {
  try {
    const p = parseSimpleSigning(payload);
    return p.type === COSIGN_SIGNATURE_TYPE && p.digest === manifestDigest && p.optional?.[KEY_ANNOTATION] === key;
  } catch {
    return false;
  }
}

/** RFC 3339, seconds. */
export function rfc3339(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
