/** The TypeScript ELF + BTF reader on objects compiled by the real clang. */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/cli.js";
import { readBpfObject, parseElf, parseBtf, decodeValue, EM_BPF, BtfKind } from "../../core/index.js";
import { requireTools } from "./helpers.js";

const SRC = `
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct event { __u32 pid; __u8 comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u32); __type(value, struct event); } table SEC(".maps");
const volatile __u32 targ_uid = 1000;
const volatile __s64 neg = -5;
const volatile bool flag = true;
const __u32 only_const = 3;
volatile __u32 only_volatile = 4;
__u64 counter = 0;
const void *gadget_param_targ_uid __attribute__((unused));
const void *gadget_tracer_exec___events___event __attribute__((unused));
const struct event *__gadget_tracer_type_exec __attribute__((unused));
SEC("tracepoint/syscalls/sys_enter_execve")
int handle(void *ctx) {
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->pid = targ_uid + neg + flag + only_const + only_volatile;
  counter++;
  bpf_ringbuf_submit(e, 0);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

let dir: string;
let cleanup: () => Promise<void>;
let obj: Buffer;
let triple: string;

beforeAll(async () => {
  requireTools("clang", "llvm-strip");
  ({ dir, cleanup } = await tempDir("gadget-btf-"));
  writeFileSync(join(dir, "p.bpf.c"), SRC);
  triple = execFileSync("clang", ["-print-multiarch"]).toString().trim();
  execFileSync("clang", ["-target", "bpf", "-Wall", "-g", "-O2", `-I/usr/include/${triple}`, "-D", "__TARGET_ARCH_x86", "-c", "p.bpf.c", "-o", "p.o"], { cwd: dir });
  execFileSync("llvm-strip", ["-g", "p.o"], { cwd: dir });
  obj = readFileSync(join(dir, "p.o"));
});
afterAll(async () => cleanup?.());

describe("ELF reader", () => {
  it("reads the machine (EM_BPF = 247) and the section table of a clang object", () => {
    const elf = parseElf(obj);
    expect(elf.machine).toBe(EM_BPF);
    expect(EM_BPF).toBe(247);
    const names = elf.sections.map((s) => s.name);
    expect(names).toContain(".BTF");
    expect(names).toContain(".BTF.ext");
    expect(names).toContain(".rodata");
    expect(names.filter((n) => n.startsWith(".debug"))).toEqual([]);
  });

  it("rejects bytes that are not ELF, and truncated ELF, with one-line errors", () => {
    expect(() => parseElf(Buffer.from("hello world, not an elf file at all........................................"))).toThrow(/not an ELF file/);
    expect(() => parseElf(obj.subarray(0, 40))).toThrow(/truncated/);
    const broken = Buffer.from(obj);
    broken.writeBigUInt64LE(BigInt(obj.length + 1000), 40); // e_shoff past the end
    expect(() => parseElf(broken)).toThrow(/past the end of the file/);
  });

  it("refuses an ELF that is not a BPF object", () => {
    const x86 = readFileSync(process.execPath).subarray(0, 1 << 20);
    expect(() => readBpfObject(Buffer.from(x86))).toThrow(/not an eBPF object|invalid ELF/);
  });
});

describe("BTF reader", () => {
  it("finds global variables with their sections, qualifiers, C types and initial values", () => {
    const o = readBpfObject(obj);
    const g = (n: string) => o.globals.find((x) => x.name === n)!;
    expect(g("targ_uid")).toMatchObject({ section: ".rodata", linkage: "global", isConst: true, isVolatile: true, cType: "const volatile __u32", typeHint: "uint32", value: "1000", size: 4 });
    expect(g("neg")).toMatchObject({ isConst: true, isVolatile: true, typeHint: "int64", value: "-5" });
    expect(g("flag")).toMatchObject({ isConst: true, isVolatile: true, typeHint: "bool", value: "true" });
    expect(g("only_const")).toMatchObject({ isConst: true, isVolatile: false });
    expect(g("only_volatile")).toMatchObject({ isConst: false, isVolatile: true });
    expect(g("counter")).toMatchObject({ isConst: false, isVolatile: false, section: ".bss", value: "0" });
  });

  it("finds BTF-defined maps with their types", () => {
    const o = readBpfObject(obj);
    expect(o.maps).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "events", type: 27, maxEntries: 4096 }),
        expect.objectContaining({ name: "table", type: 1, valueType: "event", keySize: 4, valueSize: 20, maxEntries: 16 }),
      ]),
    );
  });

  it("finds ig's GADGET_* markers as const void * globals", () => {
    const o = readBpfObject(obj);
    expect(o.markers).toEqual([
      { kind: "param", variable: "gadget_param_targ_uid", parts: ["targ_uid"] },
      { kind: "tracer", variable: "gadget_tracer_exec___events___event", parts: ["exec", "events", "event"] },
    ]);
    const ev = o.btf.byName("event", BtfKind.Struct)!;
    expect(ev.members!.map((m) => m.name)).toEqual(["pid", "comm"]);
  });

  it("reads bitfields, enums, unions and typedef chains", () => {
    writeFileSync(
      join(dir, "k.bpf.c"),
      `#include <linux/types.h>
