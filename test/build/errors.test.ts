/** Bad inputs: one clear error each, exit 1 (2 for usage), and the store left exactly as it was. */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdir, writeFile, cp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { copyExamples, requireTools, storeSnapshot } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;
let examples: string;
let store: string;
let before: string;

beforeAll(async () => {
  requireTools("clang", "llvm-strip");
  ({ dir: root, cleanup } = await tempDir("gadget-build-err-"));
  examples = await copyExamples(root);
  store = join(root, "store");
  const r = await runGadget(["image", "build", join(examples, "count_syscall"), "-t", "keep:me", "--oci-store", store]);
  expect(r.code, r.stderr).toBe(0);
  before = await storeSnapshot(store);
});
afterAll(async () => cleanup?.());

/** A copy of an example to break. */
async function variant(example: string, name: string): Promise<string> {
  const dst = join(examples, name);
  await cp(join(examples, example), dst, { recursive: true });
  return dst;
}

async function build(dir: string, ...args: string[]): Promise<RunResult> {
  return runGadget(["image", "build", dir, "-t", "broken:x", "--oci-store", store, ...args], { cwd: root });
}

async function expectFailure(r: RunResult, pattern: RegExp, code = 1): Promise<void> {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace
  expect(await storeSnapshot(store)).toBe(before);
}

describe("gadget image build: bad inputs", () => {
  it("a C syntax error shows clang's file:line:col diagnostic once", async () => {
    const g = await variant("count_syscall", "syntax");
    const src = await readFile(join(g, "program.bpf.c"), "utf8");
    await writeFile(join(g, "program.bpf.c"), src.replace("return 0;\n}", "return 0\n}"));
    const r = await build(g);
    await expectFailure(r, /^Error: compiling .*program\.bpf\.c for (amd64|arm64) \(clang\): exit status 1:\n/);
    const diags = r.stderr.match(/program\.bpf\.c:\d+:\d+: error: expected ';' after return statement/g) ?? [];
    expect(diags).toHaveLength(1);
  });

  it("clang warnings are shown once, as clang printed them, and the build succeeds", async () => {
    const g = await variant("count_syscall", "warns");
    const src = await readFile(join(g, "program.bpf.c"), "utf8");
    await writeFile(join(g, "program.bpf.c"), src.replace("struct counter zero = {}, *c;", "struct counter zero = {}, *c;\n\tint unused_thing;"));
    const r = await runGadget(["image", "build", g, "--oci-store", join(root, "other-store")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/program\.bpf\.c:\d+:\d+: warning: unused variable 'unused_thing'/g)).toHaveLength(1);
  });

  it("a missing header names the header and how to get it", async () => {
    const g = await variant("count_syscall", "noheader");
    const src = await readFile(join(g, "program.bpf.c"), "utf8");
    await writeFile(join(g, "program.bpf.c"), src.replace('#include "syscall_nr.h"', '#include "syscall_nr.h"\n#include <bpf/not_there.h>'));
    const r = await build(g);
    await expectFailure(r, /fatal error: 'bpf\/not_there\.h' file not found/);
    expect(r.stderr).toMatch(/^hint: .*libbpf-dev/m);
  });

  it("bad build.yaml YAML names file:line:col", async () => {
    const g = await variant("trace_exec", "badyaml");
    await writeFile(join(g, "build.yaml"), "cflags: [-I, ../include\nwasm: x\n");
    await expectFailure(await build(g), /^Error: invalid YAML \(.*badyaml\/build\.yaml:\d+:\d+\): /);
  });

  it("unknown build.yaml keys are a warning, not an error", async () => {
    const g = await variant("count_syscall", "unknownkey");
    await writeFile(join(g, "build.yaml"), "ebpfsource: program.bpf.c\nbuilderImage: foo\n");
    const r = await runGadget(["image", "build", g, "--oci-store", join(root, "other-store")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Warning: .*build\.yaml: unknown key builderImage/);
  });

  it("a gadget.yaml param that is not const volatile is refused (and accepted with --validate-metadata=false)", async () => {
    const g = await variant("count_syscall", "notconst");
    const meta = await readFile(join(g, "gadget.yaml"), "utf8");
    await writeFile(join(g, "gadget.yaml"), meta.replace("    target_nr:", "    counts:\n      key: c\n    target_nr:"));
    await expectFailure(await build(g), /^Error: invalid metadata \(.*gadget\.yaml: params\.ebpf\.counts\): "counts" is not const/);
    const src = await readFile(join(g, "program.bpf.c"), "utf8");
    await writeFile(join(g, "gadget.yaml"), meta);
    await writeFile(join(g, "program.bpf.c"), src.replace("const volatile long target_nr", "const long target_nr"));
    await expectFailure(await build(g), /"target_nr" is not volatile\nhint: .*it is `const long`/);
    const r = await runGadget(["image", "build", g, "--validate-metadata=false", "--oci-store", join(root, "other-store")]);
    expect(r.code, r.stderr).toBe(0);
  });

  it("a corrupt .wasm is refused", async () => {
    const g = await variant("count_syscall", "badwasm");
    await writeFile(join(g, "mod.wasm"), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 9, 1, 0x60]));
    await writeFile(join(g, "build.yaml"), "wasm: mod.wasm\n");
    await expectFailure(await build(g), /^Error: invalid wasm module \(.*mod\.wasm\): invalid WebAssembly module/);
    await writeFile(join(g, "mod.wasm"), "(module)\n");
    await expectFailure(await build(g), /missing \\0asm magic/);
  });

  it("missing files: a custom ebpfsource, a -f build file, the folder itself", async () => {
    const g = await variant("count_syscall", "missing");
    await writeFile(join(g, "build.yaml"), "ebpfsource: gone.bpf.c\n");
    await expectFailure(await build(g), /^Error: source file not found \(.*ebpfsource\): "gone\.bpf\.c" does not exist/);
    await expectFailure(await build(g, "-f", join(g, "nope.yaml")), /^Error: reading build file \(.*nope\.yaml\): no such file or directory/);
    await expectFailure(await build(join(root, "no-such-dir")), /^Error: gadget folder not found/);
  });

  it("a directory that is not a gadget", async () => {
    const d = join(root, "empty");
    await mkdir(d);
    await writeFile(join(d, "README.md"), "hi\n");
    await expectFailure(await build(d), /^Error: not a gadget folder \(.*empty\): at least one of ebpf source \(program\.bpf\.c\), metadata \(gadget\.yaml\)/);
  });

  it("--builder-image is a usage error: only local tools are used", async () => {
    await expectFailure(await build(join(examples, "count_syscall"), "--builder-image", "ghcr.io/x/builder:1"), /^Error: container builds are not supported \(--builder-image\)/, 2);
    await expectFailure(await build(join(examples, "count_syscall"), "--btfgen"), /btfgen requires --btfhub-archive/, 2);
    await expectFailure(await build(join(examples, "count_syscall"), "-o=@args"), /wrong build option \(--output\): response files are not accepted/, 2);
    await expectFailure(await build(join(examples, "count_syscall"), "--btfgen", "--btfhub-archive=-x"), /wrong build option \(--btfhub-archive\): flags are not accepted/, 2);
  });

  it("a missing clang names the tool and the Debian package", async () => {
    const r = await runGadget(["image", "build", join(examples, "count_syscall"), "--oci-store", store], { env: { PATH: join(root, "empty-path") } });
    await expectFailure(r, /^Error: tool not found \(clang\): clang is not on PATH\nhint: install the Debian package clang/);
  });
});
