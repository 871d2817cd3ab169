/**
 * The test gadgets (test/fixtures/gadgets, written for this project with the stand-in
 * <gadget/*.h> headers of test/fixtures/include): each builds for amd64 and arm64 with
 * `gadget image build` and validation on; their objects show the constructs ig's gadgets use;
 * `--update-metadata` writes what ig writes; the negative twins (test/fixtures/gadgets-invalid)
 * fail with ig's words, exit 1, one line plus a hint, and leave the store as it was.
 * All builds run once, in parallel, and are shared by the assertions.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import { chmod, cp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { FIXTURE_GADGETS, FIXTURE_INCLUDE, INVALID_GADGETS } from "../helpers/bpf-fixtures.js";
import { EXAMPLES, requireTools, storeSnapshot } from "./helpers.js";
import { BtfKind, parseMetadata, readBpfObject, unknownMetadataKeys, updateMetadata, validateMetadata, type BpfObject } from "../../core/index.js";

const ARCHS = ["amd64", "arm64"] as const;

/** Run `jobs` with at most `limit` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]!();
      }
    }),
  );
  return results;
}

let dir: string;
let cleanup: () => Promise<void>;
let names: string[];
const built = new Map<string, RunResult & { out: string }>();
const objects = new Map<string, Record<(typeof ARCHS)[number], BpfObject>>();

beforeAll(async () => {
  requireTools("clang", "llvm-strip");
  ({ dir, cleanup } = await tempDir("gadget-fixtures-"));
  names = (await readdir(FIXTURE_GADGETS)).sort();
  const store = join(dir, "store");
  await pool(
    names.map((name) => async () => {
      const out = join(dir, "out", name);
      await mkdir(out, { recursive: true });
      const r = await runGadget(["image", "build", join(FIXTURE_GADGETS, name), "-o", out, "--oci-store", store, "--json"]);
      built.set(name, { ...r, out });
      if (r.code === 0) {
        const read = async (arch: (typeof ARCHS)[number]) => readBpfObject(await readFile(join(out, `${arch}.bpf.o`)), `${name}/${arch}.bpf.o`);
        objects.set(name, { amd64: await read("amd64"), arm64: await read("arm64") });
      }
    }),
    3,
  );
}, 180_000);
afterAll(async () => cleanup?.());

const obj = (name: string) => objects.get(name)!.amd64;
const value = (o: BpfObject, name: string) => o.globals.find((g) => g.name === name)?.value;

describe("fixture gadgets", () => {
  it("at least 15 gadgets, each built for amd64 and arm64 with validation on, no error and no warning", () => {
    expect(names.length).toBeGreaterThanOrEqual(15);
    for (const name of names) {
      const r = built.get(name)!;
      expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 0, stderr: "" });
      const j = JSON.parse(r.stdout);
      expect(j.manifests.map((m: { arch: string }) => m.arch)).toEqual(["amd64", "arm64"]);
    }
  });

  it("their objects hold the constructs ig's headers and gadgets use", () => {
    const all = [...objects.values()].flatMap((o) => [o.amd64, o.arm64]);
    const any = (pred: (o: BpfObject) => boolean) => all.some(pred);
    const types = (o: BpfObject) => o.btf.types;
    const constructs: Record<string, boolean> = {
      "array param (const volatile gadget_comm targ_comm[16])": any((o) => o.globals.some((g) => g.name === "targ_comm" && g.cType === "const volatile gadget_comm[16]")),
      "scalar params of every int width": [8, 16, 32, 64].every((w) => any((o) => o.globals.some((g) => g.typeHint === `int${w}` && g.isConst && g.isVolatile)) && any((o) => o.globals.some((g) => g.typeHint === `uint${w}` && g.isConst && g.isVolatile))),
      "bool param": any((o) => o.globals.some((g) => g.typeHint === "bool" && g.isConst)),
      "sized enums (1, 2, 4, 8 bytes)": [1, 2, 4, 8].every((s) => any((o) => types(o).some((t) => t.kind === BtfKind.Enum && t.size === s))),
      ".bss (NOBITS)": any((o) => o.globals.some((g) => g.section === ".bss" && g.value === "0")),
      "custom .data.* and .rodata.* sections": any((o) => o.globals.some((g) => g.section === ".data.buckets")) && any((o) => o.globals.some((g) => g.section === ".rodata.limits")),
      "ring-buffer tracer": any((o) => o.markers.some((m) => m.kind === "tracer" && o.maps.find((x) => x.name === m.parts[1])?.type === 27)),
      "perf-buffer tracer": any((o) => o.markers.some((m) => m.kind === "tracer" && o.maps.find((x) => x.name === m.parts[1])?.type === 4)),
      "GADGET_SNAPSHOTTER with two iterators": any((o) => o.markers.some((m) => m.kind === "snapshotter" && m.parts.length === 4) && o.programs.filter((p) => p.section === "iter/task").length === 2),
      GADGET_TOPPER: any((o) => o.markers.some((m) => m.kind === "topper")),
      GADGET_MAPITER: any((o) => o.markers.some((m) => m.kind === "mapiter")),
      "maps of maps (array and hash)": any((o) => o.maps.some((m) => m.type === 12 && m.inner?.type === 2) && o.maps.some((m) => m.type === 13 && m.inner !== undefined)),
      "__ksym (variable and kfunc) and __kconfig externs": any((o) => o.externs.some((e) => e.section === ".ksyms" && e.isFunction) && o.externs.some((e) => e.section === ".ksyms" && !e.isFunction) && o.externs.some((e) => e.section === ".kconfig")),
      "static and global subprograms": any((o) => types(o).some((t) => t.kind === BtfKind.Func && t.name === "scale" && t.linkage === 0) && types(o).some((t) => t.kind === BtfKind.Func && t.name === "clamp_score" && t.linkage === 1)),
      "bpf_loop callbacks": any((o) => types(o).some((t) => t.kind === BtfKind.Func && t.name === "add_index")),
      bitfields: any((o) => types(o).some((t) => t.kind === BtfKind.Struct && (t.members ?? []).some((m) => m.bitfieldSize === 1))),
      unions: any((o) => types(o).some((t) => t.kind === BtfKind.Union && t.name === "") && types(o).some((t) => t.kind === BtfKind.Union && t.name === "gadget_ip_addr_t")),
      "nested structs": any((o) => (o.btf.byName("event", BtfKind.Struct)?.members ?? []).some((m) => o.btf.get(m.type).kind === BtfKind.Struct)),
      "typedef chains": any((o) => o.globals.some((g) => g.name === "listen_port" && g.cType === "const volatile listen_port_t" && g.typeHint === "uint32")),
      "struct param": any((o) => o.globals.some((g) => g.name === "limits" && g.cType === "const volatile struct limits")),
    };
    expect(Object.entries(constructs).filter(([, ok]) => !ok).map(([c]) => c)).toEqual([]);
  });

  it("reads parameter values with each type's own size, on both architectures", () => {
    for (const arch of ARCHS) {
      const ints = objects.get("params_ints")![arch];
      const want = { p_u8: "200", p_s8: "-100", p_u16: "60000", p_s16: "-30000", p_u32: "4000000000", p_s32: "-2000000000", p_u64: "18000000000000000000", p_s64: "-9000000000000000000", p_bool: "true", p_ulong: "7" };
      for (const [k, v] of Object.entries(want)) expect([arch, k, value(ints, k)]).toEqual([arch, k, v]);
      const enums = objects.get("params_enums")![arch];
      expect(["level", "width", "delta", "huge", "listen_port", "last_level"].map((k) => value(enums, k))).toEqual(["200", "60000", "-5", "4294967296", "8443", "1"]);
      const data = objects.get("data_sections")![arch];
      expect(["hits", "seed", "ring_pos", "limit", "base_port", "zero_param"].map((k) => value(data, k))).toEqual(["0", "12345", "0", "77", "1000", "0"]);
      expect(data.globals.find((g) => g.name === "private_hits")).toMatchObject({ section: ".bss", linkage: "static", value: "0", offset: 8 });
      expect(value(objects.get("params_arrays")![arch], "path_prefix")).toBe("/tmp");
    }
  });

  it("the committed gadget.yaml files validate: no error, no warning, no unknown key", async () => {
    for (const name of names) {
      const text = await readFile(join(FIXTURE_GADGETS, name, "gadget.yaml"), "utf8");
      for (const arch of ARCHS) expect([name, arch, validateMetadata(parseMetadata(text), objects.get(name)![arch])]).toEqual([name, arch, { errors: [], warnings: [] }]);
      expect(unknownMetadataKeys(text)).toEqual([]);
    }
  });

  it("--update-metadata from scratch (in process) writes ig's entries, and the result validates", () => {
    for (const name of names) {
      const o = obj(name);
      const m = parse(updateMetadata(undefined, o).text);
      const params = o.markers.filter((x) => x.kind === "param").map((x) => x.parts[0]!);
      expect(Object.keys(m.params?.ebpf ?? {}).sort()).toEqual([...params].sort());
      for (const p of params) expect(m.params.ebpf[p]).toEqual({ key: p, defaultValue: "", description: "TODO: Fill parameter description" });
      const committed = parseMetadata(readFileSync(join(FIXTURE_GADGETS, name, "gadget.yaml"), "utf8"));
      expect([name, Object.keys(m.datasources ?? {}).sort()]).toEqual([name, Object.keys((committed.datasources as object) ?? {}).sort()]);
      expect(validateMetadata(m, o).errors).toEqual([]);
    }
  });
});

describe("--update-metadata through the CLI", () => {
  it("creates gadget.yaml with array params, tracer, snapshotter, topper and map-iterator datasources", async () => {
    const cases = ["filter_trace", "snapshot_tasks", "top_syscalls", "mapiter_counts"];
    const root = join(dir, "update");
    await cp(FIXTURE_INCLUDE, join(root, "include"), { recursive: true });
    const results = await pool(
      cases.map((name) => async () => {
        const g = join(root, "gadgets", name);
        await cp(join(FIXTURE_GADGETS, name), g, { recursive: true });
        await rm(join(g, "gadget.yaml"));
        const r = await runGadget(["image", "build", g, "--update-metadata", "--oci-store", join(dir, "update-store")]);
        return { name, r, yaml: parse(await readFile(join(g, "gadget.yaml"), "utf8")) };
      }),
      2,
    );
    const fieldsOf = (y: any, ds: string) => Object.keys(y.datasources[ds].fields);
    const todo = { annotations: { description: "TODO: Fill field description" } };
    // the result line goes to stderr, as ig's (cobra's cmd.Printf); nothing else may be there
    for (const { name, r } of results) expect([name, r.code, r.stderr.replace(/^Successfully built @sha256:[0-9a-f]{64}\n$/m, "")]).toEqual([name, 0, ""]);
    const [filter, snap, top, iter] = results.map((x) => x.yaml);
    expect(filter.name).toBe("TODO: Fill the gadget name");
    expect(filter.sourceURL).toBe("TODO: Fill the gadget source code URL");
    expect(filter.params.ebpf.targ_comm).toEqual({ key: "targ_comm", defaultValue: "", description: "TODO: Fill parameter description" });
    expect(Object.keys(filter.params.ebpf).sort()).toEqual(["targ_comm", "targ_gid", "targ_pid", "targ_tid", "targ_uid"]);
    expect(fieldsOf(filter, "writes")).toEqual(["timestamp_raw", "proc", "fd", "count"]);
    expect(filter.datasources.writes.fields.proc).toEqual(todo);
    expect(fieldsOf(snap, "tasks")).toEqual(["comm", "pid", "ppid", "mntns_id", "kthread"]);
    expect(Object.keys(snap.params.ebpf)).toEqual(["show_threads"]);
    expect(fieldsOf(top, "syscalls")).toEqual(["comm", "calls", "last_nr"]);
    expect(fieldsOf(iter, "reads")).toEqual(["pid", "fd", "bytes", "reads"]);
  });
});

describe("negative twins", () => {
  it("fail with ig's words, exit 1, one line plus a hint, and leave the store as it was", async () => {
    const store = join(dir, "neg-store");
    expect((await runGadget(["image", "build", join(FIXTURE_GADGETS, "trace_perf"), "-t", "keep:v1", "--oci-store", store])).code).toBe(0);
    const before = await storeSnapshot(store);
    const expected: Record<string, RegExp> = {
      param_not_const: /^Error: invalid metadata \(.*param_not_const\/gadget\.yaml: params\.ebpf\.max_events\): "max_events" is not const$/,
      param_not_volatile: /^Error: invalid metadata \(.*param_not_volatile\/gadget\.yaml: params\.ebpf\.name_filter\): "name_filter" is not volatile$/,
      param_missing: /^Error: invalid metadata \(.*param_missing\/gadget\.yaml: params\.ebpf\.targ_port\): variable "targ_port" not found in eBPF object$/,
      param_not_global: /^Error: invalid metadata \(.*param_not_global\/gadget\.yaml: params\.ebpf\.limit\): "limit" is not a global variable$/,
      param_empty_key: /^Error: invalid metadata \(.*param_empty_key\/gadget\.yaml: params\.ebpf\.iterations\): param "iterations" has an empty key$/,
      undefined_memcmp: /^Error: undefined symbol in eBPF object \(undefined_memcmp\/(amd64|arm64)\.bpf\.o\): "memcmp" is not defined in the program and not a kernel symbol \(__ksym\) or config value \(__kconfig\), so the object cannot load$/,
    };
    const negatives = (await readdir(INVALID_GADGETS)).sort();
    expect(negatives).toEqual(Object.keys(expected).sort());
    const results = await pool(negatives.map((name) => () => runGadget(["image", "build", join(INVALID_GADGETS, name), "--oci-store", store]).then((r) => ({ name, r }))), 3);
    for (const { name, r } of results) {
      const lines = r.stderr.trimEnd().split("\n");
      expect({ name, code: r.code, stdout: r.stdout, lines: lines.length }).toEqual({ name, code: 1, stdout: "", lines: 2 });
      expect(lines[0]).toMatch(expected[name]!);
      expect(lines[1]).toMatch(/^hint: \S/);
    }
    expect(results.find((x) => x.name === "param_not_volatile")!.r.stderr).toContain("it is `const gadget_comm[16]`");
    expect(results.find((x) => x.name === "undefined_memcmp")!.r.stderr).toContain("hint: clang 14 does not inline memcmp for BPF");
    expect(await storeSnapshot(store)).toBe(before);
  });
});

describe("gadget.yaml keys ig does not know", () => {
  it("are warnings naming the key path and its line; a missing name is a warning; the build succeeds", async () => {
    const root = join(dir, "keys");
    await cp(FIXTURE_INCLUDE, join(root, "include"), { recursive: true });
    const g = join(root, "gadgets", "typos");
    await cp(join(FIXTURE_GADGETS, "trace_perf"), g, { recursive: true });
    await writeFile(
      join(g, "gadget.yaml"),
      ["descripton: kill(2) events", "datasources:", "  kill:", "    fields:", "      sig_raw:", "        anotations:", "          description: Signal", "params:", "  ebpf:", "    only_signal:", "      key: signal", "      defaultvalue: \"0\"", ""].join("\n"),
    );
    const r = await runGadget(["image", "build", g, "--oci-store", join(dir, "keys-store")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^Successfully built @sha256:[0-9a-f]{64}$/m);
    const warnings = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("Successfully built "));
    expect(warnings).toEqual([
      expect.stringMatching(/^warning: .*typos\/gadget\.yaml:1: unknown key "descripton" \(ig ignores it; did you mean "description"\?\)$/i),
      expect.stringMatching(/^warning: .*typos\/gadget\.yaml:6: unknown key "datasources\.kill\.fields\.sig_raw\.anotations" \(ig ignores it; did you mean "annotations"\?\)$/i),
      expect.stringMatching(/^warning: .*typos\/gadget\.yaml:12: unknown key "params\.ebpf\.only_signal\.defaultvalue" \(ig ignores it; did you mean "defaultValue"\?\)$/i),
      expect.stringMatching(/^warning: .*typos\/gadget\.yaml: name: gadget name is empty$/i),
    ]);
  });
});

describe("a damaged object", () => {
  it("is one 'reading eBPF object (<gadget>/<arch>.bpf.o)' error, exit 1, store unchanged", async () => {
    // a clang that compiles, then cuts its output short: what a full disk or a broken toolchain leaves
    const bin = join(dir, "bin");
    await mkdir(bin, { recursive: true });
    const wrapper = join(bin, "clang");
    await writeFile(wrapper, `#!/bin/sh\nclang_out=""\nprev=""\nfor a in "$@"; do [ "$prev" = "-o" ] && clang_out="$a"; prev="$a"; done\nPATH="${process.env.PATH}" clang "$@" || exit $?\n[ -n "$clang_out" ] && truncate -s 200 "$clang_out"\nexit 0\n`);
    await chmod(wrapper, 0o755);
    const store = join(dir, "damaged-store");
    expect((await runGadget(["image", "build", join(FIXTURE_GADGETS, "trace_perf"), "-t", "keep:v1", "--oci-store", store])).code).toBe(0);
    const before = await storeSnapshot(store);
    const r = await runGadget(["image", "build", join(FIXTURE_GADGETS, "params_enums"), "--oci-store", store], { env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split("\n")[0]).toMatch(/^Error: reading eBPF object \(params_enums\/(amd64|arm64)\.bpf\.o\): invalid ELF file: section header offset \d+ is past the end of the file \(200 bytes\)$/);
    expect(r.stderr).not.toMatch(/RangeError|TypeError|    at /);
    expect(await storeSnapshot(store)).toBe(before);
  });
});

describe("the stand-in headers", () => {
  it("examples/include/gadget/macros.h is the fixture set's macros.h", async () => {
    expect(await readFile(join(EXAMPLES, "include", "gadget", "macros.h"), "utf8")).toBe(await readFile(join(FIXTURE_INCLUDE, "gadget", "macros.h"), "utf8"));
  });
});
