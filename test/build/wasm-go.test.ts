/**
 * Wasm modules from Go (and Rust) end to end with the real CLI, Go, cargo and clang: the Go example
 * builds for both archs with one shared wasm layer, reproducibly from two folders; the engine
 * reruns only wasm and oci-pack when a .go file changes and says which; a no-op run spawns no go;
 * missing Go, Go's compile errors and a missing ig export are one clear error each, store unchanged.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { chmod, cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { blob, blobJson, copyExamples, digestOf, requireTools, storeSnapshot } from "./helpers.js";
import { explainLines } from "../engine/helpers.js";

const SDE = "1700000000";
const WASM_LAYER = "application/vnd.gadget.wasm.program.v1+binary";
let root: string;
let cleanup: () => Promise<void>;
let examples: string;
let store: string;
let realGo: string;

beforeAll(async () => {
  requireTools("clang", "llvm-strip", "go", "cargo", "rustup");
  realGo = execFileSync("sh", ["-c", "command -v go"], { encoding: "utf8" }).trim();
  const v = execFileSync(realGo, ["env", "GOVERSION"], { encoding: "utf8" }).trim();
  const m = /^go1\.(\d+)/.exec(v);
  if (!m || Number(m[1]) < 24) throw new Error(`Go >= 1.24 is needed on PATH (found ${v}): see scripts/bootstrap`);
  if (!execFileSync("rustup", ["target", "list", "--installed"], { encoding: "utf8" }).includes("wasm32-wasip1")) throw new Error("the Rust target wasm32-wasip1 is missing: run scripts/bootstrap");
  ({ dir: root, cleanup } = await tempDir("gadget-wasm-go-"));
  examples = await copyExamples(root, "a/examples");
  store = join(root, "store");
});
afterAll(async () => cleanup?.());

const build = (dir: string, ...args: string[]): Promise<RunResult> => runGadget(["image", "build", dir, "--oci-store", store, ...args], { env: { SOURCE_DATE_EPOCH: SDE } });

/** A copy of examples/wasm_go beside it (so ../include still resolves), then `edit` applied. */
async function variant(name: string, edit: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(examples, name);
  await cp(join(examples, "wasm_go"), dir, { recursive: true });
  await edit(dir);
  return dir;
}

async function editFile(path: string, from: string | RegExp, to: string): Promise<void> {
  const text = await readFile(path, "utf8");
  const next = text.replace(from, to);
  if (next === text) throw new Error(`${path}: ${from} not found`);
  await writeFile(path, next);
}

/** The test's failure contract: exit 1, `Error: …` first line, nothing on stdout, the store as it was. */
async function expectFailure(r: RunResult, before: string, firstLine: RegExp): Promise<void> {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr.split("\n")[0]).toMatch(firstLine);
  expect(await storeSnapshot(store)).toBe(before);
}

