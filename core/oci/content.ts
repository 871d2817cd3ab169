/**
 * The store interface every location implements (oras-go style): the local OCI layout
 * (LayoutStore) and a remote repository (RemoteRepository). Push, pull and signature transfers
 * are copyGraph between two of them; export and import walk the same graphs (walk.ts).
 */
import type { Readable } from "node:stream";
import type { Descriptor } from "./model.js";

export type Content = Uint8Array | Readable | AsyncIterable<Uint8Array>;

/** Per-call options of a transfer. */
export interface TransferIo {
  /** Aborts the transfer (a fetch's stream, a push's upload) at once. */
  signal?: AbortSignal;
  /**
   * fetch: the consumer checks digest and size itself (a registry destination does on commit; a
   * store hashes any stream not marked verified), so the source need not hash the bytes too.
   * The stream is then not marked verified.
   */
  unverified?: boolean;
}

export interface ReadOnlyStorage {
  /** True when the blob/manifest is present (and complete). */
  exists(desc: Descriptor): Promise<boolean>;
  /** A stream of the content's bytes. Implementations verify size and digest while streaming. */
  fetch(desc: Descriptor, io?: TransferIo): Promise<Readable>;
}

export interface Storage extends ReadOnlyStorage {
  /** Store content; must verify it matches desc (digest and size) before it becomes visible. */
  push(desc: Descriptor, content: Content, io?: TransferIo): Promise<void>;
}

/** Streams whose producer checks digest and size as they flow (a registry download): a destination need not hash them again. */
const verifiedStreams = new WeakSet<object>();

/** Mark a stream as checked by its producer (it errors on a digest or size mismatch). */
export function markVerified<T extends object>(stream: T): T {
  verifiedStreams.add(stream);
  return stream;
}

export function isVerified(content: unknown): boolean {
  return typeof content === "object" && content !== null && verifiedStreams.has(content);
}

export interface ReadOnlyTarget extends ReadOnlyStorage {
  /** Reference (tag or full ref or digest) → descriptor of the root. */
  resolve(reference: string): Promise<Descriptor>;
}

export interface Target extends Storage, ReadOnlyTarget {
  tag(desc: Descriptor, reference: string): Promise<void>;
}

/** Optional: fetch small JSON nodes fully (bounded). */
export async function readAll(stream: Readable, limit = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new Error(`content is larger than the ${limit}-byte limit`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
