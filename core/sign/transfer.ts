/**
 * Make signatures travel with images (ig's signature pullers/exporters): the image's legacy
 * `sha256-<hex>.sig` tag and its referrers (`sha256-<hex>` referrers-tag index, or the registry's
 * referrers API when it has one) are copied with copyGraph and tagged on the other side. One
 * function, copySignatures, for any source and destination; push and pull call it through:
 *
 * push.ts, after tagging the image:   await pushSignatures(store, repo, root.digest)
 * pull.ts, after tagging the image:   await pullSignatures(repo, store, root.digest)
 * image copy, after tagging:          await copySignatures(src, dst, root)
 */
import { GadgetError } from "../errors.js";
import { readAll, type ReadOnlyTarget, type Target } from "../oci/content.js";
import { copyGraph, type CopyOptions } from "../oci/copy.js";
import { sha256, type Digest } from "../oci/digest.js";
import { encodeIndex } from "../oci/gojson.js";
import { MediaType } from "../oci/media-types.js";
import { MAX_MANIFEST_BYTES, parseIndex, parseManifest, type Descriptor } from "../oci/model.js";
import type { LayoutStore } from "../store/layout-store.js";
import { cosignSignatureTag, referrersTag } from "./constants.js";
import { addReferrers, referrerDescriptor } from "./related.js";

/** A source that can list referrers through the OCI 1.1 referrers API; undefined = not supported there. */
export interface ReferrersLister {
  referrers(subject: Descriptor): Promise<Descriptor[] | undefined>;
}

function hasReferrersApi(x: unknown): x is ReferrersLister {
  return typeof (x as { referrers?: unknown })?.referrers === "function";
}

function isNotFound(e: unknown): boolean {
  return e instanceof GadgetError && e.code === "NOT_FOUND";
}

