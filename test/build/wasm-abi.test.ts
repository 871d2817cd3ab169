/**
 * The wasm module reader (imports, exports, memory) and ig's wasm operator contract, on modules
 * assembled by wabt's wat2wasm and on hostile bytes; the Go source's cache inputs; Rust's target check.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers/cli.js";
import { readWasmInterface, formatFuncType, WasmFormatError } from "../../plugins/wasm-module.js";
import { igAbiProblem } from "../../plugins/wasm-abi.js";
import { goDirectives, goInputFiles, goSource, localModuleDirs } from "../../plugins/wasm-go.js";
import { missingTargetError } from "../../plugins/wasm-rust.js";
import { requireTools } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;
let n = 0;
beforeAll(async () => {
  requireTools("wat2wasm");
  ({ dir: root, cleanup } = await tempDir("gadget-wasm-abi-"));
});
afterAll(async () => cleanup?.());

/** Assemble a module with wabt's wat2wasm. */
async function wat(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const f = join(root, `m${n++}.wat`);
  await writeFile(f, text);
  execFileSync("wat2wasm", [f, "-o", `${f}.wasm`]);
  return new Uint8Array(await readFile(`${f}.wasm`));
}

const GOOD = `
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "ig" "gadgetLog" (func $log (param i32 i64)))
  (memory (export "memory") 2)
  (func (export "_initialize"))
  (func (export "gadgetAPIVersion") (result i64) i64.const 1)
  (func (export "gadgetInit") (result i32) i32.const 0)
  (func (export "dataSourceCallback") (param i64 i32 i32))`;