enum color { RED = 1, GREEN = -2 };
typedef __u64 u64_t;
typedef u64_t ts_t;
struct flags { unsigned int a : 3; unsigned int b : 5; union { int i; char c[4]; } u; enum color col; };
struct flags g_flags = {};
const volatile ts_t g_ts = 42;
char LICENSE[] __attribute__((section("license"))) = "GPL";
`,
    );
    execFileSync("clang", ["-target", "bpf", "-g", "-O2", `-I/usr/include/${triple}`, "-c", "k.bpf.c", "-o", "k.o"], { cwd: dir });
    const o = readBpfObject(readFileSync(join(dir, "k.o")));
    const st = o.btf.byName("flags", BtfKind.Struct)!;
    expect(st.members!.map((m) => [m.name, m.offset])).toEqual([["a", 0], ["b", 3], ["u", 32], ["col", 64]]);
    expect(o.btf.byName("color", BtfKind.Enum)!.members!.map((m) => [m.name, m.offset])).toEqual([["RED", 1], ["GREEN", -2]]);
    expect(o.globals.find((g) => g.name === "g_ts")).toMatchObject({ cType: "const volatile ts_t", typeHint: "uint64", value: "42", isConst: true, isVolatile: true });
  });

  it("errors clearly on an object without BTF", () => {
    execFileSync("clang", ["-target", "bpf", "-O2", "-c", "-x", "c", "-", "-o", "nobtf.o"], { cwd: dir, input: "int x = 1;\n" });
    expect(() => readBpfObject(readFileSync(join(dir, "nobtf.o")))).toThrow(/no .BTF section/);
  });
});

describe("BTF kinds clang 14 does not emit", () => {
  /** A .BTF blob: header, then the given type records, then the string table. */
  function btfBlob(types: Buffer, strings: string): Buffer {
    const str = Buffer.from(strings, "latin1");
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(0xeb9f, 0);
    hdr.writeUInt8(1, 2);
    hdr.writeUInt32LE(24, 4);
    hdr.writeUInt32LE(0, 8);
    hdr.writeUInt32LE(types.length, 12);
    hdr.writeUInt32LE(types.length, 16);
    hdr.writeUInt32LE(str.length, 20);
    return Buffer.concat([hdr, types, str]);
  }
  const u32s = (...v: number[]) => {
    const b = Buffer.alloc(v.length * 4);
    v.forEach((x, i) => b.writeUInt32LE(x >>> 0, i * 4));
    return b;
  };

  it("ENUM64 (signed and unsigned, 64-bit values) parses, and values of its type are read as 8 bytes", () => {
    // strings: 1 "big", 5 "A", 7 "B", 9 "neg", 13 "M"
    const types = Buffer.concat([
      u32s(1, (BtfKind.Enum64 << 24) | 2, 8), u32s(5, 0x0, 0x1), u32s(7, 0xffffffff, 0x0), // unsigned: A = 1<<32, B = 0xffffffff
      u32s(9, (1 << 31) | (BtfKind.Enum64 << 24) | 1, 8), u32s(13, 0xfffffffe, 0xffffffff), // signed (kind_flag): M = -2
    ]);
    const btf = parseBtf(btfBlob(types, "\0big\0A\0B\0neg\0M\0"));
    const big = btf.get(1);
    expect(big).toMatchObject({ kind: BtfKind.Enum64, name: "big", size: 8, kindFlag: false });
    expect(big.members!.map((m) => [m.name, m.offset])).toEqual([["A", 2 ** 32], ["B", 0xffffffff]]);
    expect(btf.get(2).members!.map((m) => [m.name, m.offset])).toEqual([["M", -2]]);
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(0xfffffffffffffffen);
    expect(decodeValue(btf, 1, value, true)).toBe("18446744073709551614");
    expect(decodeValue(btf, 2, value, true)).toBe("-2");
    expect(decodeValue(btf, 1, value.subarray(0, 4), true)).toBeUndefined(); // fewer bytes than the type: no read
  });

  it("a type referring to a type that does not exist is refused when parsed, not when used", () => {
    const types = u32s(0, BtfKind.Ptr << 24, 7); // PTR to type 7 of 1
    expect(() => parseBtf(btfBlob(types, "\0"))).toThrow(/type 1 refers to type 7, which does not exist/);
  });
});
