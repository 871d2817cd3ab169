/**
 * A streaming, bounded tar reader for untrusted input. Hand-written rather than the `tar`
 * package's Parser because import needs the opposite of an extractor's leniency: every entry
 * type other than regular files and directories is an error (not a warning), paths are checked
 * before anything is written, every header's checksum is verified, metadata blocks (PAX, GNU
 * long names) have hard size limits, truncation anywhere is an error, and content is handed to
 * the caller as chunks with backpressure (never buffered whole). It understands USTAR, GNU and
 * PAX headers (path/size/linkpath overrides), GNU base-256 sizes, and signed checksums.
 */
import { BLOCK, HeaderError, TypeFlag, decodeHeader, isZeroBlock, padding, parsePax } from "./header.js";

export interface TarEntry {
  /** Normalized relative path ("./" and trailing "/" removed). */
  path: string;
  type: "file" | "directory";
  size: number;
  mode: number;
  /** Offset of the entry's header in the (uncompressed) stream. */
  offset: number;
}

export interface TarReadLimits {
  /** Most entries accepted (default 100 000). */
  maxEntries?: number;
  /** Largest PAX extended header (default 1 MiB). */
  maxPaxBytes?: number;
  /** Largest GNU long name/link (default 64 KiB). */
  maxLongNameBytes?: number;
}

export interface TarSummary {
  entries: number;
  /** Bytes of tar consumed (through the end-of-archive marker). */
  bytes: number;
}

/** A rejected archive. `entry` is the entry's path as stored (when one is known). */
export class TarFormatError extends Error {
  readonly entry: string | undefined;
  readonly offset: number;
  readonly reason: string;
  constructor(reason: string, entry: string | undefined, offset: number) {
    super(entry === undefined ? `${reason} (at byte ${offset})` : `${entry}: ${reason}`);
    this.name = "TarFormatError";
    this.reason = reason;
    this.entry = entry;
    this.offset = offset;
  }
}

/** Pull-based reader over chunks: exact reads for headers, zero-copy slices for content. */
class ByteSource {
  private readonly it: AsyncIterator<Uint8Array>;
  private cur: Buffer = Buffer.alloc(0);
  private pos = 0;
  private done = false;
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    if (Symbol.asyncIterator in source) {
      this.it = source[Symbol.asyncIterator]();
    } else {
      const sync = source[Symbol.iterator]();
      this.it = { next: async () => sync.next() };
    }
  }

  private async more(): Promise<boolean> {
    if (this.done) return false;
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      const c = r.value;
      if (c.byteLength === 0) continue;
      this.cur = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      this.pos = 0;
      return true;
    }
  }

  /** Exactly n bytes, or fewer only at end of input (then `short` is true). */
  async read(n: number): Promise<{ data: Buffer; short: boolean }> {
    if (this.cur.length - this.pos >= n) {
      const data = this.cur.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.offset += n;
      return { data, short: false };
    }
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      if (this.pos >= this.cur.length && !(await this.more())) break;
      const take = Math.min(n - have, this.cur.length - this.pos);
      parts.push(this.cur.subarray(this.pos, this.pos + take));
      this.pos += take;
      have += take;
    }
    this.offset += have;
    return { data: parts.length === 1 ? parts[0]! : Buffer.concat(parts, have), short: have < n };
  }

  /** Stream n bytes as slices; `onShort` builds the error thrown if the input ends first. */
  async *take(n: number, onShort: () => Error): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pos >= this.cur.length && !(await this.more())) throw onShort();
      const take = Math.min(left, this.cur.length - this.pos);
      const slice = this.cur.subarray(this.pos, this.pos + take);
      this.pos += take;
      this.offset += take;
      left -= take;
      yield slice;
    }
  }

  async skip(n: number, onShort: () => Error): Promise<void> {
    for await (const _ of this.take(n, onShort)) {
      /* discard */
    }
  }

  /** Consume and discard whatever is left (so a writer on a pipe does not get EPIPE). */
  async drain(): Promise<void> {
    this.pos = this.cur.length;
    while (await this.more()) this.pos = this.cur.length;
  }
}

