/** gadget.yaml against the object's BTF: --validate-metadata and --update-metadata. */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { tempDir } from "../helpers/cli.js";
import { assertValid, goQuote, parseMetadata, readBpfObject, unknownMetadataKeys, updateMetadata, validateMetadata, type BpfObject } from "../../core/index.js";
import { EXAMPLES, requireTools } from "./helpers.js";

let obj: BpfObject;
let plain: BpfObject;
let broken: BpfObject;

/** Every GADGET_* marker wrong in the way ig's --update-metadata refuses. */
const BROKEN_MARKERS = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <gadget/macros.h>
struct event { __u32 pid; };
struct key { __u32 k; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u32); __type(value, struct event); } table SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } ring SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, struct key); __type(value, __u64); } counts SEC(".maps");
volatile __u32 not_const = 1;
GADGET_PARAM(not_const);
GADGET_TRACER(bad, table, event);
GADGET_TRACER(nostruct, ring, missing_struct);
GADGET_MAPITER(iter, ring);
GADGET_MAPITER(values, counts);
GADGET_TOPPER(top, counts);
GADGET_SNAPSHOTTER(snap, event, on_tp);
static const void *volatile gadget_mapiter_static___x;
SEC("tracepoint/syscalls/sys_enter_getpid")
int on_tp(void *ctx) { gadget_mapiter_static___x = ctx; return not_const; }
char LICENSE[] SEC("license") = "GPL";
`;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  requireTools("clang");
  const t = await tempDir("gadget-meta-");
  cleanup = t.cleanup;
  const triple = execFileSync("clang", ["-print-multiarch"]).toString().trim();
  const cc = (dir: string, out: string) =>
    execFileSync("clang", ["-target", "bpf", "-g", "-O2", `-I/usr/include/${triple}`, "-D", "__TARGET_ARCH_x86", "-I", "../include", "-c", "program.bpf.c", "-o", out], { cwd: dir });
  cc(join(EXAMPLES, "trace_exec"), join(t.dir, "te.o"));
  cc(join(EXAMPLES, "count_syscall"), join(t.dir, "cs.o"));
  obj = readBpfObject(readFileSync(join(t.dir, "te.o")));
  writeFileSync(join(t.dir, "broken.bpf.c"), BROKEN_MARKERS);
  execFileSync("clang", ["-target", "bpf", "-g", "-O2", `-I/usr/include/${triple}`, "-I", join(EXAMPLES, "include"), "-c", "broken.bpf.c", "-o", "broken.o"], { cwd: t.dir });
  broken = readBpfObject(readFileSync(join(t.dir, "broken.o")));
  plain = readBpfObject(readFileSync(join(t.dir, "cs.o")));
});
afterAll(async () => cleanup?.());

describe("--validate-metadata", () => {
  it("accepts the example's gadget.yaml", () => {
    const meta = parseMetadata(readFileSync(join(EXAMPLES, "trace_exec", "gadget.yaml"), "utf8"));
    const r = validateMetadata(meta, obj);
    expect(r.errors).toEqual([]);
    expect(() => assertValid(r)).not.toThrow();
  });

  it("a params.ebpf entry that is not a const volatile global is an error naming the field", () => {
    const r = validateMetadata({ name: "x", params: { ebpf: { nope: { key: "n" }, events: { key: "e" } } } }, obj);
    expect(r.errors.map((e) => e.field)).toEqual(["params.ebpf.nope", "params.ebpf.events"]);
    expect(r.errors[0]!.message).toMatch(/variable "nope" not found in eBPF object/);
    expect(r.errors[1]!.message).toMatch(/"events" is not const/);
    expect(() => assertValid(r, "g/gadget.yaml")).toThrow(/invalid metadata \(g\/gadget\.yaml: params\.ebpf\.nope\)/);
  });

  it("const without volatile is refused as ig does", () => {
    // count_syscall's target_nr is const volatile; the map "counts" is neither
    expect(validateMetadata({ params: { ebpf: { target_nr: { key: "syscall" } } } }, plain).errors).toEqual([]);
    expect(validateMetadata({ params: { ebpf: { counts: { key: "c" } } } }, plain).errors[0]!.message).toBe('"counts" is not const');
  });

  it("YAML syntax errors name file:line:col", () => {
    expect(() => parseMetadata("name: [x\n", "g/gadget.yaml")).toThrow(/invalid YAML \(g\/gadget\.yaml:\d+:\d+\)/);
  });
});

describe("--update-metadata", () => {
  it("creates gadget.yaml with placeholders, the tracer's datasource and GADGET_PARAM params", () => {
    const { text, added } = updateMetadata(undefined, obj);
    const m = parse(text);
    expect(m.name).toBe("TODO: Fill the gadget name");
    expect(m.description).toBe("TODO: Fill the gadget description");
    expect(Object.keys(m.datasources.exec.fields)).toEqual(["timestamp", "pid", "uid", "comm", "filename"]);
    expect(m.params.ebpf).toEqual({
      targ_uid: { key: "targ_uid", defaultValue: "", description: "TODO: Fill parameter description" },
      min_pid: { key: "min_pid", defaultValue: "", description: "TODO: Fill parameter description" },
      ignore_filename: { key: "ignore_filename", defaultValue: "", description: "TODO: Fill parameter description" },
    });
    expect(added).toContain("params.ebpf.targ_uid");
    expect(validateMetadata(m, obj).errors).toEqual([]);
  });

  it("without GADGET_PARAM markers, no params are added (ig populates only GADGET_PARAM variables)", () => {
    const m = parse(updateMetadata(undefined, plain).text);
    expect(m.params).toBeUndefined();
    expect(m.name).toBe("TODO: Fill the gadget name");
  });

  it("extends an existing file, keeping what is written and its comments", () => {
    const existing = "# my gadget\nname: mine\nparams:\n  ebpf:\n    targ_uid:\n      key: uid # the user\n";
    const { text } = updateMetadata(existing, obj);
    expect(text).toContain("# my gadget");
    expect(text).toContain("key: uid # the user");
    const m = parse(text);
    expect(m.name).toBe("mine");
    expect(Object.keys(m.params.ebpf)).toEqual(["targ_uid", "min_pid", "ignore_filename"]);
  });

  it("adds missing fields to an existing datasource, after the ones written", () => {
    const existing = "name: mine\ndatasources:\n  exec:\n    fields:\n      pid:\n        annotations:\n          description: The pid\n";
    const m = parse(updateMetadata(existing, obj).text);
    expect(m.datasources.exec.fields.pid.annotations.description).toBe("The pid");
    expect(Object.keys(m.datasources.exec.fields)).toEqual(["pid", "timestamp", "uid", "comm", "filename"]);
  });
});

describe("gadget.yaml keys ig does not know", () => {
  it("names each unknown key by its path and line; free-form maps (annotations) are not checked", () => {
    const text = [
      "name: x", // 1
      "descripton: typo", // 2
      "annotations:", // 3
      "  anything.goes: yes", // 4
      "datasources:", // 5
      "  ds:", // 6
      "    feilds: {}", // 7
      "    annotations: {cli.whatever: x}", // 8
      "params:", // 9
      "  ebpf:", // 10
      "    p: {key: p, defaultvalue: '1', possibleValues: [a]}", // 11
      "gadgetParams:", // 12
      "  iface: {key: iface, typo_here: 1}", // 13
      "ebpfParams: {}", // 14
    ].join("\n");
    expect(unknownMetadataKeys(text).map((w) => [w.line, w.field, w.message])).toEqual([
      [2, "descripton", 'unknown key "descripton" (ig ignores it; did you mean "description"?)'],
      [7, "datasources.ds.feilds", 'unknown key "datasources.ds.feilds" (ig ignores it; did you mean "fields"?)'],
      [11, "params.ebpf.p.defaultvalue", 'unknown key "params.ebpf.p.defaultvalue" (ig ignores it; did you mean "defaultValue"?)'],
      [13, "gadgetParams.iface.typo_here", expect.stringMatching(/^unknown key "gadgetParams\.iface\.typo_here" \(ig ignores it; known keys here: key, alias, title, defaultValue, /)],
      [14, "ebpfParams", "unknown key \"ebpfParams\" (ig ignores it; it is from ig's older metadata format; today's ig reads params.ebpf)"],
    ]);
  });

  it("a document ig's parser would refuse gives no key warnings (the YAML error is reported instead)", () => {
    expect(unknownMetadataKeys("name: [x\n")).toEqual([]);
    expect(unknownMetadataKeys("")).toEqual([]);
  });
});

describe("ig's %q quoting", () => {
  it("quotes as Go's strconv.Quote does", () => {
    expect(goQuote("targ_comm")).toBe('"targ_comm"');
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote("tab\there\n")).toBe('"tab\\there\\n"');
    expect(goQuote("\u0000\u007f")).toBe('"\\x00\\x7f"');
    expect(goQuote("héllo")).toBe('"héllo"');
  });
});

describe("GADGET_* markers ig refuses", () => {
  const expected = [
    ["gadget_tracer_bad___table___event", 'handling tracers: tracer map is invalid: map "table" has a wrong type, expected: ringbuf or perf event array, got: Hash'],
    ["gadget_tracer_nostruct___ring___missing_struct", 'handling tracers: finding struct "missing_struct" in eBPF object: not found'],
    ["gadget_mapiter_iter___ring", 'handling mapIters: mapIter map is invalid: map "ring" has a wrong type, expected: hash, got: RingBuf'],
    ["gadget_mapiter_values___counts", 'handling mapIters: map "counts" value is not a struct'],
    ["gadget_topper_top___counts", 'handling toppers: map "counts" value is "__u64", expected "struct"'],
    ["gadget_snapshotter_snap___event___on_tp", 'handling snapshotters: validating snapshotter "snap" programs: invalid program "on_tp": expecting type "Tracing" and section name prefix "iter/", got "TracePoint" and "tracepoint/syscalls/sys_enter_getpid"'],
    ["gadget_mapiter_static___x", 'handling mapIters: "gadget_mapiter_static___x" is not a global variable'],
  ];

  it("are warnings under --validate-metadata (ig builds such an object), in ig's words", () => {
    const r = validateMetadata({ name: "x" }, broken);
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((w) => [w.field, w.message.replace(/ \(ig's --update-metadata refuses this object\)$/, "")]).sort()).toEqual([...expected].sort());
  });

  it("are errors under --update-metadata, as in ig; so is a GADGET_PARAM that is not const", () => {
    let err: any;
    try {
      updateMetadata(undefined, broken, "g/gadget.yaml");
    } catch (e) {
      err = e;
    }
    expect(err?.what).toBe("updating metadata");
    expect(err.message).toMatch(/^updating metadata \(g\/gadget\.yaml: gadget_\w+\): handling /);
    expect(err.message).toContain('gadget_param_not_const: handling params: "not_const" is not const');
    for (const [, m] of expected) expect(err.message).toContain(m);
  });
});
