/**
 * A BPF object as `ig image build` sees it: machine check, global variables from BTF (with
 * their const/volatile qualifiers, C type, type hint and initial value), BTF-defined maps, and
 * the `GADGET_*` macro markers of ig's include/gadget/macros.h (`gadget_param_<var>`,
 * `gadget_tracer_<name>___<map>___<struct>`, `gadget_snapshotter_…`, `gadget_mapiter_…`,
 * `gadget_topper_…`), which are `const void *` globals.
 */
import { GadgetError } from "../errors.js";
import { BtfKind, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, BTF_VAR_GLOBAL_ALLOCATED, BTF_VAR_GLOBAL_EXTERN, parseBtf, typeSize, typeToC, underlying, type Btf } from "./btf.js";
import { EM_BPF, parseElf, type ElfFile } from "./elf.js";

export type Linkage = "static" | "global" | "extern";

export interface BpfGlobal {
  name: string;
  /** ELF section of the variable (from the BTF DATASEC), e.g. ".rodata", ".bss", ".maps". */
  section: string;
  typeId: number;
  linkage: Linkage;
  /** The variable's own type is `const` (after typedefs) … */
  isConst: boolean;
  /** … of a `volatile` type: ig's requirement for a parameter (`const volatile T x`). */
  isVolatile: boolean;
  /** C spelling, e.g. `const volatile __u32`. */
  cType: string;
  size: number;
  /** ig's params type hint (int8…uint64, bool, float32, float64) or "" when none applies. */
  typeHint: string;
  /** Initial value from the section bytes (numbers/bools), when known. */
  value?: string;
}

export interface BpfMap {
  name: string;
  /** BPF_MAP_TYPE_* number, from the BTF map definition's `type` member. */
  type?: number;
  /** Name of the value type (for hash maps with a BTF value), if any. */
  valueType?: string;
}

export interface GadgetMarker {
  kind: "param" | "tracer" | "snapshotter" | "mapiter" | "topper";
  /** The whole variable name, e.g. `gadget_tracer_exec___events___event`. */
  variable: string;
  /** The parts after the prefix, split on `___`. */
  parts: string[];
  /** Why the marker is malformed (not a `const void *` global), if it is. */
  problem?: string;
}

export interface BpfObject {
  machine: number;
  btf: Btf;
  globals: BpfGlobal[];
  maps: BpfMap[];
  markers: GadgetMarker[];
  /** Section names of the object (e.g. to check `.debug_*` were stripped). */
  sections: string[];
}

export const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_RINGBUF = 27;

const MARKER_PREFIXES: [GadgetMarker["kind"], string][] = [
  ["param", "gadget_param_"],
  ["tracer", "gadget_tracer_"],
  ["snapshotter", "gadget_snapshotter_"],
  ["mapiter", "gadget_mapiter_"],
  ["topper", "gadget_topper_"],
];

export function readBpfObject(bytes: Uint8Array, which = "eBPF object"): BpfObject {
  const elf = parseElf(bytes, which);
  if (elf.machine !== EM_BPF) {
    throw new GadgetError({ what: "not an eBPF object", which, why: `ELF machine is ${elf.machine}, expected ${EM_BPF} (EM_BPF)`, code: "BAD_ELF" });
  }
  const btfSec = elf.section(".BTF");
  if (!btfSec) {
    throw new GadgetError({ what: "eBPF object has no BTF", which, why: "no .BTF section", hint: "compile with clang -g (ig's build does)", code: "NO_BTF" });
  }
  const btf = parseBtf(elf.data(btfSec), elf.littleEndian, `${which}: .BTF`);
  const globals = collectGlobals(elf, btf);
  return {
    machine: elf.machine,
    btf,
    globals,
    maps: collectMaps(btf, globals),
    markers: collectMarkers(btf, globals),
    sections: elf.sections.map((s) => s.name).filter(Boolean),
  };
}

function linkageOf(n: number | undefined): Linkage {
  return n === BTF_VAR_GLOBAL_ALLOCATED ? "global" : n === BTF_VAR_GLOBAL_EXTERN ? "extern" : "static";
}

/** ig's getTypeHint: integer sizes/signedness, bool, char → uint8, floats; through typedefs and volatile. */
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
  if (t.kind === BtfKind.Enum) return t.size === 8 ? "int64" : "int32";
  return "";
}