describe("gadget image build: a Go wasm module (examples/wasm_go)", () => {
  it("an index with the wasm layer shared by both manifests; the same digest twice and from another folder (SOURCE_DATE_EPOCH)", async () => {
    const other = await copyExamples(root, "b/elsewhere/examples");
    const out = join(root, "out");
    await mkdir(out);
    // one after the other: the second build finds the first's compiled packages in Go's own cache
    const r1 = await build(join(examples, "wasm_go"), "-t", "wasm_go:test", "-o", out);
    const r2 = await runGadget(["image", "build", "wasm_go", "--oci-store", join(root, "store2")], { cwd: other, env: { SOURCE_DATE_EPOCH: SDE } });
    expect(r1.stdout).toBe("");
    expect(r1.stderr).toMatch(/^Successfully built ghcr\.io\/inspektor-gadget\/gadget\/wasm_go:test@sha256:[a-f0-9]{64}\n$/);
    expect(r1.code).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    const digest = digestOf(r1.stderr);
    expect(digestOf(r2.stderr)).toBe(digest);
    const r3 = await build(join(examples, "wasm_go"));
    expect(r3.stderr).toBe(`Successfully built @${digest}\n`);

    const index = await blobJson(store, digest);
    expect(index.manifests.map((d: any) => d.platform.architecture)).toEqual(["amd64", "arm64"]);
    const manifests = await Promise.all(index.manifests.map((d: any) => blobJson(store, d.digest)));
    for (const m of manifests) expect(m.layers.map((l: any) => l.mediaType)).toEqual(["application/vnd.gadget.ebpf.program.v1+binary", WASM_LAYER]);
    const [wa, wb] = manifests.map((m: any) => m.layers[1]);
    expect(wa).toEqual(wb);

    const bytes = await blob(store, wa.digest);
    expect(bytes.equals(await readFile(join(out, "program.wasm")))).toBe(true);
    const mod = await WebAssembly.compile(new Uint8Array(bytes));
    expect(WebAssembly.Module.exports(mod).map((e) => e.name).sort()).toEqual(["_initialize", "gadgetAPIVersion", "gadgetInit", "gadgetStart", "gadgetStop", "memory"]);
    const imports = WebAssembly.Module.imports(mod);
    expect(new Set(imports.map((i) => i.module))).toEqual(new Set(["wasi_snapshot_preview1", "ig"]));
    expect(imports.filter((i) => i.module === "ig").map((i) => i.name).sort()).toEqual(["gadgetLog", "gadgetShouldLog"]);
    // path-independent (-trimpath): no trace of either checkout, nor of GOROOT
    expect(bytes.includes(Buffer.from(root))).toBe(false);
    expect(bytes.includes(Buffer.from(realGo.replace(/\/bin\/go$/, "/src/")))).toBe(false);
  });

  it("a Go module that does not compile: Go's diagnostics once with file:line, exit 1, store unchanged", async () => {
    const g = await variant("wasm_broken", (d) => editFile(join(d, "go", "program.go"), "func gadgetAPIVersion() uint64 {\n\treturn 1", 'func gadgetAPIVersion() uint64 {\n\treturn "one"'));
    const before = await storeSnapshot(store);
    const r = await build(g);
    await expectFailure(r, before, /^Error: building go\/program\.go to wasm \(go\): exit status 1:$/);
    const diag = r.stderr.match(/^\.\/program\.go:\d+:\d+: cannot use "one" \(untyped string constant\) as uint64 value in return statement$/gm);
    expect(diag).toHaveLength(1);
  });

  it("a Go module without gadgetAPIVersion: one error naming the missing export, with the Go fix; store unchanged", async () => {
    const g = await variant("wasm_noversion", (d) => editFile(join(d, "go", "program.go"), "//go:wasmexport gadgetAPIVersion\n", ""));
    const before = await storeSnapshot(store);
    const r = await build(g);
    await expectFailure(r, before, /^Error: wasm module does not export gadgetAPIVersion \(go\/program\.go\): ig's wasm operator calls gadgetAPIVersion\(\) first and refuses a module without it \(API version 1\)$/);
    expect(r.stderr).toBe(r.stderr.split("\n")[0] + "\nhint: add `//go:wasmexport gadgetAPIVersion` above `func gadgetAPIVersion() uint64 { return 1 }`\n");
  });

  it("no go on PATH: one line naming the Go version needed (and a hint), store unchanged", async () => {
    const path = (process.env.PATH ?? "").split(delimiter).filter((d) => d && !existsSync(join(d, "go"))).join(delimiter);
    const before = await storeSnapshot(store);
    const r = await runGadget(["image", "build", join(examples, "wasm_go"), "--oci-store", store], { env: { PATH: path } });
    await expectFailure(r, before, /^Error: tool not found \(go\): go\/program\.go needs Go >= 1\.24 \(GOOS=wasip1 with -buildmode=c-shared and \/\/go:wasmexport\); go is not on PATH$/);
    expect(r.stderr.trimEnd().split("\n")).toEqual([expect.any(String), "hint: install Go >= 1.24 from https://go.dev/dl/ and put its bin folder (e.g. /usr/local/go/bin) on PATH (Debian 12's golang-go is 1.19, too old for wasip1)"]);
  });

  it("`wasm:` naming a module folder builds the package `.` (every file of it)", async () => {
    const g = await variant("wasm_folder", async (d) => {
      await writeFile(join(d, "build.yaml"), "wasm: go\ncflags: [-I, ../include]\n");
      // gadgetAPIVersion moves to a second file of the package
      await editFile(join(d, "go", "program.go"), /\/\/ gadgetAPIVersion is[\s\S]*?\n}\n/, "");
      await writeFile(join(d, "go", "version.go"), "package main\n\n//go:wasmexport gadgetAPIVersion\nfunc gadgetAPIVersion() uint64 { return 1 }\n");
    });
    const out = join(root, "out-folder");
    await mkdir(out);
    const r = await build(g, "-o", out);
    expect(r.code, r.stderr).toBe(0);
    const mod = await WebAssembly.compile(await readFile(join(out, "program.wasm")));
    expect(WebAssembly.Module.exports(mod).map((e) => e.name)).toContain("gadgetAPIVersion");
  });
});