async function tryResolve(t: ReadOnlyTarget, reference: string): Promise<Descriptor | undefined> {
  try {
    return await t.resolve(reference);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function fetchIndexEntries(t: ReadOnlyTarget, desc: Descriptor, which: string): Promise<Descriptor[]> {
  return parseIndex(await readAll(await t.fetch(desc), MAX_MANIFEST_BYTES), which).manifests;
}

function referrersIndex(manifests: Descriptor[]): { desc: Descriptor; bytes: Buffer } {
  const bytes = encodeIndex({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests });
  return { desc: { mediaType: MediaType.ImageIndex, digest: sha256(bytes), size: bytes.byteLength }, bytes };
}

/** The image's descriptor as the local store has it (it was pulled first). */
async function subjectDescriptor(store: LayoutStore, digest: Digest): Promise<Descriptor> {
  const entry = (await store.entries()).find((e) => e.digest === digest);
  if (entry) return { mediaType: entry.mediaType, digest, size: entry.size };
  const bytes = await store.readBlob(digest);
  return { mediaType: MediaType.ImageIndex, digest, size: bytes.byteLength };
}

export interface TransferredSignature {
  refName: string;
  digest: Digest;
}

/**
 * Copy the image's signature tags from the local store to `dst` (the image's repository) and tag
 * them there (copySignatures). A referrers index already in the repository is merged with ours, not replaced.
 */
export async function pushSignatures(store: LayoutStore, dst: Target, indexDigest: Digest, opts: CopyOptions = {}): Promise<TransferredSignature[]> {
  return copySignatures(store, dst, await subjectDescriptor(store, indexDigest), opts);
}

/**
 * Fetch the image's signatures from `src` into the local store (copySignatures): the legacy `.sig`
 * tag, referrers from the referrers API when `src` offers one, else the referrers tag schema.
 * Absent signatures are not an error (most images are unsigned); transport errors are thrown for
 * the caller to report (ig warns and keeps the pulled image).
 */
export async function pullSignatures(src: ReadOnlyTarget, store: LayoutStore, indexDigest: Digest, opts: CopyOptions = {}): Promise<TransferredSignature[]> {
  // the subject's digest is what matters (the store may not hold the image itself)
  const subject = await subjectDescriptor(store, indexDigest).catch((): Descriptor => ({ mediaType: MediaType.ImageIndex, digest: indexDigest, size: 0 }));
  return copySignatures(src, store, subject, opts);
}

/** Where signature tags are written: a registry repository (`tag`) or a layout (`tagExact`: bare names verbatim). */
async function tagSignature(t: Target, desc: Descriptor, name: string): Promise<void> {
  const exact = (t as { tagExact?: (d: Descriptor, n: string) => Promise<void> }).tagExact;
  if (typeof exact === "function") await exact.call(t, desc, name);
  else await t.tag(desc, name);
}

function isLayout(t: unknown): t is LayoutStore {
  return typeof (t as { tagExact?: unknown })?.tagExact === "function" && typeof (t as { updateIndex?: unknown })?.updateIndex === "function";
}

/**
 * Copy an image's signatures from any source to any destination (registry ↔ registry, store ↔
 * registry, layout ↔ layout): the legacy `sha256-<hex>.sig` tag, and its referrers — read through
 * the source's OCI 1.1 referrers API when it has one, else the referrers tag schema
 * (`sha256-<hex>` index). On the destination, referrers land as manifests (a registry with the
 * referrers API indexes them itself) and in its referrers-tag index, merged with what is there.
 * Nothing is rewritten that is already right: a signature tag pointing at the same digest, or a
 * referrers index already listing every referrer, is left alone; a referrers index copied to a
 * destination that had none keeps its digest.
 */
export async function copySignatures(src: ReadOnlyTarget, dst: Target, subject: Descriptor, opts: CopyOptions = {}): Promise<TransferredSignature[]> {
  const out = await copySignaturesUnsorted(src, dst, subject, opts);
  return out.sort((a, b) => (a.refName < b.refName ? -1 : a.refName > b.refName ? 1 : 0));
}

async function copySignaturesUnsorted(src: ReadOnlyTarget, dst: Target, subject: Descriptor, opts: CopyOptions): Promise<TransferredSignature[]> {
  const out: TransferredSignature[] = [];
  const sigTag = cosignSignatureTag(subject.digest);
  const legacy = await tryResolve(src, sigTag);
  if (legacy) {
    const have = await tryResolve(dst, sigTag);
    if (have?.digest !== legacy.digest) {
      await copyGraph(src, dst, legacy, opts);
      await tagSignature(dst, legacy, sigTag);
    }
    out.push({ refName: sigTag, digest: legacy.digest });
  }

  const tag = referrersTag(subject.digest);
  let listed: Descriptor[] | undefined;
  let srcIndex: Descriptor | undefined;
  if (hasReferrersApi(src)) listed = await src.referrers(subject);
  if (listed === undefined) {
    srcIndex = await tryResolve(src, tag);
    if (srcIndex) listed = await fetchIndexEntries(src, srcIndex, tag);
  }
  // only manifests that really refer to this image
  const kept: Descriptor[] = [];
  for (const r of listed ?? []) {
    if (r.mediaType && r.mediaType !== MediaType.ImageManifest) continue;
    let m;
    try {
      m = parseManifest(await readAll(await src.fetch(r), MAX_MANIFEST_BYTES), r.digest);
    } catch {
      continue;
    }
    if (m.subject?.digest === subject.digest) kept.push(r.artifactType || r.annotations ? r : referrerDescriptor(r, m));
  }
  if (kept.length === 0) return out;
  for (const r of kept) await copyGraph(src, dst, r, opts);

  if (isLayout(dst)) {
    const current = await tryResolve(dst, tag);
    const theirs = current ? await fetchIndexEntries(dst, current, tag).catch(() => [] as Descriptor[]) : [];
    if (current && kept.every((k) => theirs.some((t) => t.digest === k.digest))) {
      out.push({ refName: tag, digest: current.digest });
    } else if (!current && srcIndex && kept.length === listed!.length) {
      await copyGraph(src, dst, srcIndex, opts);
      await dst.tagExact(srcIndex, tag);
      out.push({ refName: tag, digest: srcIndex.digest });
    } else {
      const desc = await addReferrers(dst, subject.digest, kept);
      out.push({ refName: tag, digest: desc.digest });
    }
    return out;
  }

  // a registry with the referrers API lists the pushed manifests by itself
  if (hasReferrersApi(dst) && (await dst.referrers(subject)) !== undefined) return out;
  const remote = await tryResolve(dst, tag);
  if (remote) {
    const theirs = await fetchIndexEntries(dst, remote, tag).catch(() => [] as Descriptor[]);
    const missing = kept.filter((k) => !theirs.some((t) => t.digest === k.digest));
    if (missing.length === 0) {
      out.push({ refName: tag, digest: remote.digest });
      return out;
    }
    const idx = referrersIndex([...theirs, ...missing]);
    await dst.push(idx.desc, idx.bytes);
    await dst.tag(idx.desc, tag);
    out.push({ refName: tag, digest: idx.desc.digest });
    return out;
  }
  if (srcIndex && kept.length === listed!.length) {
    await copyGraph(src, dst, srcIndex, opts);
    await dst.tag(srcIndex, tag);
    out.push({ refName: tag, digest: srcIndex.digest });
    return out;
  }
  const idx = referrersIndex(kept);
  await dst.push(idx.desc, idx.bytes);
  await dst.tag(idx.desc, tag);
  out.push({ refName: tag, digest: idx.desc.digest });
  return out;
}
