/**
 * What `ig image inspect` reports about a gadget's eBPF object (pkg/operators/ebpf/extrainfo.go):
 * its ELF sections, maps, programs and global variables, as cilium/ebpf's LoadCollectionSpec
 * (v0.18) sees them — ig builds those entries from the CollectionSpec:
 *
 * - sections: every ELF section name in header order (the null section first, as debug/elf);
 * - maps: BTF maps (`.maps`), legacy maps (`maps*`), one Array per data section (`.bss`, `.data*`,
 *   `.rodata*`) that has symbols or is referenced, with their type, key/value size, max entries;
 * - programs: one per function in an executable section other than `.text`, its instructions
 *   relocated as cilium does (map loads, data-section loads with their offset, calls to
 *   subprograms, kfuncs) and the subprograms it calls appended (cilium's flattenPrograms), with
 *   the BTF line info as source lines;
 * - variables: the global (or weak), visible symbols of those data sections.
 *
 * Built on the ELF and BTF readers of this folder; pure (works on bytes).
 */
import { GadgetError } from "../errors.js";
import { BtfKind, parseBtf, typeSize, underlying, type Btf, type BtfType } from "./btf.js";
import { EM_BPF, parseElf, SHT_SYMTAB, type ElfSection, type ElfSymbol } from "./elf.js";
import { decodeInstructions, isFunctionReference, jumpOp, CALL, LD_IMM_DW, PSEUDO_CALL, PSEUDO_FUNC, PSEUDO_KFUNC_CALL, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, rawSlots, type Insn } from "./bpf-insn.js";

export interface MapInfo {
  /** The spec's name (data sections keep theirs, e.g. `.rodata`). */
  name: string;
  /** BPF_MAP_TYPE_* number. */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface ProgramInfo {
  /** The function's name. */
  name: string;
  /** Its ELF section, e.g. `tracepoint/syscalls/sys_enter_openat`. */
  section: string;
  /** Its instructions followed by those of the subprograms it calls. */
  instructions: Insn[];
}

export interface VariableInfo {
  name: string;
  offset: number;
  size: number;
  /** The data section (map) it lives in. */
  map: string;
}

export interface CollectionInfo {
  sections: string[];
  /** By name (ig skips `.rodata` and `.bss` when listing them). */
  maps: Map<string, MapInfo>;
  programs: ProgramInfo[];
  variables: VariableInfo[];
}

type Kind = "undef" | "map" | "btfMap" | "data" | "program";

interface Sym extends ElfSymbol {
  other: number;
}

interface Section {
  elf: ElfSection;
  kind: Kind;
  /** Symbols by offset (value) in the section. */
  symbols: Map<number, Sym>;
  /** Relocations by offset: the symbol referred to. */
  relocations: Map<number, Sym>;
  references: number;
}

const STT_NOTYPE = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_SECTION = 3;
const STB_LOCAL = 0;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const STV_INTERNAL = 1;
const STV_HIDDEN = 2;
const SHT_PROGBITS = 1;
const SHT_REL = 9;
const SHF_EXECINSTR = 4n;
const EM_NONE = 0;
const MAP_ARRAY = 2;

function fail(which: string, why: string): GadgetError {
  return new GadgetError({ what: "reading eBPF object", which, why, code: "BAD_ELF" });
}

const isDataSection = (name: string) => name === ".bss" || name.startsWith(".data") || name.startsWith(".rodata");
/** cilium's sanitizeName(name, -1): only letters, digits, `.` and `_` are kept. */
const sanitizeName = (name: string) => name.replace(/[^A-Za-z0-9._]/g, "");

/** The `.BTF` string table (line info text lives there). */
function btfStrings(bytes: Uint8Array, le: boolean): (off: number) => string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hdrLen = dv.getUint32(4, le);
  const strOff = hdrLen + dv.getUint32(16, le);
  const strLen = dv.getUint32(20, le);
  return (off) => {
    if (off >= strLen) return "";
    let end = strOff + off;
    while (end < strOff + strLen && bytes[end] !== 0) end++;
    return Buffer.from(bytes.buffer, bytes.byteOffset + strOff + off, end - strOff - off).toString("utf8");
  };
}