describe("readWasmInterface", () => {
  it("reads imports, exports with their signatures, and memories, as V8 sees them", async () => {
    const bytes = await wat(`(module ${GOOD} (global (export "g") i32 (i32.const 0)) (table (export "t") 1 funcref))`);
    const m = readWasmInterface(bytes);
    const mod = new WebAssembly.Module(bytes);
    expect(m.exports.map((e) => e.name)).toEqual(WebAssembly.Module.exports(mod).map((e) => e.name));
    expect(m.imports.map((i) => `${i.module}.${i.name}`)).toEqual(WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`));
    expect(Object.fromEntries(m.exports.map((e) => [e.name, e.type ? formatFuncType(e.type) : e.kind]))).toEqual({
      memory: "memory",
      _initialize: "() -> ()",
      gadgetAPIVersion: "() -> i64",
      gadgetInit: "() -> i32",
      dataSourceCallback: "(i64, i32, i32) -> ()",
      g: "global",
      t: "table",
    });
    expect(formatFuncType(m.imports[1]!.type!)).toBe("(i32, i64) -> ()");
    expect(m.memories).toEqual([{ min: 2, imported: false }]);
    const imported = readWasmInterface(await wat(`(module (import "env" "memory" (memory 1 4)))`));
    expect(imported.memories).toEqual([{ min: 1, max: 4, imported: true }]);
  });

  it("refuses malformed bytes with where, and stays bounded on hostile counts", () => {
    const head = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
    expect(() => readWasmInterface(new Uint8Array([1, 2, 3]))).toThrow(/missing \\0asm magic/);
    expect(() => readWasmInterface(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toThrow(/unsupported binary version/);
    // a section claiming more bytes than there are
    expect(() => readWasmInterface(new Uint8Array([...head, 7, 0x7f, 1]))).toThrow(WasmFormatError);
    // an export section claiming 2^32-1 entries in 6 bytes: refused at once, not looped over
    expect(() => readWasmInterface(new Uint8Array([...head, 7, 5, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/vector of 4294967295 entries does not fit at byte \d+/);
    // an over-long LEB128
    expect(() => readWasmInterface(new Uint8Array([...head, 1, 6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(/integer too long/);
    // an export naming a function that does not exist
    expect(() => readWasmInterface(new Uint8Array([...head, 7, 5, 1, 1, 0x61, 0, 3]))).toThrow(/names function 3, which does not exist/);
    // a 2 MB custom section is skipped by its size, not read
    const big = new Uint8Array(8 + 4 + 2_000_000);
    big.set(head);
    big.set([0, 0x80, 0x89, 0x7a], 8); // section 0 (custom) of 2_000_000 bytes
    expect(readWasmInterface(big)).toEqual({ imports: [], exports: [], memories: [] });
    big[9] = 0x81; // one byte more than there is
    expect(() => readWasmInterface(big)).toThrow(/section 0 of 2000001 bytes does not fit at byte 12/);
  });
});

describe("ig's wasm operator contract", () => {
  const problem = async (body: string, kind: "go" | "c" | "rust" | "wasm" = "wasm") => igAbiProblem(readWasmInterface(await wat(`(module ${body})`)), kind);

  it("a module with ig's imports and exports passes", async () => {
    expect(await problem(GOOD)).toBeUndefined();
  });

  it("gadgetAPIVersion must be exported, with no parameters and one integer result; the hint is in the source's language", async () => {
    const noVersion = GOOD.replace('(export "gadgetAPIVersion")', "");
    expect(await problem(noVersion, "go")).toEqual({
      what: "wasm module does not export gadgetAPIVersion",
      why: "ig's wasm operator calls gadgetAPIVersion() first and refuses a module without it (API version 1)",
      hint: "add `//go:wasmexport gadgetAPIVersion` above `func gadgetAPIVersion() uint64 { return 1 }`",
    });
    expect((await problem(noVersion, "c"))!.hint).toMatch(/export_name\("gadgetAPIVersion"\)/);
    expect((await problem(noVersion, "rust"))!.hint).toMatch(/#\[no_mangle\] pub extern "C" fn gadgetAPIVersion\(\) -> u64/);
    const wrong = await problem(GOOD.replace('(func (export "gadgetAPIVersion") (result i64) i64.const 1)', '(func (export "gadgetAPIVersion") (param i32) (result i64) i64.const 1)'));
    expect(wrong).toMatchObject({ what: "wasm export gadgetAPIVersion has the wrong signature", why: expect.stringMatching(/it is \(i32\) -> i64$/) });
  });

  it("lifecycle exports take nothing and return one integer; dataSourceCallback is (i64, i32, i32)", async () => {
    expect(await problem(GOOD.replace('(func (export "gadgetInit") (result i32) i32.const 0)', '(func (export "gadgetInit"))'), "go")).toEqual({
      what: "wasm export gadgetInit has the wrong signature",
      why: "ig calls it with no arguments and reads one integer result (0 = success); it is () -> ()",
      hint: "declare it as `func gadgetInit() int32`",
    });
    expect((await problem(`${GOOD} (func (export "gadgetStop") (result f32) f32.const 0)`))!.what).toBe("wasm export gadgetStop has the wrong signature");
    expect((await problem(GOOD.replace("(param i64 i32 i32)", "(param i32 i32)")))!.why).toMatch(/\(cbID i64, ds i32, data i32\).*it is \(i32, i32\) -> \(\)$/);
  });

  it("imports only functions of ig and wasi_snapshot_preview1", async () => {
    expect(await problem(GOOD.replace('(import "ig" "gadgetLog"', '(import "env" "gadgetLog"'), "c")).toEqual({
      what: "wasm module imports env.gadgetLog",
      why: "ig provides only the host modules ig and wasi_snapshot_preview1, so instantiation would fail",
      hint: 'declare ig\'s functions with `__attribute__((import_module("ig"), import_name("<name>")))`',
    });
    expect((await problem(`(import "ig" "mem" (memory 1)) ${GOOD.replace('(memory (export "memory") 2)', "")}`))!.what).toBe("wasm module imports a memory ig.mem");
  });

  it("a WASI command (_start without _initialize), no memory, or more than 256 pages is refused", async () => {
    expect(await problem(GOOD.replace('(export "_initialize")', '(export "_start")'), "go")).toMatchObject({ what: "wasm module is a WASI command (it exports _start)", hint: "build with -buildmode=c-shared" });
    expect((await problem(GOOD.replace('(memory (export "memory") 2)', "")))!.what).toBe("wasm module has no memory");
    expect(await problem(GOOD.replace('(memory (export "memory") 2)', '(memory (export "memory") 257)'))).toEqual({
      what: "wasm module needs too much memory",
      why: "its memory starts at 257 pages (16.0625 MiB); ig limits modules to 256 pages (16 MiB)",
    });
    expect(await problem(GOOD.replace('(memory (export "memory") 2)', '(memory (export "memory") 256)'))).toBeUndefined();
  });
});

