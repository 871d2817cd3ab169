/**
 * A BPF object as `ig image build` sees it (through cilium/ebpf's CollectionSpec): global
 * variables from BTF (qualifiers, C type, type hint, initial value), BTF-defined maps, programs,
 * `__kconfig`/`__ksym` externs and the symbols nothing defines, and the `GADGET_*` markers of
 * ig's include/gadget/macros.h (`gadget_param_<var>`, `gadget_tracer_<name>___<map>___<struct>`,
 * `gadget_snapshotter_<name>___<struct>___<prog>…`, `gadget_mapiter_<name>___<map>`,
 * `gadget_topper_<name>___<map>`), which are `const void *` globals.
 *
 * Whatever the bytes, reading either returns a BpfObject or throws one GadgetError
 * `reading eBPF object (<which>): <why>` — never a RangeError or TypeError.
 */
import { GadgetError, isGadgetError } from "../errors.js";
import { BtfKind, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, BTF_VAR_GLOBAL_ALLOCATED, BTF_VAR_GLOBAL_EXTERN, parseBtf, typeSize, typeToC, underlying, type Btf, type BtfType } from "./btf.js";
import { EM_BPF, parseElf, SHF_EXECINSTR, SHN_UNDEF, SHT_NOBITS, STT_FILE, STT_FUNC, STT_SECTION, STB_LOCAL, type ElfFile, type ElfSymbol } from "./elf.js";

export type Linkage = "static" | "global" | "extern";

export interface BpfGlobal {
  name: string;
  /** ELF section of the variable (from the BTF DATASEC), e.g. ".rodata", ".bss", ".data.foo", ".kconfig". */
  section: string;
  /** The VAR's type id. */
  typeId: number;
  linkage: Linkage;
  /** `const` qualifies the variable's type (after typedefs, or its elements' type for an array). */
  isConst: boolean;
  /** … and `volatile` does. ig's parameter rule is stricter: see checkParamVar. */
  isVolatile: boolean;
  /** C spelling, e.g. `const volatile __u32`, `const volatile gadget_comm[16]`. */
  cType: string;
  /** Size in bytes from the BTF type (the ELF symbol's size when BTF has none). */
  size: number;
  /** Offset in its section, from the ELF symbol table (clang leaves DATASEC offsets 0 in a .o). */
  offset?: number;
  /** ig's params type hint (int8…uint64, bool, float32, float64) or "" when none applies. */
  typeHint: string;
  /** Initial value from the section's bytes (numbers, bools, enums; char arrays as text), when known. */
  value?: string;
}

export interface BpfMap {
  name: string;
  /** BPF_MAP_TYPE_* number, from the BTF map definition's `type` member. */
  type?: number;
  /** BTF type ids of `__type(key, …)` / `__type(value, …)` (the pointer targets, as cilium/ebpf keeps them). */
  keyTypeId?: number;
  valueTypeId?: number;
  /** Name of the value type (for maps with a BTF value), if any. */
  valueType?: string;
  keySize?: number;
  valueSize?: number;
  maxEntries?: number;
  /** Map of maps: the inner map's definition (`__array(values, …)`). */
  inner?: BpfMap;
}

export interface BpfProgram {
  /** Function name (ig and libbpf refer to programs by it). */
  name: string;
  /** ELF section, e.g. `iter/task`, `tracepoint/syscalls/sys_enter_openat`. */
  section: string;
  /** cilium/ebpf's program type for that section, e.g. "Tracing", "Kprobe", "TracePoint". */
  type: string;
}

export interface BpfExtern {
  name: string;
  /** `.kconfig` (a kernel config value) or `.ksyms` (a kernel symbol or kfunc). */
  section: ".kconfig" | ".ksyms";
  isFunction: boolean;
}

