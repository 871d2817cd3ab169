/**
 * A WebAssembly module's interface, read in TypeScript: function types, imports, exports (with
 * their signatures) and memories — what a host checks before instantiating it. Pure and bounded:
 * only the sections before the code are read, every length is checked against the bytes left,
 * and a malformed module throws a WasmFormatError saying where.
 */

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";
export type ExternKind = "func" | "table" | "memory" | "global" | "tag";

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface Limits {
  /** In 64 KiB pages. */
  min: number;
  max?: number;
}

export interface WasmImport {
  module: string;
  name: string;
  kind: ExternKind;
  /** For functions. */
  type?: FuncType;
}

export interface WasmExport {
  name: string;
  kind: ExternKind;
  /** For functions. */
  type?: FuncType;
}

export interface WasmInterface {
  imports: WasmImport[];
  exports: WasmExport[];
  /** Imported memories first, then the module's own. */
  memories: (Limits & { imported: boolean })[];
}

export class WasmFormatError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = "WasmFormatError";
  }
}

const VALTYPES: Record<number, ValType> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };
const KINDS: ExternKind[] = ["func", "table", "memory", "global", "tag"];
const SECTION = { type: 1, import: 2, function: 3, memory: 5, export: 7, code: 10, data: 11 } as const;

/** A cursor over bytes that never reads past `end`. */
class Reader {
  constructor(
    private readonly b: Uint8Array,
    public pos: number,
    private readonly end: number,
  ) {}

  fail(what: string): never {
    throw new WasmFormatError(what, this.pos);
  }

  get left(): number {
    return this.end - this.pos;
  }

  byte(): number {
    if (this.pos >= this.end) this.fail("unexpected end");
    return this.b[this.pos++]!;
  }

  /** Unsigned LEB128 up to `bits` (32 or 64; 64-bit values beyond 2^53 are refused). */
  uleb(bits: 32 | 64 = 32): number {
    let result = 0;
    let scale = 1;
    const maxBytes = bits === 32 ? 5 : 10;
    for (let i = 0; i < maxBytes; i++) {
      const x = this.byte();
      result += (x & 0x7f) * scale;
      if ((x & 0x80) === 0) {
        if (result > (bits === 32 ? 0xffffffff : Number.MAX_SAFE_INTEGER)) this.fail("integer too large");
        return result;
      }
      scale *= 128;
    }
    return this.fail("integer too long");
  }

  /** A vector length: each element takes at least `minSize` bytes, so a count can't exceed what is left. */
  count(minSize = 1): number {
    const n = this.uleb();
    if (n * minSize > this.left) this.fail(`vector of ${n} entries does not fit`);
    return n;
  }

  name(): string {
    const n = this.count();
    const s = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(s);
    } catch {
      return this.fail("name is not UTF-8");
    }
  }

  valtype(): ValType {
    const code = this.byte();
    const t = VALTYPES[code];
    if (!t) throw new WasmFormatError(`unsupported value type 0x${code.toString(16)}`, this.pos - 1);
    return t;
  }

  limits(): Limits {
    const flags = this.byte();
    if (flags > 7) throw new WasmFormatError(`bad limits flags 0x${flags.toString(16)}`, this.pos - 1);
    const bits = flags & 4 ? 64 : 32;
    const min = this.uleb(bits);
    return flags & 1 ? { min, max: this.uleb(bits) } : { min };
  }
}

/** Read the interface of a WebAssembly binary (magic and version 1 expected). */
export function readWasmInterface(bytes: Uint8Array): WasmInterface {
  const r = new Reader(bytes, 0, bytes.length);
  if (r.left < 8 || r.byte() !== 0 || r.byte() !== 0x61 || r.byte() !== 0x73 || r.byte() !== 0x6d) throw new WasmFormatError("missing \\0asm magic", 0);
  if (r.byte() !== 1 || r.byte() !== 0 || r.byte() !== 0 || r.byte() !== 0) throw new WasmFormatError("unsupported binary version", 4);

  const types: FuncType[] = [];
  const funcTypes: number[] = []; // function index → type index (imports first)
  const imports: WasmImport[] = [];
  const memories: WasmInterface["memories"] = [];
  const rawExports: { name: string; kind: ExternKind; index: number }[] = [];

  const typeAt = (s: Reader, i: number): FuncType => types[i] ?? s.fail(`type index ${i} out of range`);

  while (r.left > 0) {
    const id = r.byte();
    const size = r.uleb();
    if (size > r.left) r.fail(`section ${id} of ${size} bytes does not fit`);
    const s = new Reader(bytes, r.pos, r.pos + size);
    r.pos += size;
    // Everything needed comes before the code and data sections: stop there.
    if (id === SECTION.code || id === SECTION.data) break;
    switch (id) {
      case SECTION.type:
        for (let n = s.count(3); n > 0; n--) {
          const form = s.byte();
          if (form !== 0x60) throw new WasmFormatError(`unsupported type form 0x${form.toString(16)}`, s.pos - 1);
          const params = Array.from({ length: s.count() }, () => s.valtype());
          const results = Array.from({ length: s.count() }, () => s.valtype());
          types.push({ params, results });
        }
        break;
      case SECTION.import:
        for (let n = s.count(4); n > 0; n--) {
          const module = s.name();
          const name = s.name();
          const kindByte = s.byte();
          const kind = KINDS[kindByte] ?? s.fail(`unknown import kind ${kindByte}`);
          if (kind === "func") {
            const ti = s.uleb();
            funcTypes.push(ti);
            imports.push({ module, name, kind, type: typeAt(s, ti) });
          } else {
            if (kind === "table") s.byte(), s.limits();
            else if (kind === "memory") memories.push({ ...s.limits(), imported: true });
            else if (kind === "global") s.valtype(), s.byte();
            else s.byte(), s.uleb(); // tag: attribute, type index
            imports.push({ module, name, kind });
          }
        }
        break;
      case SECTION.function:
        for (let n = s.count(); n > 0; n--) funcTypes.push(s.uleb());
        break;
      case SECTION.memory:
        for (let n = s.count(2); n > 0; n--) memories.push({ ...s.limits(), imported: false });
        break;
      case SECTION.export:
        for (let n = s.count(3); n > 0; n--) {
          const name = s.name();
          const kindByte = s.byte();
          const kind = KINDS[kindByte] ?? s.fail(`unknown export kind ${kindByte}`);
          rawExports.push({ name, kind, index: s.uleb() });
        }
        break;
      default:
        break; // custom, table, global, start, element, data count, tag: not needed
    }
  }

  const exports = rawExports.map<WasmExport>((e) => {
    if (e.kind !== "func") return { name: e.name, kind: e.kind };
    const ti = funcTypes[e.index];
    if (ti === undefined) throw new WasmFormatError(`export ${JSON.stringify(e.name)} names function ${e.index}, which does not exist`, 0);
    const type = types[ti];
    if (!type) throw new WasmFormatError(`type index ${ti} out of range`, 0);
    return { name: e.name, kind: e.kind, type };
  });
  return { imports, exports, memories };
}

/** `(i64, i32) -> i32` */
export function formatFuncType(t: FuncType): string {
  const results = t.results.length === 0 ? "()" : t.results.length === 1 ? t.results[0]! : `(${t.results.join(", ")})`;
  return `(${t.params.join(", ")}) -> ${results}`;
}