describe("gadget run: a gadgetfile project with Go wasm modules", () => {
  let proj: string;
  let pstore: string;
  let goLog: string;
  let env: Record<string, string>;
  const run = (...args: string[]) => runGadget(["run", "--json", ...args, "--oci-store", pstore], { cwd: proj, env });
  const digestsOf = (r: RunResult) => Object.fromEntries((JSON.parse(r.stdout).gadgets as { name: string; digest: string }[]).map((g) => [g.name, g.digest]));
  const CACHEABLE = /^wasm_(go|lib) (clang|strip|wasm|oci-pack)(@|$)/;
  let libGoMod: string;

  beforeAll(async () => {
    proj = await copyExamples(root, "proj");
    pstore = join(root, "pstore");
    await writeFile(join(proj, "gadgetfile.ts"), 'import { defineGadgetfile } from "gadget";\n\nexport default defineGadgetfile({\n  gadgets: ["wasm_go", "wasm_lib"],\n  defaults: { tag: "test/{name}:dev", cflags: ["-I", "../include"] },\n});\n');
    // wasm_lib: wasm_go whose module uses a local replace target that go.mod does not require yet
    const lib = join(proj, "wasm_lib");
    await cp(join(proj, "wasm_go"), lib, { recursive: true });
    await mkdir(join(lib, "lib"));
    await writeFile(join(lib, "lib", "go.mod"), "module example.com/lib\n\ngo 1.24\n");
    await writeFile(join(lib, "lib", "lib.go"), 'package lib\n\n// Greeting is logged by the gadget.\nfunc Greeting() string { return "hello from lib" }\n');
    libGoMod = "module example.com/gadget/wasm_lib\n\ngo 1.24\n\nreplace example.com/lib => ../lib\n";
    await writeFile(join(lib, "go", "go.mod"), libGoMod);
    await editFile(join(lib, "go", "program.go"), 'import (\n\t"fmt"', 'import (\n\t"example.com/lib"\n\t"fmt"');
    await editFile(join(lib, "go", "program.go"), 'logf(logInfo, "wasm_go: module built with %s", runtime.Version())', 'logf(logInfo, "%s, built with %s", lib.Greeting(), runtime.Version())');
    // go behind a shim that records each call
    const shim = join(root, "shim");
    goLog = join(root, "go-calls.log");
    await mkdir(shim);
    await writeFile(join(shim, "go"), `#!/bin/sh\necho "$*" >> '${goLog}'\nexec '${realGo}' "$@"\n`);
    await chmod(join(shim, "go"), 0o755);
    env = { SOURCE_DATE_EPOCH: SDE, PATH: `${shim}${delimiter}${process.env.PATH}` };
  });

  it("builds both; Go completes the missing requirement on a scratch go.mod (warning), the user's go.mod is untouched", async () => {
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(digestsOf(r)).sort()).toEqual(["wasm_go", "wasm_lib"]);
    expect(r.stderr).toBe("[wasm_lib] warning: go/go.mod or go.sum lacks what go/program.go needs; built with -mod=mod on a scratch copy (your files are unchanged): run `go mod tidy` in go to record it\n");
    expect(await readFile(join(proj, "wasm_lib", "go", "go.mod"), "utf8")).toBe(libGoMod);
    expect(existsSync(join(proj, "wasm_lib", "go", "go.sum"))).toBe(false);
    const calls = (await readFile(goLog, "utf8")).trim().split("\n");
    expect(calls).toContain("version");
    expect(calls).toContain("env GOVERSION GOOS GOARCH");
    expect(calls.filter((c) => c.startsWith("build -C ")).length).toBe(3); // wasm_go; wasm_lib refused, then -mod=mod
    expect(calls.find((c) => c.includes("-mod=mod"))).toMatch(/ -mod=mod -modfile=\S+\/gomod\/go\.mod program\.go$/);
  });

  it("a no-op run hits every cacheable step and spawns no go (its identity is remembered per binary)", async () => {
    await rm(goLog);
    const r = await run("--explain");
    expect(r.code, r.stderr).toBe(0);
    const cacheable = [...explainLines(r.stderr)].filter(([k]) => CACHEABLE.test(k));
    expect(cacheable.length).toBe(2 * (2 + 2 + 1 + 1));
    for (const [k, v] of cacheable) expect(`${k}: ${v}`).toBe(`${k}: hit`);
    expect(existsSync(goLog)).toBe(false);
  });

  it("editing a .go file reruns only that gadget's wasm and oci-pack; --explain names the file", async () => {
    const before = digestsOf(await run());
    await editFile(join(proj, "wasm_go", "go", "program.go"), "wasm_go: module built with %s", "wasm_go (edited): module built with %s");
    const r = await run("--explain");
    expect(r.code, r.stderr).toBe(0);
    const ex = explainLines(r.stderr);
    const reran = [...ex].filter(([k, v]) => CACHEABLE.test(k) && v !== "hit").map(([k, v]) => `${k}: ${v}`);
    expect(reran).toEqual(["wasm_go wasm: miss: wasm_go/go/program.go changed", "wasm_go oci-pack: miss: input wasm changed"]);
    const after = digestsOf(r);
    expect(after.wasm_go).not.toBe(before.wasm_go);
    expect(after.wasm_lib).toBe(before.wasm_lib);
  });

  it("editing a local replace target's .go file reruns that gadget's wasm; --explain names it", async () => {
    await editFile(join(proj, "wasm_lib", "lib", "lib.go"), "hello from lib", "hello again from lib");
    const r = await run("--explain");
    expect(r.code, r.stderr).toBe(0);
    const ex = explainLines(r.stderr);
    expect(ex.get("wasm_lib wasm")).toBe("miss: wasm_lib/lib/lib.go changed");
    expect(ex.get("wasm_lib oci-pack")).toBe("miss: input wasm changed");
    expect(ex.get("wasm_go wasm")).toBe("hit");
  });
});

