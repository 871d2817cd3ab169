/**
 * A BTF (BPF Type Format) reader for the `.BTF` section of a BPF object: every type kind of
 * the kernel's uapi/linux/btf.h up to ENUM64, with names resolved. Pure: works on bytes.
 */
import { GadgetError } from "../errors.js";

export const BTF_MAGIC = 0xeb9f;

export enum BtfKind {
  Void = 0,
  Int = 1,
  Ptr = 2,
  Array = 3,
  Struct = 4,
  Union = 5,
  Enum = 6,
  Fwd = 7,
  Typedef = 8,
  Volatile = 9,
  Const = 10,
  Restrict = 11,
  Func = 12,
  FuncProto = 13,
  Var = 14,
  Datasec = 15,
  Float = 16,
  DeclTag = 17,
  TypeTag = 18,
  Enum64 = 19,
}

export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

/** VAR linkage. */
export const BTF_VAR_STATIC = 0;
export const BTF_VAR_GLOBAL_ALLOCATED = 1;
export const BTF_VAR_GLOBAL_EXTERN = 2;

export interface BtfMember {
  name: string;
  type: number;
  /** Bit offset (struct/union), or value (enum), or parameter type (func proto: `type`). */
  offset: number;
  /** Struct/union bitfield width in bits (kind_flag set and a non-zero size); absent otherwise. */
  bitfieldSize?: number;
}

export interface BtfSecVar {
  type: number;
  offset: number;
  size: number;
}

export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** Size in bytes (int, struct, union, enum, datasec, float). */
  size: number;
  /** Referenced type (ptr, typedef, modifiers, func, var, array element, func proto return). */
  type: number;
  kindFlag: boolean;
  vlen: number;
  /** INT: encoding bits and bit count. */
  intEncoding?: number;
  intBits?: number;
  /** ARRAY. */
  array?: { type: number; indexType: number; nelems: number };
  members?: BtfMember[];
  /** VAR linkage / FUNC linkage. */
  linkage?: number;
  secinfo?: BtfSecVar[];
}

export interface Btf {
  types: BtfType[];
  /** Type by id (0 = void). */
  get(id: number): BtfType;
  /** First type of that name (and kind, if given). */
  byName(name: string, kind?: BtfKind): BtfType | undefined;
}

const VOID: BtfType = { id: 0, kind: BtfKind.Void, name: "void", size: 0, type: 0, kindFlag: false, vlen: 0 };

function bad(which: string, why: string): GadgetError {
  return new GadgetError({ what: "invalid BTF", which, why, code: "BAD_BTF" });
}