export interface GadgetMarker {
  kind: "param" | "tracer" | "snapshotter" | "mapiter" | "topper";
  /** The whole variable name, e.g. `gadget_tracer_exec___events___event`. */
  variable: string;
  /** The parts after the prefix, split on `___`. */
  parts: string[];
  /** Why the marker is malformed (not a `const void *` global), if it is: ig's words. */
  problem?: string;
}

export interface BpfObject {
  machine: number;
  btf: Btf;
  globals: BpfGlobal[];
  maps: BpfMap[];
  programs: BpfProgram[];
  markers: GadgetMarker[];
  /** Externs libbpf resolves at load time (`__kconfig`, `__ksym`). */
  externs: BpfExtern[];
  /** Undefined symbols that are not such externs: nothing can resolve them at load time. */
  unresolvedSymbols: string[];
  /** Section names of the object (e.g. to check `.debug_*` were stripped). */
  sections: string[];
}

export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
export const BPF_MAP_TYPE_RINGBUF = 27;

/** cilium/ebpf's MapType names (what ig prints in "got: %s"). */
const MAP_TYPE_NAMES = [
  "UnspecifiedMap", "Hash", "Array", "ProgramArray", "PerfEventArray", "PerCPUHash", "PerCPUArray", "StackTrace",
  "CGroupArray", "LRUHash", "LRUCPUHash", "LPMTrie", "ArrayOfMaps", "HashOfMaps", "DevMap", "SockMap", "CPUMap",
  "XSKMap", "SockHash", "CGroupStorage", "ReusePortSockArray", "PerCPUCGroupStorage", "Queue", "Stack", "SkStorage",
  "DevMapHash", "StructOpsMap", "RingBuf", "InodeStorage", "TaskStorage", "BloomFilter", "UserRingbuf", "CgroupStorage", "Arena",
];

export function mapTypeName(type: number | undefined): string {
  return type === undefined ? "UnspecifiedMap" : (MAP_TYPE_NAMES[type] ?? `MapType(${type})`);
}

const MARKER_PREFIXES: [GadgetMarker["kind"], string][] = [
  ["param", "gadget_param_"],
  ["tracer", "gadget_tracer_"],
  ["snapshotter", "gadget_snapshotter_"],
  ["mapiter", "gadget_mapiter_"],
  ["topper", "gadget_topper_"],
];

/** Go's %q for the names ig quotes in its messages (strconv.Quote). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (c === 0x07) out += "\\a";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0b) out += "\\v";
    else if (c === 0xfffd) out += "\\ufffd";
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) out += ch;
    else if (c < 0x80) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += `\\U${c.toString(16).padStart(8, "0")}`;
  }
  return `${out}"`;
}

/** Any failure while reading the object, as the one error the user sees. */
function readError(which: string, e: unknown): GadgetError {
  if (isGadgetError(e)) {
    if (e.what === "reading eBPF object") return e;
    return new GadgetError({ what: "reading eBPF object", which, why: e.message, hint: e.hint, code: e.code, cause: e });
  }
  const err = e as Error;
  return new GadgetError({
    what: "reading eBPF object",
    which,
    why: `internal error: ${err?.name ?? "Error"}: ${err?.message ?? String(e)}`,
    hint: "the object looks damaged; rebuild it, and report this if it persists",
    code: "BPF_READER_INTERNAL",
    cause: e,
  });
}

export function readBpfObject(bytes: Uint8Array, which = "eBPF object"): BpfObject {
  try {
    return readUnchecked(bytes, which);
  } catch (e) {
    throw readError(which, e);
  }
}

