/** build.yaml with ig's rules, the ig step list, clang/strip argv, depfiles. */
import { describe, expect, it, beforeEach, afterEach } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers/cli.js";
import { gadgetFromBuildYaml, igSteps, parseBuildYaml, parseArchs, simpleYamlMap } from "../../recipes/ig.js";
import { parse as parseYaml } from "yaml";
import { clangArgs, igClangArgs } from "../../plugins/clang.js";
import { parseDepfile } from "../../plugins/depfile.js";
import { wasmProblem } from "../../plugins/wasm.js";
import { deterministicTarGz } from "../../plugins/btfgen.js";
import { gunzipSync } from "node:zlib";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir("gadget-recipe-")));
afterEach(async () => cleanup());

describe("build.yaml", () => {
  it("reads ebpfsource, metadata, wasm and cflags (list or string)", async () => {
    expect((await parseBuildYaml("ebpfsource: a.bpf.c\nmetadata: m.yaml\nwasm: x.wasm\ncflags: [-DFOO, -I, inc]\n")).conf).toEqual({ ebpfsource: "a.bpf.c", metadata: "m.yaml", wasm: "x.wasm", cflags: ["-DFOO", "-I", "inc"] });
    expect((await parseBuildYaml("cflags: -DA=1  -Wno-unused\n")).conf.cflags).toEqual(["-DA=1", "-Wno-unused"]);
    expect((await parseBuildYaml("")).conf).toEqual({});
  });

  it("warns about unknown keys, naming them", async () => {
    const { warnings } = await parseBuildYaml("ebpfsource: p.bpf.c\nbuilder: x\nfoo: 1\n", "g/build.yaml");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/g\/build\.yaml: unknown keys builder, foo/);
  });

  it("bad YAML is an error naming file:line:col", async () => {
    await expect(parseBuildYaml("ebpfsource: [a\nmetadata: b\n", "g/build.yaml")).rejects.toThrow(/invalid YAML \(g\/build\.yaml:\d+:\d+\)/);
    await expect(parseBuildYaml("- a\n- b\n")).rejects.toThrow(/expected a YAML map/);
    await expect(parseBuildYaml("cflags: {a: 1}\n")).rejects.toThrow(/cflags.*list of strings/);
    await expect(parseBuildYaml("ebpfsource: [a, b]\n")).rejects.toThrow(/ebpfsource.*path string/);
  });
});

describe("build.yaml fast path", () => {
  const cases = [
    'cflags: ["-I", "../include"]\n',
    "cflags: [-I, ../include, -DX=1]\nwasm: wasm/program.c\n",
    "# comment\n\nebpfsource: my prog.bpf.c   # trailing\nmetadata: 'meta.yaml'\n",
    "cflags: []\n",
    "ebpfsource: yes\nwasm: on\n",
    // everything below must go to the full parser (or agree with it)
    "ebpfsource: 123\n",
    "ebpfsource: null\n",
    "ebpfsource: ~\n",
    "ebpfsource: true\n",
    "ebpfsource: 1e3\n",
    "ebpfsource: 0x1F\n",
    "ebpfsource: a#b\n",
    "ebpfsource: a: b\n",
    "cflags: [\"a,b\", c]\n",
    "cflags: [-1, x]\n",
    "cflags:\n  - -DX\n",
    "cflags: -DA  -DB\n",
    "wasm:\n",
    "wasm: x\nwasm: y\n",
    "---\nwasm: x\n",
    "wasm: 'it''s'\n",
    'wasm: "a\\tb"\n',
    "wasm: \tx\n",
    "builderImage: x\n",
    "ebpfsource: -x\n",
    "ebpfsource: '@x'\n",
  ];
  it("agrees with the YAML library whenever it answers, and answers for the usual shapes", () => {
    let answered = 0;
    for (const text of cases) {
      const fast = simpleYamlMap(text);
      if (fast === undefined) continue;
      answered++;
      expect(fast, text).toEqual(parseYaml(text));
    }
    expect(answered).toBeGreaterThanOrEqual(5);
    expect(simpleYamlMap(cases[0]!)).toEqual({ cflags: ["-I", "../include"] });
    for (const t of ["ebpfsource: 123\n", "ebpfsource: null\n", "cflags: [\"a,b\", c]\n", "wasm: x\nwasm: y\n", "cflags:\n  - -DX\n"]) expect(simpleYamlMap(t), t).toBeUndefined();
  });
});

