/** Content digests: `sha256:<64 hex>` (sha512 accepted for reading). Streaming hashing. */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { GadgetError } from "../errors.js";

export type Digest = `${string}:${string}`;

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === "string" && DIGEST_RE.test(s);
}

export function parseDigest(s: string, which = "digest"): Digest {
  if (!isDigest(s)) {
    throw new GadgetError({ what: "invalid digest", which, why: `${JSON.stringify(s)} is not sha256:<64 hex>` });
  }
  return s;
}

export function digestAlgorithm(d: Digest): "sha256" | "sha512" {
  return d.startsWith("sha512:") ? "sha512" : "sha256";
}

export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(":") + 1);
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function digestOf(data: Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/** The digest and size of a file, read as a stream (memory stays flat whatever its size). */
export async function hashFile(path: string, algorithm: "sha256" | "sha512" = "sha256"): Promise<{ digest: Digest; size: number }> {
  const { createReadStream } = await import("node:fs");
  const h = createHash(algorithm);
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `${algorithm}:${h.digest("hex")}`, size };
}

/** A pass-through stream that hashes and counts what flows through it. */
export class DigestingStream extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: "sha256" | "sha512";
  bytes = 0;
  constructor(algorithm: "sha256" | "sha512" = "sha256") {
    super();
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest("hex")}`;
  }
}

/** Hash an async iterable of chunks. */
export async function digestStream(
  source: AsyncIterable<Uint8Array>,
  algorithm: "sha256" | "sha512" = "sha256",
): Promise<{ digest: Digest; size: number }> {
  const h = createHash(algorithm);
  let size = 0;
  for await (const chunk of source) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `${algorithm}:${h.digest("hex")}`, size };
}

/**
 * A pass-through stream that fails (instead of ending) when the bytes do not match the
 * expected digest and size — so nothing downstream ever treats unverified bytes as complete.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;
  private readonly expected: Digest;
  private readonly expectedSize: number;
  private readonly which: string;
  bytes = 0;
  constructor(expected: Digest, expectedSize: number, which = expected) {
    super();
    this.expected = expected;
    this.expectedSize = expectedSize;
    this.which = which;
    this.hash = createHash(digestAlgorithm(expected));
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expectedSize) {
      cb(sizeMismatch(this.which, this.expectedSize, `more than ${this.expectedSize}`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.bytes !== this.expectedSize) {
      cb(sizeMismatch(this.which, this.expectedSize, String(this.bytes)));
      return;
    }
    const got: Digest = `${digestAlgorithm(this.expected)}:${this.hash.digest("hex")}`;
    if (got !== this.expected) {
      cb(digestMismatch(this.which, this.expected, got));
      return;
    }
    cb();
  }
}

export function digestMismatch(which: string, expected: string, got: string): GadgetError {
  return new GadgetError({ what: "content verification failed", which, why: `digest mismatch: expected ${expected}, got ${got}`, code: "DIGEST_MISMATCH" });
}

export function sizeMismatch(which: string, expected: number, got: string): GadgetError {
  return new GadgetError({ what: "content verification failed", which, why: `size mismatch: expected ${expected} bytes, got ${got}`, code: "SIZE_MISMATCH" });
}