function readUnchecked(bytes: Uint8Array, which: string): BpfObject {
  const elf = parseElf(bytes, "");
  if (elf.machine !== EM_BPF) {
    throw new GadgetError({ what: "reading eBPF object", which, why: `not an eBPF object: ELF machine is ${elf.machine}, expected ${EM_BPF} (EM_BPF)`, code: "BAD_ELF" });
  }
  const btfSec = elf.section(".BTF");
  if (!btfSec) {
    throw new GadgetError({ what: "reading eBPF object", which, why: "no .BTF section", hint: "compile with clang -g (ig's build does)", code: "NO_BTF" });
  }
  const btf = parseBtf(elf.data(btfSec), elf.littleEndian, ".BTF");
  const globals = collectGlobals(elf, btf);
  const externs = collectExterns(btf);
  return {
    machine: elf.machine,
    btf,
    globals,
    maps: collectMaps(btf, globals),
    programs: collectPrograms(elf),
    markers: collectMarkers(btf, globals),
    externs,
    unresolvedSymbols: unresolved(elf, externs),
    sections: elf.sections.map((s) => s.name).filter(Boolean),
  };
}

/**
 * Undefined symbols of an object that libbpf cannot resolve at load time (neither a `__kconfig`
 * nor a `__ksym` extern), e.g. `memcmp` when clang 14 leaves a library call. Reads only the ELF
 * symbol table and the BTF externs; errors as readBpfObject's.
 */
export function unresolvedSymbols(bytes: Uint8Array, which = "eBPF object"): string[] {
  try {
    const elf = parseElf(bytes, "");
    const btfSec = elf.section(".BTF");
    const externs = btfSec ? collectExterns(parseBtf(elf.data(btfSec), elf.littleEndian, ".BTF")) : [];
    return unresolved(elf, externs);
  } catch (e) {
    throw readError(which, e);
  }
}

function linkageOf(n: number | undefined): Linkage {
  return n === BTF_VAR_GLOBAL_ALLOCATED ? "global" : n === BTF_VAR_GLOBAL_EXTERN ? "extern" : "static";
}

const QUALIFIERS = new Set([BtfKind.Typedef, BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.TypeTag]);

/** ig's getTypeHint: integer sizes/signedness, bool, char → uint8, floats; through typedefs and qualifiers. Enums and arrays have none. */
export function typeHintOf(btf: Btf, id: number): string {
  const t = underlying(btf, id);
  if (t.kind === BtfKind.Int) {
    const enc = t.intEncoding ?? 0;
    if (enc & BTF_INT_BOOL) return "bool";
    if (enc & BTF_INT_CHAR) return "uint8";
    const signed = (enc & BTF_INT_SIGNED) !== 0;
    if ([1, 2, 4, 8].includes(t.size)) return `${signed ? "int" : "uint"}${t.size * 8}`;
    return "";
  }
  if (t.kind === BtfKind.Float) return t.size === 4 ? "float32" : t.size === 8 ? "float64" : "";
  return "";
}

/** An enum is signed when BTF says so (kind_flag) or, for older clang, when a value is negative. */
function enumSigned(t: BtfType): boolean {
  return t.kindFlag || (t.members ?? []).some((m) => m.offset < 0);
}

function readInt(dv: DataView, size: number, signed: boolean, le: boolean): string | undefined {
  switch (size) {
    case 1:
      return String(signed ? dv.getInt8(0) : dv.getUint8(0));
    case 2:
      return String(signed ? dv.getInt16(0, le) : dv.getUint16(0, le));
    case 4:
      return String(signed ? dv.getInt32(0, le) : dv.getUint32(0, le));
    case 8:
      return String(signed ? dv.getBigInt64(0, le) : dv.getBigUint64(0, le));
    default:
      return undefined;
  }
}

/**
 * The value of `bytes` read as BTF type `id`, each read sized by the type's own size: ints and
 * enums of 1, 2, 4 or 8 bytes, enum64, bool, floats; a char/byte array as text up to its NUL.
 * Undefined when the type is something else or the bytes do not cover it.
 */
