/**
 * A small ELF64 reader: header, section table, symbol table. Enough to look at a BPF object
 * (e_machine EM_BPF = 247) as clang/llvm-strip write it. Pure: works on bytes. Every offset
 * read from the file is checked against the file's size first, so damaged input gives a
 * GadgetError ("invalid ELF file"), never a RangeError.
 */
import { GadgetError } from "../errors.js";

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_BPF = 247;

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;

/** sh_flags bit: the section holds executable code (a BPF program or subprogram). */
export const SHF_EXECINSTR = 0x4n;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
/** Section index of an undefined symbol. */
export const SHN_UNDEF = 0;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  /** STB_* (0 local, 1 global, 2 weak). */
  bind: number;
  /** STT_* (0 notype, 1 object, 2 func, 3 section, 4 file). */
  type: number;
  /** Section index (shndx); 0 = undefined. */
  section: number;
}

export interface ElfFile {
  bytes: Uint8Array;
  littleEndian: boolean;
  /** ELF class: 64 for ELFCLASS64. */
  bits: 32 | 64;
  type: number;
  machine: number;
  sections: ElfSection[];
  section(name: string): ElfSection | undefined;
  /** Bytes of a section (empty for NOBITS: such a section has no bytes in the file). */
  data(section: ElfSection): Uint8Array;
  symbols(): ElfSymbol[];
}

function bad(which: string, why: string): GadgetError {
  return new GadgetError({ what: "invalid ELF file", which, why, code: "BAD_ELF" });
}

/** Cheap check: does it start with the ELF magic? */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** NUL-terminated string at `off` of a string table; "" when `off` is past its end. */
export function cstr(table: Uint8Array, off: number): string {
  if (off < 0 || off >= table.length) return "";
  let end = off;
  while (end < table.length && table[end] !== 0) end++;
  return Buffer.from(table.buffer, table.byteOffset + off, end - off).toString("utf8");
}

export function parseElf(bytes: Uint8Array, which = "ELF object"): ElfFile {
  if (!isElf(bytes)) throw bad(which, "not an ELF file (bad magic)");
  if (bytes.length < EHDR_SIZE) throw bad(which, "truncated header");
  const cls = bytes[4];
  if (cls !== 2) throw bad(which, "only 64-bit ELF files are supported");
  const data = bytes[5];
  if (data !== 1 && data !== 2) throw bad(which, "unknown byte order");
  const le = data === 1;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => dv.getUint16(o, le);
  const u32 = (o: number) => dv.getUint32(o, le);
  const u64 = (o: number) => dv.getBigUint64(o, le);
  const num = (o: number, what: string) => {
    const v = u64(o);
    if (v > BigInt(bytes.length)) throw bad(which, `${what} ${v} is past the end of the file (${bytes.length} bytes)`);
    return Number(v);
  };
  const type = u16(16);
  const machine = u16(18);
  const shoff = num(40, "section header offset");
  const shentsize = u16(58);
  const shnum = u16(60);
  const shstrndx = u16(62);
  if (shnum > 0 && (shentsize < SHDR_SIZE || shoff + shnum * shentsize > bytes.length)) throw bad(which, "section header table out of bounds");

  const raw: Omit<ElfSection, "name">[] = [];
  const nameOffs: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    nameOffs.push(u32(o));
    const sType = u32(o + 4);
    const size = Number(u64(o + 32));
    const offset = Number(u64(o + 24));
    const s = { index: i, type: sType, flags: u64(o + 8), offset, size, link: u32(o + 40), info: u32(o + 44), entsize: Number(u64(o + 56)) };
    if (sType !== SHT_NOBITS && (offset > bytes.length || size > bytes.length - offset)) throw bad(which, `section ${i} out of bounds`);
    raw.push(s);
  }
  if (shnum > 0 && shstrndx >= shnum) throw bad(which, `section name table index ${shstrndx} out of range (${shnum} sections)`);
  const dataOf = (s: Omit<ElfSection, "name">) => (s.type === SHT_NOBITS ? new Uint8Array(0) : bytes.subarray(s.offset, s.offset + s.size));
  const strtab = raw[shstrndx];
  const names = strtab ? dataOf(strtab) : new Uint8Array(0);
  const sections: ElfSection[] = raw.map((s, i) => ({ ...s, name: cstr(names, nameOffs[i]!) }));
  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (s.name && !byName.has(s.name)) byName.set(s.name, s);
  let symCache: ElfSymbol[] | undefined;

  return {
    bytes,
    littleEndian: le,
    bits: 64,
    type,
    machine,
    sections,
    section: (name) => byName.get(name),
    data: dataOf,
    symbols() {
      if (symCache) return symCache;
      const out: ElfSymbol[] = [];
      const symtab = sections.find((s) => s.type === SHT_SYMTAB);
      if (symtab) {
        const strs = sections[symtab.link];
        const strBytes = strs ? dataOf(strs) : new Uint8Array(0);
        const ent = symtab.entsize || SYM_SIZE;
        if (ent < SYM_SIZE) throw bad(which, `symbol table entry size ${ent} is smaller than ${SYM_SIZE}`);
        for (let o = symtab.offset; o + SYM_SIZE <= symtab.offset + symtab.size; o += ent) {
          const info = bytes[o + 4]!;
          out.push({ name: cstr(strBytes, u32(o)), bind: info >> 4, type: info & 0xf, section: u16(o + 6), value: Number(u64(o + 8)), size: Number(u64(o + 16)) });
        }
      }
      symCache = out;
      return out;
    },
  };
}