/** `.BTF.ext` line info: per section name, (instruction offset in raw instructions, line text), sorted. */
function lineInfos(ext: Uint8Array, le: boolean, str: (off: number) => string): Map<string, { offset: number; line: string }[]> {
  const out = new Map<string, { offset: number; line: string }[]>();
  if (ext.length < 24) return out;
  const dv = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  if (dv.getUint16(0, le) !== 0xeb9f) return out;
  const hdrLen = dv.getUint32(4, le);
  const start = hdrLen + dv.getUint32(16, le);
  const end = start + dv.getUint32(20, le);
  if (end > ext.length || end - start < 4) return out;
  const recSize = dv.getUint32(start, le);
  if (recSize !== 16) return out;
  let o = start + 4;
  while (o + 8 <= end) {
    const sec = str(dv.getUint32(o, le));
    const n = dv.getUint32(o + 4, le);
    o += 8;
    const list: { offset: number; line: string }[] = [];
    for (let i = 0; i < n && o + 16 <= end; i++, o += 16) list.push({ offset: dv.getUint32(o, le) / 8, line: str(dv.getUint32(o + 8, le)) });
    list.sort((a, b) => a.offset - b.offset);
    out.set(sec, list);
  }
  return out;
}

/** A BTF map definition member encoded as `int (*name)[N]`: N. */
function uintFromBtf(btf: Btf, id: number): number | undefined {
  const p = btf.get(id);
  if (p.kind !== BtfKind.Ptr) return undefined;
  const a = btf.get(p.type);
  return a.kind === BtfKind.Array ? a.array!.nelems : undefined;
}

function btfMap(btf: Btf, def: BtfType, name: string): MapInfo {
  const m: MapInfo = { name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0 };
  for (const member of def.members ?? []) {
    const mt = btf.get(member.type);
    switch (member.name) {
      case "type":
        m.type = uintFromBtf(btf, member.type) ?? 0;
        break;
      case "max_entries":
        m.maxEntries = uintFromBtf(btf, member.type) ?? 0;
        break;
      case "key":
        if (mt.kind === BtfKind.Ptr) m.keySize = typeSize(btf, mt.type);
        break;
      case "value":
        if (mt.kind === BtfKind.Ptr) m.valueSize = typeSize(btf, mt.type);
        break;
      case "key_size":
        m.keySize = uintFromBtf(btf, member.type) ?? 0;
        break;
      case "value_size":
        m.valueSize = uintFromBtf(btf, member.type) ?? 0;
        break;
      case "values":
        m.valueSize = 4;
        break;
    }
  }
  return m;
}

