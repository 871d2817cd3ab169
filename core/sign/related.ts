/**
 * Where an image's signatures live in the local store, as ig and cosign keep them:
 * - `sha256-<hex>.sig` → cosign's legacy signature manifest;
 * - `sha256-<hex>` → an OCI index listing the image's referrers (the distribution-spec
 *   referrers tag schema): cosign OCI 1.1 signatures and sigstore bundles, each a manifest
 *   whose `subject` is the image.
 * Push, pull, export and import call `signatureArtifacts` so signatures travel with images.
 */
import type { Digest } from "../oci/digest.js";
import { sha256 } from "../oci/digest.js";
import { encodeIndex } from "../oci/gojson.js";
import { MediaType } from "../oci/media-types.js";
import { parseIndex, parseManifest, type Descriptor, type Index, type Manifest } from "../oci/model.js";
import { refNameOf, type LayoutStore } from "../store/layout-store.js";
import { cosignSignatureTag, referrersTag } from "./constants.js";

export interface SignatureArtifact {
  /** The bare tag name, e.g. `sha256-<hex>.sig` or `sha256-<hex>`. */
  refName: string;
  /** The tagged root: the legacy signature manifest, or the referrers index. */
  descriptor: Descriptor;
}

/** Both tag names signatures of `digest` may live under. */
export function signatureTagNames(digest: Digest): string[] {
  return [cosignSignatureTag(digest), referrersTag(digest)];
}

/**
 * The legacy `.sig` tag and the referrers tag of an image, when present in the store. Copy each
 * descriptor's graph and tag it with `refName` in the destination (same repository as the image).
 */
export async function signatureArtifacts(store: LayoutStore, indexDigest: Digest): Promise<SignatureArtifact[]> {
  const names = signatureTagNames(indexDigest);
  const out: SignatureArtifact[] = [];
  for (const e of await store.entries()) {
    const name = refNameOf(e);
    if (name !== undefined && names.includes(name)) out.push({ refName: name, descriptor: stripRefName(e) });
  }
  return out.sort((a, b) => (a.refName < b.refName ? -1 : a.refName > b.refName ? 1 : 0));
}

function stripRefName(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.artifactType) out.artifactType = d.artifactType;
  const ann = { ...(d.annotations ?? {}) };
  delete ann["org.opencontainers.image.ref.name"];
  if (Object.keys(ann).length > 0) out.annotations = ann;
  return out;
}

/** A referrers-index entry for a manifest: mediaType, digest, size, artifactType, annotations. */
export function referrerDescriptor(manifestDesc: Descriptor, manifest: Manifest): Descriptor {
  const d: Descriptor = { mediaType: manifestDesc.mediaType || MediaType.ImageManifest, digest: manifestDesc.digest, size: manifestDesc.size };
  const at = manifest.artifactType || manifest.config.mediaType;
  if (at) d.artifactType = at;
  if (manifest.annotations && Object.keys(manifest.annotations).length > 0) d.annotations = manifest.annotations;
  return d;
}

/**
 * Add referrers of `subject` to its referrers index (`sha256-<hex>`), creating it if needed.
 * `replaceArtifactTypes`: drop existing entries of those artifact types first (re-signing
 * replaces, since ig refuses images with several signatures of one kind). Read-merge-write
 * happens under the store's index lock, so concurrent signers do not lose entries.
 * The referrer manifests (and their blobs) must already be in the store.
 */
export async function addReferrers(store: LayoutStore, subject: Digest, referrers: Descriptor[], replaceArtifactTypes: string[] = []): Promise<Descriptor> {
  const tag = referrersTag(subject);
  return store.updateIndex(async (entries) => {
    const i = entries.findIndex((e) => refNameOf(e) === tag);
    let existing: Descriptor[] = [];
    if (i >= 0) {
      try {
        existing = parseIndex(await store.fetchBytes(entries[i]!), tag).manifests;
      } catch {
        existing = []; // unreadable referrers index: rebuild it
      }
    }
    const incoming = new Set(referrers.map((r) => r.digest));
    const kept = existing.filter((d) => !incoming.has(d.digest) && !(d.artifactType && replaceArtifactTypes.includes(d.artifactType)));
    const index: Index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [...kept, ...referrers] };
    const bytes = encodeIndex(index);
    const desc: Descriptor = { mediaType: MediaType.ImageIndex, digest: sha256(bytes), size: bytes.byteLength };
    await store.push(desc, bytes);
    const entry: Descriptor = { ...desc, annotations: { "org.opencontainers.image.ref.name": tag } };
    if (i >= 0) entries[i] = entry;
    else entries.push(entry);
    return { entries, result: desc };
  });
}

export interface Referrer {
  descriptor: Descriptor;
  manifest: Manifest;
  artifactType: string;
}

/**
 * Manifests in the store whose `subject` is `subject`: those listed by its referrers index, plus
 * untagged index.json entries (as oras-go's layout store keeps referrers). Unreadable ones are skipped.
 */
export async function findReferrers(store: LayoutStore, subject: Digest): Promise<Referrer[]> {
  const entries = await store.entries();
  const candidates: Descriptor[] = [];
  const tag = referrersTag(subject);
  const tagged = entries.find((e) => refNameOf(e) === tag);
  if (tagged) {
    try {
      candidates.push(...parseIndex(await store.fetchBytes(tagged), tag).manifests);
    } catch {
      /* unreadable referrers index */
    }
  }
  for (const e of entries) if (refNameOf(e) === undefined && e.mediaType === MediaType.ImageManifest) candidates.push(e);
  const seen = new Set<string>();
  const out: Referrer[] = [];
  for (const c of candidates) {
    if (seen.has(c.digest)) continue;
    seen.add(c.digest);
    try {
      const manifest = parseManifest(await store.fetchBytes(c), c.digest);
      if (manifest.subject?.digest !== subject) continue;
      out.push({ descriptor: c, manifest, artifactType: manifest.artifactType || manifest.config.mediaType });
    } catch {
      /* missing or not a manifest */
    }
  }
  return out;
}