describe("Go sources: what the cache key reads", () => {
  it("go.mod directives, single-line and block, with local replace and go.work use targets", () => {
    const gomod = 'module a\n\ngo 1.24\n\nrequire example.com/x v1.0.0\n\nreplace example.com/lib => ../lib // local\nreplace (\n\texample.com/x => example.com/y v1.2.3\n\t"example.com/z" v0.1.0 => "./third_party/z"\n)\n';
    expect(goDirectives(gomod, "replace")).toEqual(["example.com/lib => ../lib", "example.com/x => example.com/y v1.2.3", '"example.com/z" v0.1.0 => "./third_party/z"']);
    expect(localModuleDirs(gomod, "/src/a")).toEqual(["/src/lib", "/src/a/third_party/z"]);
    expect(localModuleDirs("go 1.24\n\nuse (\n\t./a\n\t./b\n)\nuse ./c\n", "/w")).toEqual(["/w/a", "/w/b", "/w/c"]);
  });

  it("every .go file of the module and of local replace targets, go.mod/go.sum, files beside //go:embed; not nested modules or testdata", async () => {
    const g = join(root, "gosrc");
    const w = (p: string, text = "package x\n") => mkdir(join(g, p, ".."), { recursive: true }).then(() => writeFile(join(g, p), text));
    await w("mod/go.mod", "module m\n\ngo 1.24\n\nreplace example.com/lib => ../lib\n");
    await w("mod/program.go", "package main\n");
    await w("mod/util/util.go");
    await w("mod/util/README.md", "not compiled\n");
    await w("mod/assets/a.go", 'package assets\n\nimport _ "embed"\n\n//go:embed data/*.txt\nvar s string\n');
    await w("mod/assets/data/one.txt", "1\n");
    await w("mod/testdata/t.go");
    await w("mod/_skip/s.go");
    await w("mod/.hidden/h.go");
    await w("mod/nested/go.mod", "module n\n");
    await w("mod/nested/n.go");
    await w("lib/go.mod", "module example.com/lib\n");
    await w("lib/lib.go");
    const src = goSource(join(g, "mod", "program.go"), false);
    expect(src).toEqual({ dir: join(g, "mod"), target: "program.go", goMod: join(g, "mod", "go.mod") });
    const files = await goInputFiles(src, join(g, "mod", "program.go"), { HOME: "/home/u" });
    expect(files.map((f) => (f.startsWith(g) ? f.slice(g.length + 1) : f))).toEqual([
      "/home/u/.config/go/env",
      "lib/go.mod",
      "lib/go.sum",
      "lib/lib.go",
      "mod/assets/a.go",
      "mod/assets/data/one.txt",
      "mod/go.mod",
      "mod/go.sum",
      "mod/program.go",
      "mod/util/util.go",
    ]);
    // a folder source builds "."; a lone file outside any module is its only input
    expect(goSource(join(g, "mod"), true).target).toBe(".");
    await w("lone/x.go");
    const lone = goSource(join(g, "lone", "x.go"), false);
    expect(lone.goMod).toBeUndefined();
    expect(await goInputFiles(lone, join(g, "lone", "x.go"), { GOENV: "off" })).toEqual([join(g, "lone", "x.go")]);
  });
});

describe("Rust", () => {
  it("a toolchain without wasm32-wasip1 is a one-line error with the rustup command", async () => {
    expect(await missingTargetError("wasm32-wasip1\nx86_64-unknown-linux-gnu\n", "rs/src/lib.rs")).toBeUndefined();
    const err = await missingTargetError("x86_64-unknown-linux-gnu\n", "rs/src/lib.rs");
    expect(err!.message).toBe("Rust target not installed (wasm32-wasip1): rs/src/lib.rs is built with cargo --target wasm32-wasip1, which the active toolchain lacks");
    expect((err as any).hint).toBe("run `rustup target add wasm32-wasip1`");
  });
});