export function decodeValue(btf: Btf, id: number, bytes: Uint8Array, le: boolean): string | undefined {
  const t = underlying(btf, id);
  const size = t.kind === BtfKind.Array ? typeSize(btf, t.id) : t.size;
  if (size <= 0 || size > bytes.length) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
  switch (t.kind) {
    case BtfKind.Int: {
      const enc = t.intEncoding ?? 0;
      if (enc & BTF_INT_BOOL) return bytes.subarray(0, size).some((b) => b !== 0) ? "true" : "false";
      return readInt(dv, size, (enc & BTF_INT_SIGNED) !== 0, le);
    }
    case BtfKind.Enum:
    case BtfKind.Enum64:
      return readInt(dv, size, enumSigned(t), le);
    case BtfKind.Float:
      return size === 4 ? String(dv.getFloat32(0, le)) : size === 8 ? String(dv.getFloat64(0, le)) : undefined;
    case BtfKind.Array: {
      const elem = underlying(btf, t.array!.type);
      if (elem.kind !== BtfKind.Int || elem.size !== 1 || (elem.intEncoding ?? 0) & BTF_INT_BOOL) return undefined;
      const chars = bytes.subarray(0, size);
      const end = chars.indexOf(0);
      const text = Buffer.from(chars.buffer, chars.byteOffset, end < 0 ? size : end).toString("latin1");
      return /^[\x20-\x7e]*$/.test(text) ? text : undefined;
    }
    default:
      return undefined;
  }
}

/** Defined symbols by name and section index. */
function symbolIndex(elf: ElfFile): Map<string, ElfSymbol> {
  const idx = new Map<string, ElfSymbol>();
  for (const s of elf.symbols()) {
    if (!s.name || s.section === SHN_UNDEF || s.type === STT_SECTION || s.type === STT_FILE) continue;
    const key = `${s.section}\0${s.name}`;
    if (!idx.has(key)) idx.set(key, s);
  }
  return idx;
}

function collectGlobals(elf: ElfFile, btf: Btf): BpfGlobal[] {
  const out: BpfGlobal[] = [];
  const seen = new Set<number>();
  const symbols = symbolIndex(elf);
  for (const sec of btf.types) {
    if (sec.kind !== BtfKind.Datasec) continue;
    const elfSec = elf.section(sec.name);
    for (const v of sec.secinfo ?? []) {
      const vt = btf.get(v.type);
      if (vt.kind !== BtfKind.Var || seen.has(vt.id)) continue;
      seen.add(vt.id);
      const sym = elfSec ? symbols.get(`${elfSec.index}\0${vt.name}`) : undefined;
      out.push(describeVar(elf, btf, vt, sec.name, sym));
    }
  }
  // VARs not listed in any DATASEC (rare): still report them.
  for (const t of btf.types) if (t.kind === BtfKind.Var && !seen.has(t.id)) out.push(describeVar(elf, btf, t, "", undefined));
  return out;
}

/** Leading const/volatile qualifiers of a variable's type (through typedefs, and one array level as ig allows). */
function qualifiersOf(btf: Btf, typeId: number): { isConst: boolean; isVolatile: boolean } {
  let isConst = false;
  let isVolatile = false;
  let t = btf.get(typeId);
  let arrays = 0;
  for (let guard = 0; guard < 64; guard++) {
    if (t.kind === BtfKind.Const) isConst = true;
    else if (t.kind === BtfKind.Volatile) isVolatile = true;
    else if (t.kind === BtfKind.Array && arrays++ === 0) {
      t = btf.get(t.array!.type);
      continue;
    } else if (!QUALIFIERS.has(t.kind)) break;
    t = btf.get(t.type);
  }
  return { isConst, isVolatile };
}

function describeVar(elf: ElfFile, btf: Btf, v: BtfType, section: string, sym: ElfSymbol | undefined): BpfGlobal {
  const size = typeSize(btf, v.type) || sym?.size || 0;
  const g: BpfGlobal = {
    name: v.name,
    section,
    typeId: v.type,
    linkage: linkageOf(v.linkage),
    ...qualifiersOf(btf, v.type),
    cType: typeToC(btf, v.type),
    size,
    typeHint: typeHintOf(btf, v.type),
  };
  if (sym) {
    g.offset = sym.value;
    const value = readVarValue(elf, btf, g, sym);
    if (value !== undefined) g.value = value;
  }
  return g;
}