describe("gadgetFromBuildYaml (ig's default-path rules)", () => {
  it("defaults: program.bpf.c + gadget.yaml, name from the folder, both archs amd64 then arm64", async () => {
    const g = join(dir, "trace_x");
    await mkdir(g);
    await writeFile(join(g, "program.bpf.c"), "");
    const { gadget, warnings } = await gadgetFromBuildYaml("trace_x", { cwd: dir, tag: "trace_x:v1" });
    expect(warnings).toEqual([]);
    expect(gadget).toMatchObject({ name: "trace_x", dir: g, ebpfSource: join(g, "program.bpf.c"), metadata: join(g, "gadget.yaml"), archs: ["amd64", "arm64"], cflags: [], tag: "ghcr.io/inspektor-gadget/gadget/trace_x:v1" });
    expect(gadget.settings.ebpf).toBe(true);
  });

  it("a missing default program.bpf.c is fine when gadget.yaml is there", async () => {
    await writeFile(join(dir, "gadget.yaml"), "name: x\n");
    const { gadget } = await gadgetFromBuildYaml(dir, {});
    expect(gadget.settings.ebpf).toBe(false);
  });

  it("a missing custom path is an error; so is a missing wasm", async () => {
    await writeFile(join(dir, "gadget.yaml"), "name: x\n");
    await writeFile(join(dir, "build.yaml"), "ebpfsource: other.bpf.c\n");
    await expect(gadgetFromBuildYaml(dir)).rejects.toThrow(/source file not found.*ebpfsource.*"other\.bpf\.c"/);
    await writeFile(join(dir, "build.yaml"), "wasm: mod.wasm\n");
    await expect(gadgetFromBuildYaml(dir)).rejects.toThrow(/wasm file not found/);
    await writeFile(join(dir, "build.yaml"), "metadata: meta/other.yaml\n");
    await expect(gadgetFromBuildYaml(dir)).rejects.toThrow(/metadata file not found/);
    await writeFile(join(dir, "program.bpf.c"), "");
    await expect(gadgetFromBuildYaml(dir)).rejects.toThrow(/metadata file not found/);
    await expect(gadgetFromBuildYaml(dir, { updateMetadata: true })).resolves.toBeTruthy();
  });

  it("rejects paths starting with - or @ (flag and response-file injection)", async () => {
    await writeFile(join(dir, "gadget.yaml"), "name: x\n");
    await writeFile(join(dir, "build.yaml"), "ebpfsource: -fplugin=evil.so\n");
    await expect(gadgetFromBuildYaml(dir)).rejects.toThrow(/flags are not accepted/);
    await writeFile(join(dir, "build.yaml"), "wasm: '@args.txt'\n");
    await expect(gadgetFromBuildYaml(dir)).rejects.toThrow(/response files are not accepted/);
  });

  it("a folder with nothing of a gadget, a file, or a missing folder is an error", async () => {
    await expect(gadgetFromBuildYaml(dir)).rejects.toThrow(/not a gadget folder.*at least one of ebpf source/);
    await writeFile(join(dir, "f"), "");
    await expect(gadgetFromBuildYaml(join(dir, "f"))).rejects.toThrow(/not a directory/);
    await expect(gadgetFromBuildYaml(join(dir, "nope"))).rejects.toThrow(/gadget folder not found/);
  });

  it("-f names a build file relative to cwd, which must exist", async () => {
    await writeFile(join(dir, "program.bpf.c"), "");
    await expect(gadgetFromBuildYaml(".", { cwd: dir, file: "custom.yaml" })).rejects.toThrow(/reading build file \(custom\.yaml\)/);
    await writeFile(join(dir, "custom.yaml"), "cflags: [-DX]\n");
    expect((await gadgetFromBuildYaml(".", { cwd: dir, file: "custom.yaml" })).gadget.cflags).toEqual(["-DX"]);
  });

  it("--arch keeps ig's order and rejects unknown archs", async () => {
    expect(await parseArchs(["arm64", "amd64"])).toEqual(["arm64", "amd64"]);
    await expect(parseArchs(["riscv"])).rejects.toThrow(/unsupported architecture/);
  });
});