function readValue(elf: ElfFile, btf: Btf, g: BpfGlobal): string | undefined {
  const sec = elf.section(g.section);
  if (!sec) return undefined;
  const sym = elf.symbols().find((s) => s.name === g.name && s.section === sec.index);
  if (!sym) return undefined;
  const data = elf.data(sec);
  if (data.length === 0 && g.section.startsWith(".bss")) return g.typeHint ? (g.typeHint === "bool" ? "false" : "0") : undefined;
  if (sym.value + g.size > data.length || !g.typeHint) return undefined;
  const dv = new DataView(data.buffer, data.byteOffset + sym.value, g.size);
  const le = elf.littleEndian;
  switch (g.typeHint) {
    case "bool":
      return dv.getUint8(0) !== 0 ? "true" : "false";
    case "int8":
      return String(dv.getInt8(0));
    case "uint8":
      return String(dv.getUint8(0));
    case "int16":
      return String(dv.getInt16(0, le));
    case "uint16":
      return String(dv.getUint16(0, le));
    case "int32":
      return String(dv.getInt32(0, le));
    case "uint32":
      return String(dv.getUint32(0, le));
    case "int64":
      return String(dv.getBigInt64(0, le));
    case "uint64":
      return String(dv.getBigUint64(0, le));
    case "float32":
      return String(dv.getFloat32(0, le));
    case "float64":
      return String(dv.getFloat64(0, le));
    default:
      return undefined;
  }
}

function collectGlobals(elf: ElfFile, btf: Btf): BpfGlobal[] {
  const out: BpfGlobal[] = [];
  const seen = new Set<number>();
  for (const sec of btf.types) {
    if (sec.kind !== BtfKind.Datasec) continue;
    for (const v of sec.secinfo ?? []) {
      const vt = btf.get(v.type);
      if (vt.kind !== BtfKind.Var) continue;
      seen.add(vt.id);
      out.push(describeVar(elf, btf, vt.id, sec.name));
    }
  }
  // VARs not listed in any DATASEC (rare): still report them.
  for (const t of btf.types) if (t.kind === BtfKind.Var && !seen.has(t.id)) out.push(describeVar(elf, btf, t.id, ""));
  return out;
}

function describeVar(elf: ElfFile, btf: Btf, varId: number, section: string): BpfGlobal {
  const v = btf.get(varId);
  // ig's check: the VAR's type is CONST whose type is VOLATILE (clang emits `const volatile T` so).
  let t = btf.get(v.type);
  let isConst = false;
  let isVolatile = false;
  for (let guard = 0; guard < 8; guard++) {
    if (t.kind === BtfKind.Const) {
      isConst = true;
      t = btf.get(t.type);
    } else if (t.kind === BtfKind.Volatile) {
      isVolatile = true;
      t = btf.get(t.type);
    } else break;
  }
  const g: BpfGlobal = {
    name: v.name,
    section,
    typeId: v.type,
    linkage: linkageOf(v.linkage),
    isConst,
    isVolatile,
    cType: typeToC(btf, v.type),
    size: typeSize(btf, v.type),
    typeHint: typeHintOf(btf, v.type),
  };
  const value = readValue(elf, btf, g);
  if (value !== undefined) g.value = value;
  return g;
}

function collectMaps(btf: Btf, globals: BpfGlobal[]): BpfMap[] {
  const out: BpfMap[] = [];
  for (const g of globals) {
    if (g.section !== ".maps") continue;
    const def = underlying(btf, g.typeId);
    const m: BpfMap = { name: g.name };
    for (const member of def.members ?? []) {
      const mt = btf.get(member.type);
      if (member.name === "type" && mt.kind === BtfKind.Ptr) {
        const arr = btf.get(mt.type);
        if (arr.kind === BtfKind.Array) m.type = arr.array!.nelems;
      } else if (member.name === "value" && mt.kind === BtfKind.Ptr) {
        const vt = underlying(btf, mt.type);
        if (vt.name) m.valueType = vt.name;
      }
    }
    out.push(m);
  }
  return out;
}

function collectMarkers(btf: Btf, globals: BpfGlobal[]): GadgetMarker[] {
  const out: GadgetMarker[] = [];
  for (const g of globals) {
    const hit = MARKER_PREFIXES.find(([, p]) => g.name.startsWith(p));
    if (!hit) continue;
    const [kind, prefix] = hit;
    const m: GadgetMarker = { kind, variable: g.name, parts: g.name.slice(prefix.length).split("___") };
    const ptr = btf.get(g.typeId);
    if (g.linkage !== "global") m.problem = `${JSON.stringify(g.name)} is not a global variable`;
    else if (ptr.kind !== BtfKind.Ptr) m.problem = `${JSON.stringify(g.name)} is not a pointer`;
    else {
      const c = btf.get(ptr.type);
      if (c.kind !== BtfKind.Const) m.problem = `${JSON.stringify(g.name)} is not const`;
      else if (btf.get(c.type).kind !== BtfKind.Void) m.problem = `${JSON.stringify(g.name)} is not a const void pointer`;
    }
    out.push(m);
  }
  return out;
}