export function readCollection(bytes: Uint8Array, which = "eBPF object"): CollectionInfo {
  const elf = parseElf(bytes, which);
  if (elf.machine !== EM_NONE && elf.machine !== EM_BPF) throw fail(which, `unexpected machine type for BPF ELF: ${elf.machine}`);
  const le = elf.littleEndian;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // symbols (index 0 is the null symbol), with st_other for the visibility
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB);
  const symbols: Sym[] = elf.symbols().map((s, i) => ({ ...s, other: symtab ? bytes[symtab.offset + i * (symtab.entsize || 24) + 5]! & 0x3 : 0 }));

  // sections of interest (cilium's LoadCollectionSpecFromReader)
  const sections = new Map<number, Section>();
  const relSections = new Map<number, ElfSection>();
  const add = (s: ElfSection, kind: Kind) => sections.set(s.index, { elf: s, kind, symbols: new Map(), relocations: new Map(), references: 0 });
  add({ index: 0, name: "", type: 0, flags: 0n, offset: 0, size: 0, link: 0, info: 0, entsize: 0 }, "undef");
  for (const s of elf.sections) {
    if (s.name.startsWith("license") || s.name.startsWith("version")) continue;
    if (s.name.startsWith("maps")) add(s, "map");
    else if (s.name === ".maps") add(s, "btfMap");
    else if (isDataSection(s.name)) add(s, "data");
    else if (s.type === SHT_REL) relSections.set(s.info, s);
    else if (s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0n && s.size > 0) add(s, "program");
  }

  // symbols by section and offset (assignSymbols)
  for (const sym of symbols.slice(1)) {
    const sec = sections.get(sym.section);
    if (!sec || sym.name === "") continue;
    if (sec.kind === "map" || sec.kind === "btfMap" || sec.kind === "data") {
      if (sym.type !== STT_NOTYPE && sym.type !== STT_OBJECT) continue;
    } else if (sec.kind === "program") {
      if (sym.type !== STT_NOTYPE && sym.type !== STT_FUNC) continue;
      if (sym.type === STT_NOTYPE && sym.bind === STB_LOCAL && sym.name.startsWith("LBB")) continue;
    } else continue;
    sec.symbols.set(sym.value, sym);
  }

  // relocations
  for (const [idx, rel] of relSections) {
    const sec = sections.get(idx);
    if (!sec) continue;
    if (rel.entsize < 16) throw fail(which, `section ${rel.name}: relocations are less than 16 bytes`);
    for (let o = rel.offset; o + 16 <= rel.offset + rel.size; o += rel.entsize) {
      const off = Number(dv.getBigUint64(o, le));
      const symNo = Number(dv.getBigUint64(o + 8, le) >> 32n);
      const sym = symbols[symNo];
      if (symNo === 0 || !sym) throw fail(which, `section ${sec.elf.name}: relocation to symbol ${symNo}, which does not exist`);
      const target = sections.get(sym.section);
      if (!target) throw fail(which, `section ${JSON.stringify(sec.elf.name)}: reference to ${JSON.stringify(sym.name)} in section ${sym.section}: not supported`);
      target.references++;
      sec.relocations.set(off, sym);
    }
  }

  const btfSec = elf.section(".BTF");
  const btf = btfSec ? parseBtf(elf.data(btfSec), le, `${which}: .BTF`) : undefined;
  const datasec = (name: string) => btf?.byName(name, BtfKind.Datasec);

  // maps
  const maps = new Map<string, MapInfo>();
  const variables: VariableInfo[] = [];
  for (const sec of sections.values()) {
    if (sec.kind === "map") {
      const n = sec.symbols.size;
      if (n === 0) throw fail(which, `section ${sec.elf.name}: no symbols`);
      const size = sec.elf.size / n;
      const data = elf.data(sec.elf);
      for (let i = 0; i < n; i++) {
        const sym = sec.symbols.get(i * size);
        if (!sym) throw fail(which, `section ${sec.elf.name}: missing symbol for map at offset ${i * size}`);
        const at = i * size;
        const u = (k: number) => (size >= (k + 1) * 4 ? new DataView(data.buffer, data.byteOffset + at, size).getUint32(k * 4, le) : 0);
        maps.set(sym.name, { name: sanitizeName(sym.name), type: u(0), keySize: u(1), valueSize: u(2), maxEntries: u(3) });
      }
    } else if (sec.kind === "btfMap") {
      if (!btf) throw fail(which, "missing BTF");
      const ds = datasec(sec.elf.name);
      if (!ds) throw fail(which, `cannot find section '${sec.elf.name}' in BTF`);
      for (const v of ds.secinfo ?? []) {
        const vt = btf.get(v.type);
        if (vt.kind !== BtfKind.Var) continue;
        maps.set(vt.name, btfMap(btf, underlying(btf, vt.type), vt.name));
      }
    }
  }
  for (const sec of sections.values()) {
    if (sec.kind !== "data") continue;
    if (sec.references === 0 && sec.symbols.size === 0) continue;
    const mapName = sanitizeName(sec.elf.name);
    maps.set(sec.elf.name, { name: mapName, type: MAP_ARRAY, keySize: 4, valueSize: sec.elf.size, maxEntries: 1 });
    for (const [off, sym] of sec.symbols) {
      if (sym.other === STV_HIDDEN || sym.other === STV_INTERNAL) continue;
      if (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK) continue;
      if (sym.name.startsWith(".")) continue;
      if (variables.some((v) => v.name === sym.name)) throw fail(which, `data section ${sec.elf.name}: duplicate variable ${sym.name}`);
      variables.push({ name: sym.name, offset: off, size: sym.size, map: mapName });
    }
  }

  // .kconfig and .ksyms exist only in BTF
  const kconfigVars = new Set<string>();
  for (const v of datasec(".kconfig")?.secinfo ?? []) kconfigVars.add(btf!.get(v.type).name);
  const hasKconfig = datasec(".kconfig") !== undefined;
  const kfuncs = new Set<string>();
  const ksyms = new Set<string>();
  for (const v of datasec(".ksyms")?.secinfo ?? []) {
    const t = btf!.get(v.type);
    if (t.kind === BtfKind.Func) kfuncs.add(t.name);
    else if (t.kind === BtfKind.Var) ksyms.add(t.name);
  }

  const relocate = (ins: Insn, rel: Sym, where: string): void => {
    const target = sections.get(rel.section)!;
    let name = rel.name;
    const bad = (why: string) => fail(which, `${where}: relocating instruction: ${why}`);
    switch (target.kind) {
      case "map":
      case "btfMap":
        if (rel.bind === STB_LOCAL) throw bad(`possible erroneous static qualifier on map definition: found reference to ${JSON.stringify(name)}`);
        if (rel.bind !== STB_GLOBAL) throw bad(`map ${JSON.stringify(name)}: unsupported binding`);
        if (rel.type !== STT_OBJECT && rel.type !== STT_NOTYPE) throw bad(`map load: incorrect relocation type ${rel.type}`);
        ins.src = PSEUDO_MAP_FD;
        break;
      case "data": {
        let offset: number;
        if (rel.type === STT_SECTION) {
          if (rel.bind !== STB_LOCAL) throw bad(`direct load: ${name}: unsupported binding`);
          offset = Number(BigInt.asUintN(32, ins.imm));
        } else if (rel.type === STT_OBJECT) {
          if (rel.bind !== STB_GLOBAL && rel.bind !== STB_LOCAL && rel.bind !== STB_WEAK) throw bad(`direct load: ${name}: unsupported binding`);
          offset = rel.value >>> 0;
        } else if (rel.type === STT_NOTYPE) {
          if (rel.bind !== STB_LOCAL) throw bad(`direct load: ${name}: unsupported binding`);
          offset = rel.value >>> 0;
        } else throw bad(`incorrect relocation type ${rel.type} for direct map load`);
        name = target.elf.name;
        ins.imm = BigInt(offset) << 32n;
        ins.src = PSEUDO_MAP_VALUE;
        break;
      }
      case "program":
        if (jumpOp(ins.op) === CALL) {
          if (ins.src !== PSEUDO_CALL) throw bad(`call: ${name}: incorrect source register`);
          if (rel.type === STT_NOTYPE || rel.type === STT_FUNC) {
            if (rel.bind !== STB_GLOBAL) throw bad(`call: ${name}: unsupported binding`);
          } else if (rel.type === STT_SECTION) {
            if (rel.bind !== STB_LOCAL) throw bad(`call: ${name}: unsupported binding`);
            const offset = (Number(BigInt.asIntN(32, ins.imm)) + 1) * 8;
            const sym = target.symbols.get(offset);
            if (!sym) throw bad(`call: no symbol at offset ${offset}`);
            name = sym.name;
            ins.imm = -1n;
          } else throw bad(`call: ${name}: invalid symbol type ${rel.type}`);
        } else if (ins.op === LD_IMM_DW) {
          if (rel.type === STT_FUNC) {
            if (rel.bind !== STB_GLOBAL) throw bad(`load: ${name}: unsupported binding`);
          } else if (rel.type === STT_SECTION) {
            if (rel.bind !== STB_LOCAL) throw bad(`load: ${name}: unsupported binding`);
          } else throw bad(`load: ${name}: invalid symbol type ${rel.type}`);
          const sym = target.symbols.get(Number(ins.imm));
          if (!sym) throw bad(`load: no symbol at offset ${ins.imm}`);
          name = sym.name;
          ins.imm = -1n;
          ins.src = PSEUDO_FUNC;
        } else throw bad("neither a call nor a load instruction");
        break;
      case "undef": {
        if (rel.bind !== STB_GLOBAL && rel.bind !== STB_WEAK) throw bad(`asm relocation: ${name}: unsupported binding`);
        if (rel.type !== STT_NOTYPE) throw bad(`asm relocation: ${name}: unsupported type ${rel.type}`);
        const isCall = jumpOp(ins.op) === CALL;
        const isLoad = ins.op === LD_IMM_DW;
        if (kfuncs.has(name) && isCall) {
          ins.src = PSEUDO_KFUNC_CALL;
          ins.imm = -1n;
        } else if (kfuncs.has(name) && isLoad) {
          ins.imm = 0n;
        } else if (ksyms.has(name) && isLoad) {
          /* a ksym: stays a reference */
        } else if (hasKconfig && isLoad) {
          if (rel.bind !== STB_GLOBAL) throw bad(`asm relocation: ${name}: unsupported binding`);
          if (!kconfigVars.has(name)) throw bad(`kconfig ${name} not found in .kconfig`);
          ins.src = PSEUDO_MAP_VALUE;
          return; // kconfig loads carry no reference
        }
        break;
      }
    }
    ins.reference = name;
  };

  // programs (loadProgramSections)
  const lines = (() => {
    const ext = elf.section(".BTF.ext");
    return ext && btfSec ? lineInfos(elf.data(ext), le, btfStrings(elf.data(btfSec), le)) : new Map<string, { offset: number; line: string }[]>();
  })();
  const progs = new Map<string, ProgramInfo>();
  const exported: string[] = [];
  for (const sec of sections.values()) {
    if (sec.kind !== "program") continue;
    if (sec.symbols.size === 0) throw fail(which, `section ${sec.elf.name}: missing symbols`);
    let insns: Insn[];
    try {
      insns = decodeInstructions(elf.data(sec.elf), le);
    } catch (e) {
      throw fail(which, `decoding instructions for section ${sec.elf.name}: ${(e as Error).message}`);
    }
    if (insns.length === 0) throw fail(which, `no instructions found in section ${sec.elf.name}`);
    let raw = 0;
    for (const ins of insns) {
      const at = raw * 8;
      const sym = sec.symbols.get(at);
      if (sym) ins.symbol = sym.name;
      const rel = sec.relocations.get(at);
      if (rel) relocate(ins, rel, `section ${sec.elf.name}: offset ${at}`);
      else if (isFunctionReference(ins) && ins.imm !== -1n) {
        // referenceRelativeJump: a call within the section without a relocation
        let dest = Number(ins.imm) * 8 + at + 8;
        if (dest < 0) dest = 0;
        const target = sec.symbols.get(dest)?.name ?? "";
        if (!target) throw fail(which, `section ${sec.elf.name}: offset ${at}: resolving relative jump: no jump target found at offset ${dest}`);
        ins.reference = target;
        ins.imm = -1n;
      }
      raw += rawSlots(ins);
    }
    // BTF line info (one per instruction, in offset order: btf.AssignMetadataToInstructions)
    const li = (lines.get(sec.elf.name) ?? []).slice();
    raw = 0;
    for (const ins of insns) {
      if (li.length > 0 && li[0]!.offset === raw) ins.source = li.shift()!.line;
      raw += rawSlots(ins);
    }
    // splitSymbols
    if (!insns[0]!.symbol) throw fail(which, `section ${sec.elf.name}: insns must start with a Symbol`);
    let start = 0;
    const flush = (end: number) => {
      const name = insns[start]!.symbol!;
      if (progs.has(name)) throw fail(which, `duplicate program name ${name}`);
      progs.set(name, { name, section: sec.elf.name, instructions: insns.slice(start, end) });
      if (sec.elf.name !== ".text") exported.push(name);
    };
    for (let i = 1; i < insns.length; i++) {
      if (!insns[i]!.symbol) continue;
      flush(i);
      start = i;
    }
    flush(insns.length);
  }

  // flattenPrograms: append the subprograms each exported program calls, breadth first
  const refsOf = (p: ProgramInfo) => [...new Set(p.instructions.filter((i) => i.imm === -1n && i.reference && isFunctionReference(i)).map((i) => i.reference!))].sort();
  const refs = new Map<string, string[]>([...progs.values()].map((p) => [p.name, refsOf(p)]));
  const flattened = exported.map((name) => {
    const prog = progs.get(name)!;
    const pending = [...(refs.get(name) ?? [])];
    if (pending.length === 0) return prog.instructions;
    const out = prog.instructions.slice();
    const linked = new Set<string>();
    while (pending.length > 0) {
      const ref = pending.shift()!;
      if (linked.has(ref)) continue;
      const callee = progs.get(ref);
      if (!callee) continue;
      out.push(...callee.instructions);
      linked.add(ref);
      pending.push(...(refs.get(ref) ?? []));
    }
    return out;
  });
  exported.forEach((name, i) => (progs.get(name)!.instructions = flattened[i]!));

  return {
    sections: elf.sections.map((s) => s.name),
    maps,
    programs: [...progs.values()].filter((p) => p.section !== ".text"),
    variables,
  };
}
