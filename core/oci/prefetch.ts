/**
 * Read-ahead for copyGraph between two remote (or any) storages: instead of one round trip per
 * level (HEAD the index, then GET it, then HEAD each manifest, then GET it, then HEAD each blob),
 * every manifest read and every existence check starts as soon as its parent is known — a node's
 * existence check and (for a manifest or index) its read run together, and when a node turns out
 * missing its children's checks are already on their way. Results are memoised, so copyGraph then
 * asks the wrapped source and destination and gets answers at once.
 *
 * ```ts
 * const ra = readAhead(src, dst, { concurrency: 8 });
 * ra.start(root);                       // optional: begin before the walk does
 * await copyGraph(ra.source, ra.destination, root);
 * ```
 */
import { Readable } from "node:stream";
import { Semaphore } from "../limit.js";
import { readAll, type ReadOnlyStorage, type Storage, type TransferIo } from "./content.js";
import type { Digest } from "./digest.js";
import { MAX_MANIFEST_BYTES, nodeKind, successors, type Descriptor } from "./model.js";

export interface ReadAhead {
  /** The source, answering memoised manifest reads from the read-ahead. */
  source: ReadOnlyStorage;
  /** The destination, answering memoised existence checks from the read-ahead. */
  destination: Storage;
  /** Start checking (and reading) a root now. */
  start(root: Descriptor): void;
  /** The bytes of a manifest or index (read once). */
  read(desc: Descriptor): Promise<Buffer>;
}

function isManifestLike(d: Descriptor): boolean {
  return nodeKind(d.mediaType) !== "blob" && d.size <= MAX_MANIFEST_BYTES;
}

const quiet = <T>(p: Promise<T>): Promise<T> => {
  p.catch(() => {}); // surfaced when the copy asks for it
  return p;
};

/**
 * `destinationVerifies`: blobs are fetched unverified (TransferIo.unverified) because the
 * destination checks digest and size itself (a registry, on commit): one hash pass less.
 */
export function readAhead(src: ReadOnlyStorage, dst: Storage, opts: { concurrency?: number; destinationVerifies?: boolean } = {}): ReadAhead {
  const limit = new Semaphore(Math.max(2, (opts.concurrency ?? 4) * 2));
  const reads = new Map<Digest, Promise<Buffer>>();
  const checks = new Map<string, Promise<boolean>>();
  const key = (d: Descriptor) => `${d.digest}|${d.mediaType}`;

  const read = (d: Descriptor): Promise<Buffer> => {
    let p = reads.get(d.digest);
    if (!p) {
      p = quiet(limit.run(async () => readAll(await src.fetch(d), MAX_MANIFEST_BYTES)));
      reads.set(d.digest, p);
    }
    return p;
  };

  const exists = (d: Descriptor): Promise<boolean> => {
    let p = checks.get(key(d));
    if (!p) {
      p = quiet(limit.run(() => dst.exists(d)));
      checks.set(key(d), p);
    }
    return p;
  };

  /** Check a node; read it at the same time when it is a manifest; when missing, go on below it. */
  const start = (d: Descriptor): void => {
    const has = exists(d);
    if (!isManifestLike(d)) return;
    const bytes = read(d);
    void Promise.all([has, bytes]).then(
      ([present, b]) => {
        if (present) return;
        const kind = nodeKind(d.mediaType);
        if (kind === "blob") return;
        let children: Descriptor[] = [];
        try {
          children = successors(kind, b, d.digest);
        } catch {
          return; // the walk reports it
        }
        for (const c of children) start(c);
      },
      () => {},
    );
  };

  const source: ReadOnlyStorage = {
    exists: (d) => src.exists(d),
    async fetch(d: Descriptor, io?: TransferIo): Promise<Readable> {
      if (isManifestLike(d)) return Readable.from([await read(d)]);
      return src.fetch(d, opts.destinationVerifies ? { ...io, unverified: true } : io);
    },
  };
  const destination: Storage = {
    exists: (d) => exists(d),
    fetch: (d, io) => dst.fetch(d, io),
    async push(d, content, io) {
      await dst.push(d, content, io);
      checks.set(key(d), Promise.resolve(true));
    },
  };
  return { source, destination, start, read };
}
