/**
 * `gadget image pull`: copy an image's whole graph (every platform) from a registry into the
 * local store, then tag it under the normalized name (ig's PullGadgetImage). Every blob is
 * digest-verified before it lands; a failed pull leaves the store's index untouched and removes
 * the blobs it wrote that nothing references.
 */
import { GadgetError } from "../errors.js";
import { copyGraph } from "../oci/copy.js";
import type { Content, TransferIo } from "../oci/content.js";
import type { Descriptor } from "../oci/model.js";
import type { Digest } from "../oci/digest.js";
import { formatReference, igImageString, parseReference, referenceName } from "../oci/reference.js";
import { LayoutStore } from "../store/layout-store.js";
import { openRemoteRepository, parseConcurrency, type TransferOptions } from "../registry/open.js";
import { progressSource, type ProgressEvent } from "../registry/progress-events.js";
import { retryingDestination } from "../registry/retrying-storage.js";
import { pullSignatures } from "../sign/transfer.js";

export type PullOptions = TransferOptions & {
  /** Told when the image came but its signatures could not be fetched. */
  onWarning?: (message: string) => void;
};

export interface PullResult {
  /** Normalized reference (`host/repo:tag`, or `host/repo@sha256:…` for a digest pull). */
  reference: string;
  digest: string;
}

export async function pullImage(opts: PullOptions): Promise<PullResult> {
  const ref = parseReference(opts.reference);
  const concurrency = parseConcurrency(opts.concurrency) ?? 4;
  if (Number.isNaN(concurrency)) throw new GadgetError({ what: "invalid concurrency", which: String(opts.concurrency), why: "expected a whole number from 1 to 64", exitCode: 2, code: "USAGE" });
  const store = await LayoutStore.open(opts.storeDir);
  // the store's writers lock (a flock process) is taken while the manifests are fetched, not before the first blob
  store.holdWriterLock().catch(() => {}); // a failure shows again where a blob is written
  const repo = await openRemoteRepository(ref, { ...opts, concurrency });
  const emit = opts.onProgress as ((e: ProgressEvent) => void) | undefined;
  const written: Digest[] = [];
  try {
    // GET (not HEAD + GET): the root's bytes are cached for the copy that follows
    const root = (await repo.fetchManifest(ref.digest ?? ref.tag ?? "latest").catch((e: unknown) => {
      if (e instanceof GadgetError && e.code === "NOT_FOUND") {
        throw new GadgetError({ what: "resolving image", which: formatReference(ref), why: "not found: no such tag or digest in the registry", hint: "check the name and tag", code: "NOT_FOUND" });
      }
      throw e;
    })).descriptor;
    const src = progressSource(repo, emit);
    try {
      // a present index or manifest counts only with its whole graph present and intact: the copy
      // skips a present node's subtree, and a repaired store may miss a child (moved aside as corrupt)
      const seen = new Map<Digest, Promise<boolean>>();
      const dst = { exists: (d: Descriptor) => store.existsWithGraph(d, seen), fetch: (d: Descriptor, io?: TransferIo) => store.fetch(d, io), push: (d: Descriptor, c: Content, io?: TransferIo) => store.push(d, c, io) };
      await copyGraph(src, retryingDestination(src, dst), root, {
        concurrency,
        preCopy: (d) => emit?.({ type: "start", digest: d.digest, size: d.size, mediaType: d.mediaType }),
        postCopy: (d) => {
          written.push(d.digest);
          emit?.({ type: "done", digest: d.digest, size: d.size, mediaType: d.mediaType });
        },
        onCopySkipped: (d) => emit?.({ type: "skip", digest: d.digest, size: d.size, mediaType: d.mediaType }),
      });
    } catch (e) {
      await removeUnreferenced(store, written);
      throw e;
    }
    let reference: string;
    if (ref.tag) {
      reference = formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
      await store.tag(root, reference);
    } else {
      reference = `${referenceName(ref)}@${root.digest}`;
      await store.tagExact(root, reference);
    }
    // signatures (legacy .sig tag, referrers) come along; an unsigned image is not an error,
    // only ig's warning (pkg/oci/signature_error.go, signaturePullWarning)
    const named = ref.tag ? reference : `${referenceName(ref)}@${root.digest}`;
    try {
      const sigs = await pullSignatures(repo, store, root.digest, { concurrency });
      if (sigs.length === 0) opts.onWarning?.(`no signature found for gadget ${named}`);
    } catch (e) {
      opts.onWarning?.(signaturePullWarning(named, ref.registry, e));
    }
    return { reference, digest: root.digest };
  } finally {
    await repo.client.close();
  }
}

/** Blobs this pull wrote that no tag reaches (the pull failed before tagging). */
export async function removeUnreferenced(store: LayoutStore, written: Digest[]): Promise<void> {
  if (written.length === 0) return;
  try {
    await store.updateIndex(async (entries) => {
      // only when no other writer is active: a concurrent pull/import/build may have found one of
      // these blobs present and be about to tag an image that needs it (else: garbage for fsck --repair)
      const gc = await store.tryExclusiveWriters();
      if (!gc) return { entries, result: undefined };
      try {
        const kept = await store.reachable(entries);
        for (const d of written) if (!kept.has(d)) await store.deleteBlob(d);
      } finally {
        await gc.close();
      }
      return { entries, result: undefined };
    });
  } catch {
    /* best effort: fsck --repair cleans the rest */
  }
}

/** ig's wording when a pulled image's signatures could not be fetched (signaturePullWarning). */
export function signaturePullWarning(image: string, registry: string, e: unknown): string {
  const code = e instanceof GadgetError ? e.code : undefined;
  if (code === "UNAUTHORIZED" || code === "DENIED" || code === "AUTH") return `not authorized to fetch the signature for gadget ${image}`;
  if (code === "NETWORK" || code === "TLS") return `fetching the signature for gadget ${image}: ${registry} is unreachable`;
  return `error pulling signature for gadget ${image}: ${(e as Error).message}`;
}

/** ig's result line: `Successfully pulled <repo>:<tag>@<digest>` (`<repo>:@<digest>` for a digest pull). */
export function pullResultLine(r: PullResult): string {
  return `Successfully pulled ${igImageString(r.reference, r.digest)}`;
}