describe("gadget image build: a Rust wasm module (cargo, wasm32-wasip1 installed here)", () => {
  const LIB_RS = `#[link(wasm_import_module = "ig")]
extern "C" {
    fn gadgetLog(level: u32, msg: u64);
}

#[no_mangle]
pub extern "C" fn gadgetAPIVersion() -> u64 {
    1
}

#[no_mangle]
pub extern "C" fn gadgetInit() -> i32 {
    let m = "hello from Rust";
    unsafe { gadgetLog(2, ((m.len() as u64) << 32) | (m.as_ptr() as u64)) };
    0
}
`;
  const crate = (dir: string, lib: string) =>
    variant(dir, async (d) => {
      await mkdir(join(d, "rs", "src"), { recursive: true });
      await writeFile(join(d, "rs", "Cargo.toml"), '[package]\nname = "rs-gadget"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\ncrate-type = ["cdylib"]\n');
      await writeFile(join(d, "rs", "src", "lib.rs"), lib);
      await writeFile(join(d, "build.yaml"), "wasm: rs/src/lib.rs\ncflags: [-I, ../include]\n");
    });

  it("builds with cargo --target wasm32-wasip1 --release and passes ig's check", async () => {
    const g = await crate("wasm_rs", LIB_RS);
    const r = await runGadget(["image", "build", g, "--oci-store", store], { env: { SOURCE_DATE_EPOCH: SDE, CARGO_NET_OFFLINE: "true" } });
    expect(r.code, r.stderr).toBe(0);
    const index = await blobJson(store, digestOf(r.stderr));
    const m = await blobJson(store, index.manifests[0].digest);
    expect(m.layers[1].mediaType).toBe(WASM_LAYER);
    const mod = await WebAssembly.compile(new Uint8Array(await blob(store, m.layers[1].digest)));
    expect(WebAssembly.Module.exports(mod).map((e) => e.name).sort()).toEqual(["gadgetAPIVersion", "gadgetInit", "memory"]);
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: "ig", name: "gadgetLog", kind: "function" }]);
  });

  it("a crate without gadgetAPIVersion: the missing export, with the Rust fix", async () => {
    const g = await crate("wasm_rs_noversion", LIB_RS.replace(/#\[no_mangle\]\npub extern "C" fn gadgetAPIVersion[\s\S]*?\n}\n/, ""));
    const before = await storeSnapshot(store);
    const r = await runGadget(["image", "build", g, "--oci-store", store], { env: { SOURCE_DATE_EPOCH: SDE, CARGO_NET_OFFLINE: "true" } });
    await expectFailure(r, before, /^Error: wasm module does not export gadgetAPIVersion \(rs\/src\/lib\.rs\): /);
    expect(r.stderr).toMatch(/\nhint: add `#\[no_mangle\] pub extern "C" fn gadgetAPIVersion\(\) -> u64 \{ 1 \}`\n$/);
  });
});
