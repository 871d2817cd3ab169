/**
 * Copy one image (its whole graph, every platform) from any source to any destination without a
 * stop in between: registry → registry streams each blob from the source's download straight
 * into the destination's upload; a blob the source repository shares a registry with is mounted
 * (`POST ?mount=&from=`) instead of uploaded; whatever the destination has is skipped, and the
 * manifests' bytes travel unchanged, so the index digest stays the same. Reads run ahead of the
 * walk (prefetch.ts). Signatures follow (copySignatures) unless skipped.
 */
import type { Content, ReadOnlyTarget, Storage, Target, TransferIo } from "../oci/content.js";
import { copyGraph, type CopyStats } from "../oci/copy.js";
import type { Descriptor } from "../oci/model.js";
import { readAhead } from "../oci/prefetch.js";
import { retryingDestination } from "../registry/retrying-storage.js";
import { copySignatures, type TransferredSignature } from "../sign/transfer.js";

export interface CopyRootOptions {
  /** Parallel transfers (default 4). */
  concurrency?: number;
  /** Copy a missing blob some other way (a cross-repository mount); true when done. */
  mountFrom?: (desc: Descriptor) => Promise<boolean>;
  /** Push the root this way instead of by digest (e.g. straight under its tag: one PUT instead of two). */
  pushRoot?: (desc: Descriptor, bytes: Uint8Array) => Promise<boolean>;
  /** Each node written to the destination (for cleanup after a failure). */
  onWritten?: (desc: Descriptor) => void;
  onSkipped?: (desc: Descriptor) => void;
  signal?: AbortSignal;
  /** The destination checks every blob's digest and size itself (a registry): the source skips its own hash pass. */
  destinationVerifies?: boolean;
}

export interface CopyRootResult extends CopyStats {
  /** The root was pushed with pushRoot. */
  rootPushed: boolean;
}

export async function copyRoot(src: ReadOnlyTarget, dst: Storage, root: Descriptor, opts: CopyRootOptions = {}): Promise<CopyRootResult> {
  const concurrency = opts.concurrency ?? 4;
  const ra = readAhead(src, dst, { concurrency, destinationVerifies: Boolean(opts.destinationVerifies) });
  ra.start(root);
  let rootPushed = false;
  const retrying = retryingDestination(ra.source, ra.destination);
  const destination: Storage = {
    exists: (d) => retrying.exists(d),
    fetch: (d, io) => retrying.fetch(d, io),
    async push(d: Descriptor, content: Content, io?: TransferIo) {
      if (opts.pushRoot && d.digest === root.digest && content instanceof Uint8Array) {
        if (await opts.pushRoot(d, content)) {
          rootPushed = true;
          return;
        }
      }
      await retrying.push(d, content, io);
    },
  };
  const stats = await copyGraph(ra.source, destination, root, {
    concurrency,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
    postCopy: (d) => opts.onWritten?.(d),
    onCopySkipped: (d) => opts.onSkipped?.(d),
  });
  return { ...stats, rootPushed };
}

/** The image's signatures after it (a destination never holds a signature of a missing image). */
export async function copyImageSignatures(src: ReadOnlyTarget, dst: Target, root: Descriptor, opts: { concurrency?: number; onWritten?: (d: Descriptor) => void } = {}): Promise<TransferredSignature[]> {
  return copySignatures(src, dst, root, { concurrency: opts.concurrency ?? 4, postCopy: (d) => opts.onWritten?.(d) });
}