/** Normalize and validate an entry path. Returns the reason it is refused, or the clean path. */
export function checkEntryPath(raw: string): { path: string } | { refused: string } {
  if (raw === "") return { refused: "empty path" };
  if (raw.includes("\0")) return { refused: "path contains a NUL byte" };
  if (raw.startsWith("/")) return { refused: "absolute path" };
  if (/^[A-Za-z]:[\\/]/.test(raw) || raw.startsWith("\\")) return { refused: "absolute path" };
  const parts = raw.split(/[\\/]/);
  if (parts.includes("..")) return { refused: 'path escapes the archive root ("..")' };
  const clean = parts.filter((p) => p !== "" && p !== ".");
  return { path: clean.join("/") };
}

/** An entry's content: readable once, as chunks; tracks how much is left unread. */
class EntryBody implements AsyncIterable<Buffer> {
  left: number;
  private used = false;
  constructor(
    private readonly src: ByteSource,
    size: number,
    private readonly onShort: () => Error,
  ) {
    this.left = size;
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    if (this.used) throw new Error("a tar entry's content can be read only once");
    this.used = true;
    while (this.left > 0) {
      const n = this.left;
      // take() in one call would not let us count if the consumer stops early: count per slice
      for await (const slice of this.src.take(n, this.onShort)) {
        this.left -= slice.length;
        yield slice;
      }
    }
  }
}

const DEFAULTS: Required<TarReadLimits> = { maxEntries: 100_000, maxPaxBytes: 1 << 20, maxLongNameBytes: 64 << 10 };

/**
 * Read a tar stream, calling `onEntry` for each regular file and directory with a body iterable
 * the callback may consume (what it leaves unread is skipped). Throws TarFormatError on anything
 * unsafe or malformed; errors thrown by `onEntry` propagate unchanged.
 */