/** Largest variable whose initial value is decoded (bigger ones are buffers, not settings). */
const MAX_VALUE_BYTES = 4096;

function readVarValue(elf: ElfFile, btf: Btf, g: BpfGlobal, sym: ElfSymbol): string | undefined {
  const sec = elf.sections[sym.section];
  if (!sec || g.size <= 0 || g.size > MAX_VALUE_BYTES) return undefined;
  // .bss and other NOBITS sections have no bytes in the file: their variables start as zero.
  if (sec.type === SHT_NOBITS) return sym.value + g.size <= sec.size ? decodeValue(btf, g.typeId, new Uint8Array(g.size), elf.littleEndian) : undefined;
  const data = elf.data(sec);
  if (sym.value > data.length || g.size > data.length - sym.value) return undefined;
  return decodeValue(btf, g.typeId, data.subarray(sym.value, sym.value + g.size), elf.littleEndian);
}

/** `__uint(name, N)` is a pointer to an array of N elements. */
function uintMember(btf: Btf, typeId: number): number | undefined {
  const p = btf.get(typeId);
  if (p.kind !== BtfKind.Ptr) return undefined;
  const arr = btf.get(p.type);
  return arr.kind === BtfKind.Array ? arr.array!.nelems : undefined;
}

function mapFromDefinition(btf: Btf, name: string, defId: number, depth: number): BpfMap {
  const def = underlying(btf, defId);
  const m: BpfMap = { name };
  for (const member of def.members ?? []) {
    const mt = btf.get(member.type);
    switch (member.name) {
      case "type":
        m.type = uintMember(btf, member.type);
        break;
      case "max_entries":
        m.maxEntries = uintMember(btf, member.type);
        break;
      case "key_size":
        m.keySize = uintMember(btf, member.type);
        break;
      case "value_size":
        m.valueSize = uintMember(btf, member.type);
        break;
      case "key":
        if (mt.kind === BtfKind.Ptr) {
          m.keyTypeId = mt.type;
          m.keySize ??= typeSize(btf, mt.type);
        }
        break;
      case "value":
        if (mt.kind === BtfKind.Ptr) {
          m.valueTypeId = mt.type;
          m.valueSize ??= typeSize(btf, mt.type);
          const vt = underlying(btf, mt.type);
          if (vt.name) m.valueType = vt.name;
        }
        break;
      case "values": {
        // map of maps: `__array(values, struct inner_def)` is an array of pointers to the inner definition
        const arr = underlying(btf, member.type);
        const ptr = arr.kind === BtfKind.Array ? btf.get(arr.array!.type) : undefined;
        if (ptr?.kind === BtfKind.Ptr && depth < 4) m.inner = mapFromDefinition(btf, `${name}.inner`, ptr.type, depth + 1);
        break;
      }
    }
  }
  return m;
}

function collectMaps(btf: Btf, globals: BpfGlobal[]): BpfMap[] {
  return globals.filter((g) => g.section === ".maps").map((g) => mapFromDefinition(btf, g.name, g.typeId, 0));
}

