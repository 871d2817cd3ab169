/**
 * A small ELF64 reader: header, section table, symbol table. Enough to look at a BPF object
 * (e_machine EM_BPF = 247) as clang/llvm-strip write it. Pure: works on bytes.
 */
import { GadgetError } from "../errors.js";

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_BPF = 247;

export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;

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
  /** Section index (shndx). */
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
  /** Bytes of a section (empty for NOBITS). */
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

function cstr(bytes: Uint8Array, off: number): string {
  let end = off;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + off, end - off).toString("utf8");
}

export function parseElf(bytes: Uint8Array, which = "ELF object"): ElfFile {
  if (!isElf(bytes)) throw bad(which, "not an ELF file (bad magic)");
  if (bytes.length < 64) throw bad(which, "truncated header");
  const cls = bytes[4];
  if (cls !== 2) throw bad(which, "only 64-bit ELF files are supported");
  const data = bytes[5];
  if (data !== 1 && data !== 2) throw bad(which, "unknown byte order");
  const le = data === 1;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => dv.getUint16(o, le);
  const u32 = (o: number) => dv.getUint32(o, le);
  const u64 = (o: number) => dv.getBigUint64(o, le);
  const num = (o: number) => {
    const v = u64(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(which, "value out of range");
    return Number(v);
  };
  const type = u16(16);
  const machine = u16(18);
  const shoff = num(40);
  const shentsize = u16(58);
  const shnum = u16(60);
  const shstrndx = u16(62);
  if (shnum > 0 && (shentsize < 64 || shoff + shnum * shentsize > bytes.length)) throw bad(which, "section header table out of bounds");

  const raw: Omit<ElfSection, "name">[] = [];
  const nameOffs: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    nameOffs.push(u32(o));
    const s = { index: i, type: u32(o + 4), flags: u64(o + 8), offset: num(o + 24), size: num(o + 32), link: u32(o + 40), info: u32(o + 44), entsize: num(o + 56) };
    if (s.type !== SHT_NOBITS && s.offset + s.size > bytes.length) throw bad(which, `section ${i} out of bounds`);
    raw.push(s);
  }
  const strtab = raw[shstrndx];
  const sections: ElfSection[] = raw.map((s, i) => ({
    ...s,
    name: strtab && strtab.type !== SHT_NOBITS ? cstr(bytes.subarray(strtab.offset, strtab.offset + strtab.size), nameOffs[i]!) : "",
  }));
  const dataOf = (s: ElfSection) => (s.type === SHT_NOBITS ? new Uint8Array(0) : bytes.subarray(s.offset, s.offset + s.size));
  let symCache: ElfSymbol[] | undefined;

  return {
    bytes,
    littleEndian: le,
    bits: 64,
    type,
    machine,
    sections,
    section: (name) => sections.find((s) => s.name === name),
    data: dataOf,
    symbols() {
      if (symCache) return symCache;
      const out: ElfSymbol[] = [];
      const symtab = sections.find((s) => s.type === SHT_SYMTAB);
      if (symtab) {
        const strs = sections[symtab.link];
        const strBytes = strs ? dataOf(strs) : new Uint8Array(0);
        const ent = symtab.entsize || 24;
        for (let o = symtab.offset; o + ent <= symtab.offset + symtab.size; o += ent) {
          const info = bytes[o + 4]!;
          out.push({ name: cstr(strBytes, u32(o)), bind: info >> 4, type: info & 0xf, section: u16(o + 6), value: num(o + 8), size: num(o + 16) });
        }
      }
      symCache = out;
      return out;
    },
  };
}
