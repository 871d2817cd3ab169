/**
 * A streaming, deterministic USTAR writer: regular files only, written in the order given (callers
 * sort), fixed metadata (uid/gid 0, uname/gname "root", mtime 0 unless given), content streamed
 * in bounded chunks with backpressure, and Go archive/tar's end (two zero blocks, no record
 * padding). The whole archive is never held in memory.
 */
import type { FileHandle } from "node:fs/promises";
import type { Writable } from "node:stream";
import { BLOCK, MAX_OCTAL_SIZE, TypeFlag, encodeHeader, padding } from "./header.js";
import { writevAll } from "../io.js";

/** Where tar bytes go: a file handle (positional appends) or a stream (e.g. stdout). */
export interface TarSink {
  write(chunks: Buffer[]): Promise<void>;
}

const ZEROS = Buffer.alloc(BLOCK * 2);

export function fileSink(fh: FileHandle): TarSink {
  return {
    async write(chunks) {
      await writevAll(fh, chunks);
    },
  };
}

export function streamSink(out: Writable): TarSink {
  // an error (e.g. EPIPE when the reader went away) may come between writes: keep it for the next one
  let failed: Error | undefined;
  out.on("error", (e: Error) => {
    failed ??= e;
  });
  return {
    write(chunks) {
      if (failed) return Promise.reject(failed);
      return new Promise<void>((resolve, reject) => {
        let ok = true;
        for (const c of chunks) if (c.length > 0) ok = out.write(c) && ok;
        if (ok) {
          resolve();
          return;
        }
        const onDrain = () => {
          out.off("error", onError);
          out.off("close", onClose);
          resolve();
        };
        const onError = (e: Error) => {
          out.off("drain", onDrain);
          out.off("close", onClose);
          reject(e);
        };
        const onClose = () => {
          out.off("drain", onDrain);
          out.off("error", onError);
          reject(Object.assign(new Error("output closed before the archive was written"), { code: "EPIPE" }));
        };
        out.once("drain", onDrain);
        out.once("error", onError);
        out.once("close", onClose);
      });
    },
  };
}

export interface TarFileOptions {
  mode: number;
  mtime?: number;
}

export class TarWriter {
  private readonly sink: TarSink;
  private finished = false;
  /** Bytes written so far. */
  bytes = 0;

  constructor(sink: TarSink) {
    this.sink = sink;
  }

  /** Small writes are gathered into one sink write of up to ~1 MiB (fewer syscalls). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private async emit(chunks: Buffer[]): Promise<void> {
    for (const c of chunks) {
      if (c.length === 0) continue;
      this.pending.push(c);
      this.pendingBytes += c.length;
      this.bytes += c.length;
    }
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const out = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    await this.sink.write(out);
  }

  /**
   * Add a regular file. `content` is a buffer or a stream of chunks that must total exactly `size`
   * bytes (more or fewer is an error: the archive would be corrupt). `onChunk` sees content bytes.
   */
  async addFile(path: string, size: number, content: Uint8Array | AsyncIterable<Uint8Array>, opts: TarFileOptions, onChunk?: (n: number) => void): Promise<void> {
    if (this.finished) throw new Error("tar writer already finished");
    if (size > MAX_OCTAL_SIZE) throw new RangeError(`${path}: ${size} bytes is larger than the 8 GiB a USTAR entry holds`);
    const header = encodeHeader({ path, size, mode: opts.mode, mtime: opts.mtime ?? 0, type: TypeFlag.File });
    const pad = padding(size);
    if (content instanceof Uint8Array) {
      if (content.byteLength !== size) throw new RangeError(`${path}: content is ${content.byteLength} bytes, header says ${size}`);
      const body = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
      await this.emit([header, body, ZEROS.subarray(0, pad)]);
      onChunk?.(size);
      return;
    }
    let written = 0;
    let batch: Buffer[] = [header];
    let batchBytes = 0;
    for await (const chunk of content) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      written += buf.length;
      if (written > size) throw new RangeError(`${path}: content is longer than the ${size} bytes announced`);
      batch.push(buf);
      batchBytes += buf.length;
      if (batchBytes >= 1 << 20) {
        await this.emit(batch);
        onChunk?.(batchBytes);
        batch = [];
        batchBytes = 0;
      }
    }
    if (written !== size) throw new RangeError(`${path}: content is ${written} bytes, header says ${size}`);
    batch.push(ZEROS.subarray(0, pad));
    await this.emit(batch);
    if (batchBytes > 0) onChunk?.(batchBytes);
  }

  /** Add a directory entry (`path` ends with "/"). */
  async addDirectory(path: string, opts: TarFileOptions): Promise<void> {
    if (this.finished) throw new Error("tar writer already finished");
    await this.emit([encodeHeader({ path: path.endsWith("/") ? path : `${path}/`, size: 0, mode: opts.mode, mtime: opts.mtime ?? 0, type: TypeFlag.Directory })]);
  }

  /** Write the end-of-archive marker (two zero blocks). */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.emit([ZEROS]);
    await this.flush();
  }
}

/** An entry of an in-memory archive: a directory (no data) or a regular file. */
export interface MemoryTarEntry {
  path: string;
  data?: Uint8Array;
  mode: number;
}

/**
 * A small archive built in memory, entries in the order given, with the writer's fixed metadata
 * (uid/gid 0, root/root, mtime 0): deterministic bytes for the same entries.
 */
export async function tarToBuffer(entries: readonly MemoryTarEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const tw = new TarWriter({ write: async (chunks) => void parts.push(...chunks) });
  for (const e of entries) {
    if (e.data === undefined) await tw.addDirectory(e.path, { mode: e.mode });
    else await tw.addFile(e.path, e.data.byteLength, e.data, { mode: e.mode });
  }
  await tw.finish();
  return Buffer.concat(parts);
}