/** cilium/ebpf's program type for an ELF section name (enough of its table for ig's messages). */
export function programTypeOf(section: string): string {
  const table: [RegExp, string][] = [
    [/^(iter|iter\.s|fentry|fentry\.s|fexit|fexit\.s|fmod_ret|fmod_ret\.s|tp_btf|freplace)\//, "Tracing"],
    [/^(kprobe|kretprobe|uprobe|uretprobe|uprobe\.s|uretprobe\.s|kprobe\.multi|kretprobe\.multi|usdt)(\/|$)/, "Kprobe"],
    [/^(tracepoint|tp)\//, "TracePoint"],
    [/^(raw_tracepoint|raw_tp)\//, "RawTracepoint"],
    [/^(raw_tracepoint\.w|raw_tp\.w)\//, "RawTracepointWritable"],
    [/^(tc|classifier|tcx\/|netkit\/)/, "SchedCLS"],
    [/^action/, "SchedACT"],
    [/^xdp/, "XDP"],
    [/^socket/, "SocketFilter"],
    [/^sk_skb/, "SkSKB"],
    [/^sk_msg/, "SkMsg"],
    [/^sockops/, "SockOps"],
    [/^lsm(\.s)?\//, "LSM"],
    [/^perf_event/, "PerfEvent"],
    [/^cgroup_skb\//, "CGroupSKB"],
    [/^cgroup\/sock/, "CGroupSock"],
    [/^cgroup\//, "CGroupSockAddr"],
    [/^struct_ops/, "StructOps"],
    [/^syscall/, "Syscall"],
    [/^sk_lookup/, "SkLookup"],
  ];
  return table.find(([re]) => re.test(section))?.[1] ?? "UnspecifiedProgram";
}

function collectPrograms(elf: ElfFile): BpfProgram[] {
  const out: BpfProgram[] = [];
  for (const s of elf.symbols()) {
    if (s.type !== STT_FUNC || s.bind === STB_LOCAL || !s.name) continue;
    const sec = elf.sections[s.section];
    if (!sec || (sec.flags & SHF_EXECINSTR) === 0n || sec.name === ".text") continue;
    out.push({ name: s.name, section: sec.name, type: programTypeOf(sec.name) });
  }
  return out;
}

function collectExterns(btf: Btf): BpfExtern[] {
  const out: BpfExtern[] = [];
  for (const sec of btf.types) {
    if (sec.kind !== BtfKind.Datasec || (sec.name !== ".kconfig" && sec.name !== ".ksyms")) continue;
    for (const v of sec.secinfo ?? []) {
      const t = btf.get(v.type);
      if ((t.kind === BtfKind.Var || t.kind === BtfKind.Func) && t.linkage === BTF_VAR_GLOBAL_EXTERN) {
        out.push({ name: t.name, section: sec.name, isFunction: t.kind === BtfKind.Func });
      }
    }
  }
  return out;
}

/** Undefined global symbols that libbpf cannot resolve: not a `__kconfig` or `__ksym` extern. */
function unresolved(elf: ElfFile, externs: BpfExtern[]): string[] {
  const known = new Set(externs.map((e) => e.name));
  const out = new Set<string>();
  for (const s of elf.symbols()) {
    if (s.section !== SHN_UNDEF || !s.name || s.bind === STB_LOCAL || s.type === STT_SECTION || s.type === STT_FILE) continue;
    if (!known.has(s.name)) out.add(s.name);
  }
  return [...out];
}

function collectMarkers(btf: Btf, globals: BpfGlobal[]): GadgetMarker[] {
  const out: GadgetMarker[] = [];
  for (const g of globals) {
    const hit = MARKER_PREFIXES.find(([, p]) => g.name.startsWith(p));
    if (!hit) continue;
    const [kind, prefix] = hit;
    const m: GadgetMarker = { kind, variable: g.name, parts: g.name.slice(prefix.length).split("___") };
    // ig's GetGadgetIdentByPrefix, in its order and words
    const ptr = btf.get(g.typeId);
    if (g.linkage !== "global") m.problem = `${goQuote(g.name)} is not a global variable`;
    else if (ptr.kind !== BtfKind.Ptr) m.problem = `${goQuote(g.name)} is not a pointer`;
    else {
      const c = btf.get(ptr.type);
      if (c.kind !== BtfKind.Const) m.problem = `${goQuote(g.name)} is not const`;
      else if (btf.get(c.type).kind !== BtfKind.Void) m.problem = `${goQuote(g.name)} is not a const void pointer`;
    }
    out.push(m);
  }
  return out;
}
