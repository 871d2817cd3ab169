/**
 * The store interface every location implements (oras-go style): a local OCI layout, a remote
 * repository, a tar being read or written. push/pull/export/import are copyGraph between two.
 */
import type { Readable } from "node:stream";
import type { Descriptor } from "./model.js";

export type Content = Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface ReadOnlyStorage {
  /** True when the blob/manifest is present (and complete). */
  exists(desc: Descriptor): Promise<boolean>;
  /** A stream of the content's bytes. Implementations verify size and digest while streaming. */
  fetch(desc: Descriptor): Promise<Readable>;
}

export interface Storage extends ReadOnlyStorage {
  /** Store content; must verify it matches desc (digest and size) before it becomes visible. */
  push(desc: Descriptor, content: Content): Promise<void>;
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
