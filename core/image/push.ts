/**
 * `gadget image push`: copy an image's whole graph from the local store to a registry (blobs the
 * registry has are skipped after a HEAD; blobs another repository of the same registry has are
 * mounted), then tag the index (ig's PushGadgetImage).
 */
import { GadgetError } from "../errors.js";
import { copyGraph, type CopyStats } from "../oci/copy.js";
import { Semaphore } from "../limit.js";
import { igImageString, parseReference, referenceName, formatReference, tryParseStoredRef } from "../oci/reference.js";
import { LayoutStore, refNameOf } from "../store/layout-store.js";
import { openRemoteRepository, parseConcurrency, type TransferOptions } from "../registry/open.js";
import { progressSource, type ProgressEvent } from "../registry/progress-events.js";
import { retryingDestination } from "../registry/retrying-storage.js";
import type { Descriptor } from "../oci/model.js";
import type { Content, ReadOnlyStorage } from "../oci/content.js";
import { isIndexType, isManifestType } from "../oci/media-types.js";
import { pushSignatures, type TransferredSignature } from "../sign/transfer.js";

export type PushOptions = TransferOptions & {
  /** Repositories on the same registry to try mounting blobs from (default: the local store's other tags there). */
  mountFrom?: string[];
  /** Do not send the image's signatures (legacy `.sig` tag, referrers) along. */
  skipSignatures?: boolean;
};

export interface PushResult {
  /** Normalized reference pushed (`host/repo:tag`, or `host/repo@sha256:…`). */
  reference: string;
  digest: string;
  stats?: CopyStats & { uploaded: number; mounted: number };
  /** The signature tags sent along (legacy `.sig`, referrers tag) and their digests. */
  signatures?: TransferredSignature[];
}

export async function pushImage(opts: PushOptions): Promise<PushResult> {
  const ref = parseReference(opts.reference);
  const concurrency = parseConcurrency(opts.concurrency) ?? 4;
  if (Number.isNaN(concurrency)) throw new GadgetError({ what: "invalid concurrency", which: String(opts.concurrency), why: "expected a whole number from 1 to 64", exitCode: 2, code: "USAGE" });
  const store = await LayoutStore.open(opts.storeDir);
  const root = await store.resolve(opts.reference);
  const explicit = opts.mountFrom;
  const byBlob = explicit ? undefined : await mountCandidates(store, ref.registry, ref.repository);
  const candidatesFor = (d: Descriptor): string[] => (explicit ?? byBlob?.get(d.digest) ?? []).slice(0, 3);
  const anyCandidates = explicit ? explicit.length > 0 : (byBlob?.size ?? 0) > 0;
  const repo = await openRemoteRepository(ref, { ...opts, concurrency, intent: "push" });
  const emit = opts.onProgress as ((e: ProgressEvent) => void) | undefined;
  try {
    // blobs go up as they are on disk: the registry checks each against its digest (DIGEST_INVALID
    // names a damaged local copy), so hashing 100 MB here too would only cost a pass over it
    const src = progressSource(registryBound(store), emit);
    // the root goes up under its tag directly (one request instead of digest + tag)
    let taggedRoot = false;
    const dst = retryingDestination(src, repo);
    const exists = await prefetchExistence(store, root, (d) => repo.exists(d), concurrency * 2);
    const rootByTag = {
      exists,
      fetch: dst.fetch,
      async push(desc: Descriptor, content: Content): Promise<void> {
        if (ref.tag && desc.digest === root.digest && content instanceof Uint8Array) {
          await repo.pushManifest(content, desc.mediaType, ref.tag);
          taggedRoot = true;
          return;
        }
        await dst.push(desc, content);
      },
    };
    const stats = await copyGraph(src, rootByTag, root, {
      concurrency,
      preCopy: (d) => emit?.({ type: "start", digest: d.digest, size: d.size, mediaType: d.mediaType }),
      postCopy: (d) => emit?.({ type: "done", digest: d.digest, size: d.size, mediaType: d.mediaType }),
      onCopySkipped: (d) => emit?.({ type: "skip", digest: d.digest, size: d.size, mediaType: d.mediaType }),
      mountFrom: !anyCandidates
        ? undefined
        : async (d: Descriptor) => {
            for (const from of candidatesFor(d)) {
              if (await repo.mount(d, from)) {
                emit?.({ type: "mount", digest: d.digest, size: d.size, mediaType: d.mediaType, from });
                return true;
              }
            }
            return false;
          },
    });
    let reference: string;
    if (ref.tag) {
      if (!taggedRoot) await repo.pushManifest(await store.fetchBytes(root), root.mediaType, ref.tag);
      reference = formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
    } else {
      reference = `${referenceName(ref)}@${root.digest}`;
    }
    // signatures travel with the image (after it, so a registry never holds a signature of a missing image)
    const signatures = opts.skipSignatures ? [] : await pushSignatures(store, repo, root.digest, { concurrency });
    return { reference, digest: root.digest, stats: { ...stats, uploaded: repo.stats.blobUploads, mounted: repo.stats.blobMounts }, signatures };
  } finally {
    await repo.client.close();
  }
}

/**
 * The whole graph is local, so ask the registry about every node at once (bounded) instead of
 * level by level as the copy walks down: index → manifests → blobs becomes one round of HEADs.
 */
async function prefetchExistence(store: LayoutStore, root: Descriptor, exists: (d: Descriptor) => Promise<boolean>, parallel: number): Promise<(d: Descriptor) => Promise<boolean>> {
  const limiter = new Semaphore(parallel);
  const known = new Map<string, Promise<boolean>>();
  for (const d of (await store.reachable([root])).values()) {
    const p = limiter.run(() => exists(d));
    p.catch(() => {}); // surfaced when copyGraph asks
    known.set(`${d.digest}|${d.mediaType}`, p);
  }
  return (d) => known.get(`${d.digest}|${d.mediaType}`) ?? exists(d);
}

/**
 * Where each blob could be mounted from: other repositories of the same registry that the local
 * store has images for (pushed or pulled there), restricted to the images that contain the blob.
 */
async function mountCandidates(store: LayoutStore, registry: string, repository: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const e of await store.entries()) {
    const name = refNameOf(e);
    if (!name) continue;
    const r = tryParseStoredRef(name);
    if (!r || r.registry !== registry || r.repository === repository) continue;
    for (const d of (await store.reachable([e])).keys()) {
      const list = out.get(d) ?? [];
      if (!list.includes(r.repository)) list.push(r.repository);
      out.set(d, list);
    }
  }
  return out;
}

/** ig's result line: `Successfully pushed <repo>:<tag>@<digest>` (`<repo>:@<digest>` for a digest push). */
export function pushResultLine(r: PushResult): string {
  return `Successfully pushed ${igImageString(r.reference, r.digest)}`;
}

/** The store as a push reads it: manifests verified (the registry names them by their bytes), blobs only counted. */
function registryBound(store: LayoutStore): ReadOnlyStorage {
  return {
    exists: (d) => store.exists(d),
    fetch: (d, io) => store.fetch(d, isManifestType(d.mediaType) || isIndexType(d.mediaType) ? io : { ...io, unverified: true }),
  };
}