export function parseBtf(bytes: Uint8Array, littleEndian = true, which = ".BTF"): Btf {
  if (bytes.length < 24) throw bad(which, "truncated header");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le = littleEndian;
  let magic = dv.getUint16(0, le);
  if (magic !== BTF_MAGIC) {
    le = !le;
    magic = dv.getUint16(0, le);
    if (magic !== BTF_MAGIC) throw bad(which, "bad magic");
  }
  const u32 = (o: number) => dv.getUint32(o, le);
  const i32 = (o: number) => dv.getInt32(o, le);
  const hdrLen = u32(4);
  const typeOff = hdrLen + u32(8);
  const typeLen = u32(12);
  const strOff = hdrLen + u32(16);
  const strLen = u32(20);
  if (hdrLen < 24 || typeOff + typeLen > bytes.length || strOff + strLen > bytes.length) throw bad(which, "sections out of bounds");
  const strings = new Map<number, string>();
  const str = (off: number): string => {
    if (off >= strLen) throw bad(which, `string offset ${off} out of bounds`);
    let s = strings.get(off);
    if (s === undefined) {
      let end = strOff + off;
      while (end < strOff + strLen && bytes[end] !== 0) end++;
      s = Buffer.from(bytes.buffer, bytes.byteOffset + strOff + off, end - strOff - off).toString("utf8");
      strings.set(off, s);
    }
    return s;
  };

  const types: BtfType[] = [VOID];
  let o = typeOff;
  const end = typeOff + typeLen;
  while (o < end) {
    if (o + 12 > end) throw bad(which, "truncated type");
    const nameOff = u32(o);
    const info = u32(o + 4);
    const sizeOrType = u32(o + 8);
    const kind = ((info >>> 24) & 0x1f) as BtfKind;
    const vlen = info & 0xffff;
    const t: BtfType = { id: types.length, kind, name: str(nameOff), size: 0, type: 0, kindFlag: (info >>> 31) === 1, vlen };
    o += 12;
    const need = (n: number) => {
      if (o + n > end) throw bad(which, `truncated type ${t.id}`);
    };
    switch (kind) {
      case BtfKind.Int: {
        need(4);
        const v = u32(o);
        t.size = sizeOrType;
        t.intEncoding = (v >>> 24) & 0x0f;
        t.intBits = v & 0xff;
        o += 4;
        break;
      }
      case BtfKind.Ptr:
      case BtfKind.Typedef:
      case BtfKind.Volatile:
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.TypeTag:
      case BtfKind.Fwd:
        t.type = sizeOrType;
        break;
      case BtfKind.Func:
        t.type = sizeOrType;
        t.linkage = vlen;
        break;
      case BtfKind.Float:
        t.size = sizeOrType;
        break;
      case BtfKind.Array:
        need(12);
        t.array = { type: u32(o), indexType: u32(o + 4), nelems: u32(o + 8) };
        t.type = t.array.type;
        o += 12;
        break;
      case BtfKind.Struct:
      case BtfKind.Union:
        need(12 * vlen);
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const off = u32(o + 8);
          const member: BtfMember = { name: str(u32(o)), type: u32(o + 4), offset: t.kindFlag ? off & 0xffffff : off };
          if (t.kindFlag && off >>> 24 !== 0) member.bitfieldSize = off >>> 24;
          t.members.push(member);
        }
        break;
      case BtfKind.Enum:
        need(8 * vlen);
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++, o += 8) t.members.push({ name: str(u32(o)), type: 0, offset: i32(o + 4) });
        break;
      case BtfKind.Enum64:
        need(12 * vlen);
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++, o += 12) {
          const v = (BigInt(u32(o + 8)) << 32n) | BigInt(u32(o + 4));
          t.members.push({ name: str(u32(o)), type: 0, offset: Number(t.kindFlag ? BigInt.asIntN(64, v) : v) });
        }
        break;
      case BtfKind.FuncProto:
        need(8 * vlen);
        t.type = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++, o += 8) t.members.push({ name: str(u32(o)), type: u32(o + 4), offset: 0 });
        break;
      case BtfKind.Var:
        need(4);
        t.type = sizeOrType;
        t.linkage = u32(o);
        o += 4;
        break;
      case BtfKind.Datasec:
        need(12 * vlen);
        t.size = sizeOrType;
        t.secinfo = [];
        for (let i = 0; i < vlen; i++, o += 12) t.secinfo.push({ type: u32(o), offset: u32(o + 4), size: u32(o + 8) });
        break;
      case BtfKind.DeclTag:
        need(4);
        t.type = sizeOrType;
        o += 4;
        break;
      default:
        throw bad(which, `unknown type kind ${kind as number} (type ${t.id})`);
    }
    types.push(t);
  }

  // Every type a type refers to must exist: later lookups (btf.get) then never fail.
  const check = (t: BtfType, id: number) => {
    if (id >= types.length) throw bad(which, `type ${t.id} refers to type ${id}, which does not exist (${types.length - 1} types)`);
  };
  for (const t of types) {
    switch (t.kind) {
      case BtfKind.Ptr:
      case BtfKind.Typedef:
      case BtfKind.Volatile:
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.TypeTag:
      case BtfKind.Func:
      case BtfKind.Var:
      case BtfKind.DeclTag:
      case BtfKind.FuncProto:
        check(t, t.type);
        break;
      case BtfKind.Array:
        check(t, t.array!.type);
        check(t, t.array!.indexType);
        break;
    }
    if (t.kind === BtfKind.Struct || t.kind === BtfKind.Union || t.kind === BtfKind.FuncProto) for (const m of t.members ?? []) check(t, m.type);
    for (const v of t.secinfo ?? []) check(t, v.type);
  }

  const byNameIdx = new Map<string, BtfType[]>();
  for (const t of types) {
    if (!t.name) continue;
    const l = byNameIdx.get(t.name);
    if (l) l.push(t);
    else byNameIdx.set(t.name, [t]);
  }
  return {
    types,
    get(id: number): BtfType {
      const t = types[id];
      if (!t) throw bad(which, `type id ${id} out of range`);
      return t;
    },
    byName(name, kind) {
      return byNameIdx.get(name)?.find((t) => kind === undefined || t.kind === kind);
    },
  };
}

