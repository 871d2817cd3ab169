/**
 * Transparent, bounded gunzip for archive input: detects gzip by its magic bytes (1f 8b), and
 * refuses a decompression bomb — output that exceeds both an absolute floor and a ratio of the
 * compressed bytes read so far (deflate tops out near 1032:1; real archives of ELF programs and
 * JSON stay far below the default 200:1).
 */
import { createGunzip } from "node:zlib";

export interface GunzipLimits {
  /** Output/input ratio above which decompression stops (default 200). */
  maxRatio?: number;
  /** Output bytes always allowed regardless of ratio (default 64 MiB). */
  ratioFloorBytes?: number;
  /** Absolute cap on decompressed bytes (default: none). */
  maxBytes?: number;
}

export class GzipBombError extends Error {
  constructor(
    readonly inBytes: number,
    readonly outBytes: number,
    why: string,
  ) {
    super(why);
    this.name = "GzipBombError";
  }
}

export class GzipDataError extends Error {
  constructor(why: string) {
    super(why);
    this.name = "GzipDataError";
  }
}

/** Peek at the first bytes; return a source that yields the same bytes, plus whether it is gzip. */
export async function sniffGzip(source: AsyncIterable<Uint8Array>): Promise<{ gzip: boolean; source: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < 2) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    head.push(b);
    have += b.length;
  }
  const first = Buffer.concat(head);
  const gzip = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
  async function* replay(): AsyncGenerator<Buffer> {
    for (const h of head) yield h;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
  }
  return { gzip, source: replay() };
}

/** Decompress with the bomb limits. Errors: GzipBombError, GzipDataError. */
export async function* gunzipBounded(source: AsyncIterable<Buffer>, limits: GunzipLimits = {}): AsyncGenerator<Buffer> {
  const maxRatio = limits.maxRatio ?? 200;
  const floor = limits.ratioFloorBytes ?? 64 * 1024 * 1024;
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  let inBytes = 0;
  let outBytes = 0;
  let feedError: unknown;
  const feeder = (async () => {
    try {
      for await (const chunk of source) {
        inBytes += chunk.length;
        if (gunzip.destroyed) return;
        if (!gunzip.write(chunk)) {
          await new Promise<void>((r) => {
            const done = () => {
              gunzip.off("drain", done);
              gunzip.off("close", done);
              r();
            };
            gunzip.once("drain", done);
            gunzip.once("close", done);
          });
        }
      }
      if (!gunzip.destroyed) gunzip.end();
    } catch (e) {
      feedError = e;
      gunzip.destroy(e as Error);
    }
  })();
  try {
    for await (const out of gunzip as AsyncIterable<Buffer>) {
      outBytes += out.length;
      if (outBytes > maxBytes) {
        throw new GzipBombError(inBytes, outBytes, `gzip data expands beyond the ${maxBytes}-byte limit`);
      }
      if (outBytes > floor && outBytes > inBytes * maxRatio) {
        throw new GzipBombError(inBytes, outBytes, `gzip data expands more than ${maxRatio}:1 (${outBytes} bytes from ${inBytes}): refusing a likely decompression bomb`);
      }
      yield out;
    }
  } catch (e) {
    if (e instanceof GzipBombError) throw e;
    if (feedError) throw feedError;
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code.startsWith("Z_")) throw new GzipDataError(`corrupt gzip data (${(e as Error).message})`);
    throw e;
  } finally {
    gunzip.destroy();
    await feeder.catch(() => {});
  }
}
