/**
 * USTAR header blocks (POSIX.1-1988), pure functions. The writer side produces exactly the bytes
 * Go's archive/tar writes for ig's `image export` (octal fields zero-padded with a trailing NUL,
 * checksum as six octal digits + NUL + space, uname/gname "root", devmajor/devminor "0000000"),
 * so our tars differ from ig's only where we choose to (mtime 0). The reader side decodes USTAR,
 * GNU and v7 headers and validates the checksum; callers decide what entry types they accept.
 */

export const BLOCK = 512;

/** Type flags (byte 156). */
export const TypeFlag = {
  File: "0",
  OldFile: "\0",
  HardLink: "1",
  Symlink: "2",
  CharDevice: "3",
  BlockDevice: "4",
  Directory: "5",
  Fifo: "6",
  Contiguous: "7",
  PaxHeader: "x",
  PaxGlobal: "g",
  GnuLongName: "L",
  GnuLongLink: "K",
} as const;

/** Largest size a 12-byte octal field holds (8 GiB - 1). */
export const MAX_OCTAL_SIZE = 0o77777777777;

export interface HeaderInit {
  path: string;
  size: number;
  mode: number;
  /** Seconds since the epoch (default 0). */
  mtime?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  type?: string;
  linkname?: string;
}

function writeString(block: Buffer, offset: number, length: number, s: string, field: string): void {
  const bytes = Buffer.from(s, "utf8");
  if (bytes.length > length) throw new RangeError(`tar header: ${field} ${JSON.stringify(s)} is longer than ${length} bytes`);
  bytes.copy(block, offset);
}

/** Octal, zero-padded to length-1 digits, NUL-terminated (Go's formatOctal). */
function writeOctal(block: Buffer, offset: number, length: number, n: number, field: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`tar header: ${field} ${n} is not a non-negative integer`);
  const s = n.toString(8).padStart(length - 1, "0");
  if (s.length > length - 1) throw new RangeError(`tar header: ${field} ${n} does not fit in ${length - 1} octal digits`);
  block.write(s, offset, "latin1");
  block[offset + length - 1] = 0;
}

/**
 * Split a path into USTAR name (≤100 bytes) and prefix (≤155 bytes) at a `/`, as Go's
 * splitUSTARPath does. Throws when the path cannot be represented.
 */
export function splitUstarPath(path: string): { name: string; prefix: string } {
  const len = Buffer.byteLength(path);
  if (len <= 100) return { name: path, prefix: "" };
  if (len > 256) throw new RangeError(`tar header: path ${JSON.stringify(path)} is longer than 256 bytes`);
  // the last '/' at or before byte 155 such that the rest fits in 100 bytes
  for (let i = Math.min(path.length - 1, 155); i > 0; i--) {
    if (path[i] !== "/") continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return { name, prefix };
  }
  throw new RangeError(`tar header: path ${JSON.stringify(path)} cannot be split into a USTAR name and prefix`);
}

/** Encode one USTAR header block. */
export function encodeHeader(h: HeaderInit): Buffer {
  const block = Buffer.alloc(BLOCK);
  const { name, prefix } = splitUstarPath(h.path);
  writeString(block, 0, 100, name, "name");
  writeOctal(block, 100, 8, h.mode, "mode");
  writeOctal(block, 108, 8, h.uid ?? 0, "uid");
  writeOctal(block, 116, 8, h.gid ?? 0, "gid");
  writeOctal(block, 124, 12, h.size, "size");
  writeOctal(block, 136, 12, h.mtime ?? 0, "mtime");
  block.fill(0x20, 148, 156); // checksum placeholder: spaces
  block.write(h.type ?? TypeFlag.File, 156, "latin1");
  writeString(block, 157, 100, h.linkname ?? "", "linkname");
  block.write("ustar\u000000", 257, "latin1");
  writeString(block, 265, 32, h.uname ?? "root", "uname");
  writeString(block, 297, 32, h.gname ?? "root", "gname");
  writeOctal(block, 329, 8, 0, "devmajor");
  writeOctal(block, 337, 8, 0, "devminor");
  writeString(block, 345, 155, prefix, "prefix");
  const sum = checksum(block);
  block.write(sum.toString(8).padStart(6, "0"), 148, "latin1");
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

/** Unsigned sum of the block with the checksum field counted as spaces. */
export function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

/** Signed variant (some old tars computed it with signed chars). */
function signedChecksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    sum += b > 127 ? b - 256 : b;
  }
  return sum;
}

/** Bytes of zero padding after `size` bytes of content. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

export interface DecodedHeader {
  /** Path as stored (prefix + name), not yet normalized or validated. */
  path: string;
  type: string;
  size: number;
  mode: number;
  linkname: string;
  format: "ustar" | "gnu" | "v7";
}

export class HeaderError extends Error {}

function cString(block: Buffer, offset: number, length: number): string {
  let end = offset;
  while (end < offset + length && block[end] !== 0) end++;
  return block.toString("utf8", offset, end);
}

/** Parse a numeric field: octal (spaces/NULs around it) or GNU base-256 (high bit set). */
export function parseNumeric(block: Buffer, offset: number, length: number, field: string): number {
  const first = block[offset]!;
  if (first & 0x80) {
    if (first === 0xff) throw new HeaderError(`negative ${field}`);
    let n = first & 0x7f;
    for (let i = 1; i < length; i++) {
      n = n * 256 + block[offset + i]!;
      if (n > Number.MAX_SAFE_INTEGER) throw new HeaderError(`${field} is too large`);
    }
    return n;
  }
  const s = block.toString("latin1", offset, offset + length).replace(/[\0 ]+$/, "").replace(/^[ \0]+/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new HeaderError(`${field} field ${JSON.stringify(s)} is not octal`);
  const n = parseInt(s, 8);
  if (!Number.isSafeInteger(n)) throw new HeaderError(`${field} is too large`);
  return n;
}

/** Decode and checksum-verify a header block. Throws HeaderError when it is not a tar header. */
export function decodeHeader(block: Buffer): DecodedHeader {
  const stored = parseNumeric(block, 148, 8, "checksum");
  if (stored !== checksum(block) && stored !== signedChecksum(block)) throw new HeaderError("header checksum mismatch");
  const magic = block.toString("latin1", 257, 263);
  const version = block.toString("latin1", 263, 265);
  const format = magic === "ustar\0" ? "ustar" : magic === "ustar " && version === " \0" ? "gnu" : "v7";
  let path = cString(block, 0, 100);
  if (format === "ustar") {
    const prefix = cString(block, 345, 155);
    if (prefix) path = `${prefix}/${path}`;
  }
  const typeByte = block[156]!;
  return {
    path,
    type: typeByte === 0 ? TypeFlag.OldFile : String.fromCharCode(typeByte),
    size: parseNumeric(block, 124, 12, "size"),
    mode: parseNumeric(block, 100, 8, "mode"),
    linkname: cString(block, 157, 100),
    format,
  };
}

/** Parse PAX extended header records (`<len> <key>=<value>\n`). */
export function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // trailing NUL padding
    const sp = data.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 20) throw new HeaderError("malformed PAX record");
    const lenText = data.toString("latin1", pos, sp);
    if (!/^[0-9]+$/.test(lenText)) throw new HeaderError("malformed PAX record length");
    const len = parseInt(lenText, 10);
    if (len <= sp - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) throw new HeaderError("malformed PAX record");
    const record = data.toString("utf8", sp + 1, pos + len - 1);
    const eq = record.indexOf("=");
    if (eq <= 0) throw new HeaderError("malformed PAX record");
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}
