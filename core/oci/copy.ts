/**
 * The copy engine of push, pull and signature transfers (oras-go's copyGraph), on the one graph
 * walker: copies children before parents (so a destination never holds a manifest whose blobs are
 * missing), skips what the destination already has, bounds concurrency; cycles and absurd depth
 * are refused by the walker.
 */
import { Semaphore } from "../limit.js";
import { readAll, type ReadOnlyStorage, type Storage } from "./content.js";
import { MAX_MANIFEST_BYTES, type Descriptor } from "./model.js";
import { walkGraph } from "./walk.js";

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
  /** Deepest index nesting accepted (default MAX_GRAPH_DEPTH). */
  maxDepth?: number;
  /** Skip the existence check in the destination (always copy). */
  force?: boolean;
  /** Aborts the walk and every transfer in flight. */
  signal?: AbortSignal;
}

export interface CopyStats {
  copied: number;
  skipped: number;
  mounted: number;
  bytes: number;
}

/**
 * Copy the graph below `root` from `src` to `dst`: walkGraph in post-order, skipping what the
 * destination has (and so everything below it), blobs pushed (or mounted) and manifests after
 * their children, at most `concurrency` transfers at once.
 */
export async function copyGraph(src: ReadOnlyStorage, dst: Storage, root: Descriptor, opts: CopyOptions = {}): Promise<CopyStats> {
  const transfers = new Semaphore(opts.concurrency ?? 4);
  const stats: CopyStats = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  const io = opts.signal ? { signal: opts.signal } : {};
  const copied = async (desc: Descriptor) => {
    stats.copied++;
    stats.bytes += desc.size;
    await opts.postCopy?.(desc);
  };
  await walkGraph(src, [root], {
    concurrency: opts.concurrency ?? 4,
    ...(opts.maxDepth !== undefined ? { maxDepth: opts.maxDepth } : {}),
    ...io,
    read: (desc) => transfers.run(async () => readAll(await src.fetch(desc, io), MAX_MANIFEST_BYTES)),
    async enter(desc) {
      if (opts.force || !(await dst.exists(desc))) return true;
      stats.skipped++;
      await opts.onCopySkipped?.(desc);
      return false;
    },
    async leave(node) {
      const { desc } = node;
      if (node.kind === "blob" && opts.mountFrom) {
        const mounted = await transfers.run(() => opts.mountFrom!(desc));
        if (mounted) {
          stats.mounted++;
          await opts.postCopy?.(desc);
          return;
        }
      }
      await transfers.run(async () => {
        await opts.preCopy?.(desc);
        await dst.push(desc, node.bytes ?? (await src.fetch(desc, io)), io);
      });
      await copied(desc);
    },
  });
  return stats;
}
