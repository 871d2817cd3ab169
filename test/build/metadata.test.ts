/** gadget.yaml against the object's BTF: --validate-metadata and --update-metadata. */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { tempDir } from "../helpers/cli.js";
import { assertValid, parseMetadata, readBpfObject, updateMetadata, validateMetadata, type BpfObject } from "../../core/index.js";
import { EXAMPLES, requireTools } from "./helpers.js";

let obj: BpfObject;
let plain: BpfObject;
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
    expect(validateMetadata({ params: { ebpf: { target_nr: {} } } }, plain).errors).toEqual([]);
    expect(validateMetadata({ params: { ebpf: { counts: {} } } }, plain).errors[0]!.message).toMatch(/not const/);
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
      targ_uid: { key: "targ_uid", defaultValue: "0", description: "TODO: Fill parameter description" },
      min_pid: { key: "min_pid", defaultValue: "0", description: "TODO: Fill parameter description" },
      ignore_filename: { key: "ignore_filename", defaultValue: "false", description: "TODO: Fill parameter description" },
    });
    expect(added).toContain("params.ebpf.targ_uid");
    expect(validateMetadata(m, obj).errors).toEqual([]);
  });

  it("without GADGET_PARAM markers, every const volatile global becomes a param", () => {
    const m = parse(updateMetadata(undefined, plain).text);
    expect(Object.keys(m.params.ebpf)).toEqual(["target_nr"]);
    expect(m.params.ebpf.target_nr.defaultValue).toBe("257");
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