describe("steps and argv", () => {
  it("ig's step list: clang, strip, wasm, [btfgen], oci-pack, store-tag", () => {
    const names = (s: ReturnType<typeof igSteps>) => s.map((x) => (typeof x === "string" ? x : x.stage));
    expect(names(igSteps())).toEqual(["clang", "strip", "wasm", "oci-pack", "store-tag"]);
    expect(names(igSteps({ btfgen: true, btfhubArchive: "/a" }))).toEqual(["clang", "strip", "wasm", "btfgen", "oci-pack", "store-tag"]);
  });

  it("clang argv is exactly ig's (DESIGN §6), then cflags, prefix map and depfile", () => {
    expect(igClangArgs({ multiarch: "x86_64-linux-gnu", arch: "amd64", source: "program.bpf.c", out: "/o/amd64.bpf.o" }).join(" ")).toBe(
      "-target bpf -Wall -g -O2 -I/usr/include/x86_64-linux-gnu -D __TARGET_ARCH_x86 -c program.bpf.c -I /usr/include/gadget/amd64/ -o /o/amd64.bpf.o",
    );
    expect(igClangArgs({ multiarch: "x86_64-linux-gnu", arch: "arm64", source: "program.bpf.c", out: "o" })).toContain("__TARGET_ARCH_arm64");
    const full = clangArgs({ multiarch: "m", arch: "arm64", source: "p.c", out: "o", gadgetDir: "/src/g", cflags: ["-DX"], depfile: "/o/d" });
    expect(full.slice(full.indexOf("-DX"))).toEqual(["-DX", "-ffile-prefix-map=/src/g=.", "-MD", "-MF", "/o/d"]);
  });

  it("depfiles: continuation lines, escaped spaces, relative paths resolved", () => {
    const d = "/o/amd64.bpf.o: program.bpf.c /usr/include/linux/bpf.h \\\n  my\\ dir/x.h ../include/gadget/macros.h\n";
    expect(parseDepfile(d, "/g/trace")).toEqual(["/g/trace/program.bpf.c", "/usr/include/linux/bpf.h", "/g/trace/my dir/x.h", "/g/include/gadget/macros.h"]);
  });

  it("wasm validation: magic, version and module structure", () => {
    expect(wasmProblem(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toBeUndefined();
    expect(wasmProblem(Buffer.from("(module)"))).toMatch(/missing \\0asm magic/);
    expect(wasmProblem(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toMatch(/version 2/);
    expect(wasmProblem(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1]))).toMatch(/invalid WebAssembly module/);
  });

  it("btfgen tarballs are deterministic and keep the <distro>/<ver>/<arch>/<kernel>.btf tree", async () => {
    const files = [{ path: "ubuntu/22.04/x86_64/5.15.0-1.btf", data: new Uint8Array([1, 2, 3]) }];
    const a = await deterministicTarGz(files);
    expect(a.equals(await deterministicTarGz(files))).toBe(true);
    const tar = gunzipSync(a);
    const names: string[] = [];
    for (let o = 0; o + 512 <= tar.length; ) {
      const name = tar.subarray(o, o + 100).toString("utf8").replace(/\0.*$/s, "");
      if (!name) break;
      names.push(name);
      const size = parseInt(tar.subarray(o + 124, o + 136).toString("utf8").replace(/\0.*$/s, ""), 8);
      o += 512 + Math.ceil(size / 512) * 512;
    }
    expect(names).toEqual(["ubuntu/", "ubuntu/22.04/", "ubuntu/22.04/x86_64/", "ubuntu/22.04/x86_64/5.15.0-1.btf"]);
  });
});
