/**
 * The one graph walker (oras-go's content.Successors walk): from one or more roots, every node of
 * the DAG once — indexes and manifests read (bounded) to find their children, blobs of unknown
 * media type sniffed — refusing cycles and nesting deeper than MAX_GRAPH_DEPTH. Hooks decide what
 * a walk is for: `enter` before a node is read (false skips it and what is below it), `leave`
 * after its children (children before parents: the copy order), `unreadable` for a node that
 * cannot be read or parsed (throw to stop, return to go on: fsck reports and goes on).
 * copyGraph, export, import, fsck and the store's reachability all walk with it.
 */
import { GadgetError } from "../errors.js";
import { readAll, type ReadOnlyStorage } from "./content.js";
import type { Digest } from "./digest.js";
import { MAX_GRAPH_DEPTH, MAX_MANIFEST_BYTES, nodeKind, sniffKind, successors, type Descriptor } from "./model.js";

export type NodeKind = "index" | "manifest" | "blob";

export interface GraphNode {
  desc: Descriptor;
  kind: NodeKind;
  /** The node's bytes when they were read: indexes, manifests, and sniffed blobs. */
  bytes?: Buffer;
  children: Descriptor[];
  /** 0 for a root. */
  depth: number;
}

export interface WalkOptions {
  /** Before a node is read: false skips it and everything below it (e.g. the destination has it). `parent`: the node that referenced it (none for a root). */
  enter?(desc: Descriptor, depth: number, parent: GraphNode | undefined): boolean | Promise<boolean>;
  /** After every child of the node was walked (post-order). */
  leave?(node: GraphNode): void | Promise<void>;
  /** A node that cannot be read or parsed: throw to stop the walk (the default), or return to skip it. */
  unreadable?(desc: Descriptor, error: unknown, depth: number, parent: GraphNode | undefined): void | Promise<void>;
  /** Reads a node's bytes (default: the source's fetch, bounded by MAX_MANIFEST_BYTES). */
  read?(desc: Descriptor): Promise<Buffer>;
  /** Reads of nodes at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Deepest nesting accepted (default MAX_GRAPH_DEPTH). */
  maxDepth?: number;
}

/** What a node is, and its bytes when it had to be read to know: by media type, else sniffed when small. */
export async function classify(desc: Descriptor, read: () => Promise<Buffer>): Promise<{ kind: NodeKind; bytes?: Buffer }> {
  const kind = nodeKind(desc.mediaType);
  if (kind !== "blob") return { kind };
  if (desc.mediaType || desc.size > MAX_MANIFEST_BYTES) return { kind: "blob" };
  const bytes = await read();
  return { kind: sniffKind(bytes), bytes };
}

/**
 * Walk the graph below `roots`. Each node is walked once even when several parents share it; a
 * failure stops the walk only after the node's siblings already started have finished (their
 * hooks may be writing files), then rejects with the first failure.
 */
export async function walkGraph(src: ReadOnlyStorage, roots: Descriptor[], opts: WalkOptions = {}): Promise<void> {
  const maxDepth = opts.maxDepth ?? MAX_GRAPH_DEPTH;
  const { Semaphore } = await import("../limit.js");
  const reads = new Semaphore(opts.concurrency ?? 4);
  const readBytes = opts.read ?? (async (desc: Descriptor) => readAll(await src.fetch(desc), MAX_MANIFEST_BYTES));
  const read = async (desc: Descriptor): Promise<Buffer> => {
    if (desc.size > MAX_MANIFEST_BYTES) {
      throw new GadgetError({ what: "reading image", which: desc.digest, why: `manifest of ${desc.size} bytes is larger than the ${MAX_MANIFEST_BYTES}-byte limit`, code: "TOO_LARGE" });
    }
    return readBytes(desc);
  };
  const done = new Map<Digest, Promise<void>>();
  let failed: unknown;

  const visit = (desc: Descriptor, path: Digest[], parent?: GraphNode): Promise<void> => {
    if (path.includes(desc.digest)) {
      return Promise.reject(new GadgetError({ what: "reading image", which: desc.digest, why: "the image graph has a cycle", code: "CYCLE" }));
    }
    if (path.length > maxDepth) {
      return Promise.reject(new GadgetError({ what: "reading image", which: desc.digest, why: `nested deeper than ${maxDepth} levels`, code: "TOO_DEEP" }));
    }
    const seen = done.get(desc.digest);
    if (seen) return seen;
    const p = (async () => {
      if (failed) throw failed;
      if (opts.signal?.aborted) throw abortError();
      const depth = path.length;
      if (opts.enter && !(await opts.enter(desc, depth, parent))) return;
      let node: GraphNode;
      try {
        const c = await classify(desc, () => reads.run(() => read(desc)));
        const bytes = c.kind === "blob" ? c.bytes : (c.bytes ?? (await reads.run(() => read(desc))));
        node = { desc, kind: c.kind, ...(bytes ? { bytes } : {}), children: c.kind === "blob" ? [] : successors(c.kind, bytes!, desc.digest), depth };
      } catch (e) {
        if (!opts.unreadable) throw e;
        await opts.unreadable(desc, e, depth, parent);
        return;
      }
      const settled = await Promise.allSettled(node.children.map((c) => visit(c, [...path, desc.digest], node)));
      const failure = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failure) throw failure.reason;
      await opts.leave?.(node);
    })();
    p.catch((e: unknown) => {
      failed ??= e;
    });
    done.set(desc.digest, p);
    return p;
  };

  const settled = await Promise.allSettled(roots.map((r) => visit(r, [])));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) throw failure.reason;
}

function abortError(): GadgetError {
  return new GadgetError({ what: "interrupted", why: "the operation was cancelled", code: "ABORTED" });
}