export async function readTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  onEntry: (entry: TarEntry, body: AsyncIterable<Buffer>) => Promise<void>,
  limits: TarReadLimits = {},
): Promise<TarSummary> {
  const lim = { ...DEFAULTS, ...limits };
  const src = new ByteSource(source);
  let entries = 0;
  let pax: Map<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let first = true;

  for (;;) {
    const headerOffset = src.offset;
    const { data: block, short } = await src.read(BLOCK);
    if (short) {
      if (first) {
        throw new TarFormatError(block.length === 0 ? "empty input: not a tar archive" : `not a tar archive (only ${block.length} bytes)`, undefined, 0);
      }
      throw new TarFormatError(
        block.length === 0 ? "truncated archive: it ends without the end-of-archive marker" : `truncated archive: the input ends inside the header block at byte ${headerOffset}`,
        undefined,
        headerOffset,
      );
    }
    if (isZeroBlock(block)) {
      if (pax || longName !== undefined) throw new TarFormatError("archive ends right after an extended header", undefined, headerOffset);
      const next = await src.read(BLOCK);
      if (!next.short && !isZeroBlock(next.data)) {
        throw new TarFormatError("data after a single zero block (corrupt archive)", undefined, headerOffset);
      }
      const bytes = src.offset;
      await src.drain();
      return { entries, bytes };
    }
    let h;
    try {
      h = decodeHeader(Buffer.from(block));
    } catch (e) {
      const why = (e as Error).message;
      if (first) throw new TarFormatError(`not a tar archive (${why})`, undefined, 0);
      throw new TarFormatError(`corrupt tar header at byte ${headerOffset} (${why})`, undefined, headerOffset);
    }
    first = false;
    const rawPath = h.path;
    const shortErr = (what: string) => () => new TarFormatError(`truncated archive: the input ends inside ${what}`, rawPath, src.offset);

    // metadata entries that modify the next header
    if (h.type === TypeFlag.PaxHeader || h.type === TypeFlag.PaxGlobal) {
      if (h.size > lim.maxPaxBytes) throw new TarFormatError(`PAX header of ${h.size} bytes exceeds the ${lim.maxPaxBytes}-byte limit`, rawPath, headerOffset);
      const { data, short: s } = await src.read(h.size);
      if (s) throw shortErr("a PAX header")();
      await src.skip(padding(h.size), shortErr("a PAX header"));
      if (h.type === TypeFlag.PaxGlobal) continue; // global attributes: nothing we use
      try {
        pax = parsePax(Buffer.from(data));
      } catch (e) {
        throw new TarFormatError((e as Error).message, rawPath, headerOffset);
      }
      continue;
    }
    if (h.type === TypeFlag.GnuLongName || h.type === TypeFlag.GnuLongLink) {
      if (h.size > lim.maxLongNameBytes) throw new TarFormatError(`GNU long name of ${h.size} bytes exceeds the ${lim.maxLongNameBytes}-byte limit`, rawPath, headerOffset);
      const { data, short: s } = await src.read(h.size);
      if (s) throw shortErr("a GNU long name")();
      await src.skip(padding(h.size), shortErr("a GNU long name"));
      const text = Buffer.from(data).toString("utf8").replace(/\0+$/, "");
      if (h.type === TypeFlag.GnuLongName) longName = text;
      else longLink = text;
      continue;
    }

    let path = longName ?? rawPath;
    let size = h.size;
    let linkname = longLink ?? h.linkname;
    if (pax) {
      const p = pax.get("path");
      if (p !== undefined) path = p;
      const s = pax.get("size");
      if (s !== undefined) {
        if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new TarFormatError(`invalid PAX size ${JSON.stringify(s)}`, path, headerOffset);
        size = Number(s);
      }
      const l = pax.get("linkpath");
      if (l !== undefined) linkname = l;
    }
    pax = undefined;
    longName = undefined;
    longLink = undefined;

    entries++;
    if (entries > lim.maxEntries) throw new TarFormatError(`more than ${lim.maxEntries} entries`, path, headerOffset);

    const checked = checkEntryPath(path);
    if ("refused" in checked) throw new TarFormatError(checked.refused, path, headerOffset);

    let type: TarEntry["type"];
    switch (h.type) {
      case TypeFlag.File:
      case TypeFlag.OldFile:
      case TypeFlag.Contiguous:
        type = path.endsWith("/") && h.type === TypeFlag.OldFile ? "directory" : "file";
        break;
      case TypeFlag.Directory:
        type = "directory";
        break;
      case TypeFlag.HardLink:
        throw new TarFormatError(`hard link (to ${JSON.stringify(linkname)}) is not allowed: only regular files are`, path, headerOffset);
      case TypeFlag.Symlink:
        throw new TarFormatError(`symbolic link (to ${JSON.stringify(linkname)}) is not allowed: only regular files are`, path, headerOffset);
      case TypeFlag.CharDevice:
        throw new TarFormatError("character device entries are not allowed: only regular files are", path, headerOffset);
      case TypeFlag.BlockDevice:
        throw new TarFormatError("block device entries are not allowed: only regular files are", path, headerOffset);
      case TypeFlag.Fifo:
        throw new TarFormatError("FIFO entries are not allowed: only regular files are", path, headerOffset);
      default:
        throw new TarFormatError(`unsupported entry type ${JSON.stringify(h.type)}: only regular files are allowed`, path, headerOffset);
    }

    const entry: TarEntry = { path: checked.path, type, size, mode: h.mode, offset: headerOffset };
    const body = new EntryBody(src, size, shortErr("the entry's content"));
    await onEntry(entry, body);
    // skip what the callback did not read (it may have stopped early), then the padding
    await src.skip(body.left, shortErr("the entry's content"));
    await src.skip(padding(size), shortErr(`the padding of ${path}`));
  }
}
