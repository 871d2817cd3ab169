/**
 * One copy engine for push, pull, export and import (oras-go's copyGraph): walks the DAG from
 * a root, copies children before parents (so a destination never holds a manifest whose blobs
 * are missing), skips what the destination already has, bounds concurrency, and refuses cycles
 * and absurd depth.
 */
import { GadgetError } from "../errors.js";
import { Semaphore } from "../limit.js";
import type { Digest } from "./digest.js";
import { readAll, type ReadOnlyStorage, type Storage } from "./content.js";
import { MAX_MANIFEST_BYTES, nodeKind, sniffKind, successors, type Descriptor } from "./model.js";

export interface CopyHooks {
  /** Before a node is copied. */
  preCopy?(desc: Descriptor): void | Promise<void>;
  /** After a node landed in the destination. */
  postCopy?(desc: Descriptor): void | Promise<void>;
  /** A node the destination already had. */
  onCopySkipped?(desc: Descriptor): void | Promise<void>;
  /**
   * Copy a blob some other way (e.g. a cross-repository mount). Return true when done.
   * Called only for non-manifest blobs missing from the destination.
   */
  mountFrom?(desc: Descriptor): Promise<boolean>;
}

export interface CopyOptions extends CopyHooks {
  /** Parallel node copies (default 4). */
  concurrency?: number;
  /** Deepest index nesting accepted (default 8). */
  maxDepth?: number;
  /** Skip the existence check in the destination (always copy). */
  force?: boolean;
}

export interface CopyStats {
  copied: number;
  skipped: number;
  mounted: number;
  bytes: number;
}

async function kindOf(src: ReadOnlyStorage, desc: Descriptor): Promise<{ kind: "index" | "manifest" | "blob"; bytes?: Buffer }> {
  const kind = nodeKind(desc.mediaType);
  if (kind !== "blob") return { kind };
  if (desc.mediaType || desc.size > MAX_MANIFEST_BYTES) return { kind: "blob" };
  const bytes = await readAll(await src.fetch(desc), MAX_MANIFEST_BYTES);
  return { kind: sniffKind(bytes), bytes };
}

export async function copyGraph(src: ReadOnlyStorage, dst: Storage, root: Descriptor, opts: CopyOptions = {}): Promise<CopyStats> {
  const limiter = new Semaphore(opts.concurrency ?? 4);
  const maxDepth = opts.maxDepth ?? 8;
  const stats: CopyStats = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  const done = new Map<Digest, Promise<void>>();
  let failed: unknown;

  const copyNode = (desc: Descriptor, path: Digest[]): Promise<void> => {
    if (path.includes(desc.digest)) {
      return Promise.reject(new GadgetError({ what: "copying image", which: desc.digest, why: "the image graph has a cycle", code: "CYCLE" }));
    }
    if (path.length > maxDepth) {
      return Promise.reject(new GadgetError({ what: "copying image", which: desc.digest, why: `nested deeper than ${maxDepth} levels`, code: "TOO_DEEP" }));
    }
    const existing = done.get(desc.digest);
    if (existing) return existing;
    const p = (async () => {
      if (failed) throw failed;
      if (!opts.force && (await dst.exists(desc))) {
        stats.skipped++;
        await opts.onCopySkipped?.(desc);
        return;
      }
      const { kind, bytes: sniffed } = await kindOf(src, desc);
      if (kind === "blob") {
        await limiter.run(async () => {
          if (failed) throw failed;
          if (opts.mountFrom && (await opts.mountFrom(desc))) {
            stats.mounted++;
            await opts.postCopy?.(desc);
            return;
          }
          await opts.preCopy?.(desc);
          await dst.push(desc, sniffed ?? (await src.fetch(desc)));
          stats.copied++;
          stats.bytes += desc.size;
          await opts.postCopy?.(desc);
        });
        return;
      }
      if (desc.size > MAX_MANIFEST_BYTES) {
        throw new GadgetError({ what: "copying image", which: desc.digest, why: `manifest of ${desc.size} bytes is larger than the ${MAX_MANIFEST_BYTES}-byte limit`, code: "TOO_LARGE" });
      }
      const bytes = sniffed ?? (await limiter.run(async () => readAll(await src.fetch(desc), MAX_MANIFEST_BYTES)));
      const children = successors(kind, bytes, desc.digest);
      // Wait for every child, even after one failed: a failed copy returns only when no
      // sibling is still writing (their temp files are cleaned up by then). Children not yet
      // started are skipped once something failed.
      const settled = await Promise.allSettled(children.map((c) => copyNode(c, [...path, desc.digest])));
      const failure = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failure) throw failure.reason;
      await limiter.run(async () => {
        await opts.preCopy?.(desc);
        await dst.push(desc, bytes);
        stats.copied++;
        stats.bytes += desc.size;
        await opts.postCopy?.(desc);
      });
    })();
    p.catch((e: unknown) => {
      failed ??= e;
    });
    done.set(desc.digest, p);
    return p;
  };

  await copyNode(root, []);
  return stats;
}