/** Skip typedefs and qualifiers (const, volatile, restrict, type tags). */
export function underlying(btf: Btf, id: number): BtfType {
  let t = btf.get(id);
  for (let guard = 0; guard < 64; guard++) {
    if (t.kind === BtfKind.Typedef || t.kind === BtfKind.Const || t.kind === BtfKind.Volatile || t.kind === BtfKind.Restrict || t.kind === BtfKind.TypeTag) t = btf.get(t.type);
    else return t;
  }
  return t;
}

/** C-like spelling of a type, e.g. `const volatile __u32`, `struct event *`, `char[16]`. */
export function typeToC(btf: Btf, id: number, depth = 0): string {
  if (depth > 32) return "…";
  const t = btf.get(id);
  switch (t.kind) {
    case BtfKind.Void:
      return "void";
    case BtfKind.Int:
    case BtfKind.Float:
    case BtfKind.Typedef:
      return t.name;
    case BtfKind.Struct:
      return `struct ${t.name || "(anon)"}`;
    case BtfKind.Union:
      return `union ${t.name || "(anon)"}`;
    case BtfKind.Enum:
    case BtfKind.Enum64:
      return `enum ${t.name || "(anon)"}`;
    case BtfKind.Fwd:
      return `${t.kindFlag ? "union" : "struct"} ${t.name}`;
    case BtfKind.Const:
      return `const ${typeToC(btf, t.type, depth + 1)}`;
    case BtfKind.Volatile:
      return `volatile ${typeToC(btf, t.type, depth + 1)}`;
    case BtfKind.Restrict:
      return `${typeToC(btf, t.type, depth + 1)} restrict`;
    case BtfKind.Ptr:
      return `${typeToC(btf, t.type, depth + 1)} *`;
    case BtfKind.Array:
      return `${typeToC(btf, t.array!.type, depth + 1)}[${t.array!.nelems}]`;
    case BtfKind.FuncProto:
      return "function";
    default:
      return t.name || BtfKind[t.kind];
  }
}

/** Size in bytes of a type (0 when unknown). */
export function typeSize(btf: Btf, id: number, depth = 0): number {
  if (depth > 32) return 0;
  const t = btf.get(id);
  switch (t.kind) {
    case BtfKind.Int:
    case BtfKind.Float:
    case BtfKind.Struct:
    case BtfKind.Union:
    case BtfKind.Enum:
    case BtfKind.Enum64:
      return t.size;
    case BtfKind.Ptr:
      return 8;
    case BtfKind.Array:
      return t.array!.nelems * typeSize(btf, t.array!.type, depth + 1);
    case BtfKind.Typedef:
    case BtfKind.Const:
    case BtfKind.Volatile:
    case BtfKind.Restrict:
    case BtfKind.TypeTag:
      return typeSize(btf, t.type, depth + 1);
    default:
      return 0;
  }
}
