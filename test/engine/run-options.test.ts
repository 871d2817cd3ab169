/**
 * `gadget run` options that other commands had (issue 12): `--validate-metadata=false` and the
 * gadgetfile's `defaults.validateMetadata` (every hint names something that works in the command
 * that printed it); one YAML error format for gadget.yaml and build.yaml whichever path reads them;
 * `--explain` in a stable order; per-gadget time without time spent queued behind others.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { requireTool } from "./helpers.js";
import { runGraph, type StepEvent } from "../../core/engine/run-graph.js";
import { defineStage, type GadgetInfo } from "../../core/types.js";
import { ExplainLog, GadgetTimer, unionMs } from "../../core/cli/commands/run.js";

const PROGRAM = (n: string) => `// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile int ${n}_limit = 3;

SEC("tracepoint/syscalls/sys_enter_openat")
int count_${n}(void *ctx) { return ${n}_limit > 2; }
char LICENSE[] SEC("license") = "GPL";
`;

let dir: string;
let cleanup: () => Promise<void>;

async function runWith(gadgetfile: string, args: string[]) {
  await writeFile(join(dir, "gadgetfile.ts"), gadgetfile);
  return runGadget([...args, "--oci-store", join(dir, "store")], { cwd: dir, env: { SOURCE_DATE_EPOCH: "1700000000" } });
}

const GADGETFILE = (defaults = "") => `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { archs: ["amd64"]${defaults} },
});
`;

beforeAll(async () => {
  requireTool("clang");
  ({ dir, cleanup } = await tempDir("gadget-run-options-"));
  for (const n of ["a", "b"]) {
    await mkdir(join(dir, "gadgets", n), { recursive: true });
    await writeFile(join(dir, "gadgets", n, "program.bpf.c"), PROGRAM(n));
    await writeFile(join(dir, "gadgets", n, "gadget.yaml"), `name: ${n}\n`);
  }
});
afterAll(async () => cleanup?.());

describe("metadata validation in gadget run", () => {
  it("the failure's hint names --validate-metadata=false, and that flag works in gadget run", async () => {
    await writeFile(join(dir, "gadgets", "a", "gadget.yaml"), "name: a\nparams:\n  ebpf:\n    nope:\n      key: nope\n");
    const r = await runWith(GADGETFILE(), ["run"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✗ a \d+ ms$/m);
    expect(r.stdout).toMatch(/^✓ b \d+ ms sha256:/m);
    expect(r.stderr).toBe('Error: invalid metadata (gadgets/a/gadget.yaml: params.ebpf.nope): variable "nope" not found in eBPF object\nhint: declare it in the eBPF program as `const volatile <type> nope = <default>;`, or remove params.ebpf.nope from gadget.yaml\n');
    const off = await runWith(GADGETFILE(), ["run", "--validate-metadata=false", "--explain"]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).toMatch(/^a oci-pack: miss: /m);
  });

  it("a problem without its own hint names the flag (and the gadgetfile's default)", async () => {
    await writeFile(join(dir, "gadgets", "a", "gadget.yaml"), "name: a\nparams: [1, 2]\n");
    const r = await runWith(GADGETFILE(), ["run"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: invalid metadata (gadgets/a/gadget.yaml: params): expected a map of operators (e.g. `ebpf:`)\nhint: fix gadget.yaml or the program, or pass --validate-metadata=false\n");
    expect((await runWith(GADGETFILE(), ["run", "--validate-metadata=false"])).code).toBe(0);
  });

  it("defaults.validateMetadata: false turns it off; --validate-metadata=true on the command line wins", async () => {
    const off = await runWith(GADGETFILE(", validateMetadata: false"), ["run"]);
    expect(off.code, off.stderr).toBe(0);
    const on = await runWith(GADGETFILE(", validateMetadata: false"), ["run", "--validate-metadata=true"]);
    expect(on.code).toBe(1);
    expect(on.stderr).toMatch(/^Error: invalid metadata \(gadgets\/a\/gadget\.yaml: params\)/);
    // per gadget too
    const perGadget = await runWith(
      `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*", { path: "gadgets/a", validateMetadata: false }],
  defaults: { archs: ["amd64"] },
});
`,
      ["run"],
    );
    expect(perGadget.code, perGadget.stderr).toBe(0);
    const typo = await runWith(GADGETFILE(", validateMetadata: 0"), ["run", "--dry"]);
    expect(typo.stderr.split("\n")[0]).toBe("Error: invalid gadgetfile (gadgetfile.ts:4: defaults.validateMetadata): expected true or false, got a number");
    await writeFile(join(dir, "gadgets", "a", "gadget.yaml"), "name: a\n");
  });
});

describe("one YAML error format, whichever command and setting reads the file", () => {
  const FORMAT = (file: string, line: number, col: number) => new RegExp(`^Error: invalid YAML \\(${file.replace(/[./]/g, "\\$&")}:${line}:${col}\\): .+\\nhint: fix the YAML syntax at that line\\n$`);

  it("gadget.yaml: gadget run with validation on and off, gadget image build", async () => {
    await writeFile(join(dir, "gadgets", "a", "gadget.yaml"), "name: a\ndescription: [unclosed\n");
    const format = FORMAT("gadgets/a/gadget.yaml", 3, 1);
    for (const args of [["run"], ["run", "--validate-metadata=false"]]) {
      const r = await runWith(GADGETFILE(), args);
      expect(r.code).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(format);
    }
    const off = await runWith(GADGETFILE(", validateMetadata: false"), ["run"]);
    expect(off.stderr).toMatch(format);
    for (const flag of ["--validate-metadata=true", "--validate-metadata=false"]) {
      const b = await runGadget(["image", "build", "gadgets/a", "--arch", "amd64", flag, "--oci-store", join(dir, "store")], { cwd: dir });
      expect(b.code).toBe(1);
      expect(b.stderr, flag).toMatch(format);
    }
    await writeFile(join(dir, "gadgets", "a", "gadget.yaml"), "name: a\n");
  });

  it("build.yaml: gadget run (a gadgetfile's gadget) and gadget image build", async () => {
    await writeFile(join(dir, "gadgets", "b", "build.yaml"), "ebpfsource: program.bpf.c\ncflags: [unclosed\n");
    const format = FORMAT("gadgets/b/build.yaml", 3, 1);
    const r = await runWith(GADGETFILE(), ["run", "--dry"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(format);
    const b = await runGadget(["image", "build", "gadgets/b", "--oci-store", join(dir, "store")], { cwd: dir });
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(format);
    const { rm } = await import("node:fs/promises");
    await rm(join(dir, "gadgets", "b", "build.yaml"));
  });
});

describe("--explain", () => {
  it("prints in gadget order, then step order, then arch order, without the steps that are not cached", async () => {
    const gf = `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({ gadgets: ["gadgets/b", "gadgets/a"] });
`;
    const r = await runWith(gf, ["run", "--explain", "--jobs", "4"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split("\n");
    const steps = ["clang@amd64", "clang@arm64", "strip@amd64", "strip@arm64", "wasm", "oci-pack"];
    expect(lines.slice(0, -1).map((l) => l.split(":")[0])).toEqual([...steps.map((s) => `b ${s}`), ...steps.map((s) => `a ${s}`)]);
    expect(lines.at(-1)).toMatch(/^explain: \d+ hits?, \d+ miss(es)?; cache /);
    expect(r.stderr).not.toMatch(/store-tag/);
  });

  it("ExplainLog sorts whatever order events come in", () => {
    const log = new ExplainLog();
    const ev = (gadget: string, stage: string, step: number, arch?: "amd64" | "arm64"): StepEvent => ({ type: "hit", gadget, stage, step, cacheable: true, ...(arch ? { arch } : {}) });
    for (const e of [ev("a", "oci-pack", 3), ev("b", "clang", 0, "arm64"), ev("a", "clang", 0, "arm64"), ev("b", "clang", 0, "amd64"), ev("a", "clang", 0, "amd64")]) log.onEvent(e);
    log.onEvent({ type: "miss", gadget: "a", stage: "store-tag", step: 4, cacheable: false });
    expect(log.lines(["b", "a"])).toEqual(["b clang@amd64: hit", "b clang@arm64: hit", "a clang@amd64: hit", "a clang@arm64: hit", "a oci-pack: hit"]);
  });
});

describe("per-gadget time is the gadget's own work", () => {
  it("time a gadget's step waited for a --jobs slot (while another gadget's step ran) is not counted", async () => {
    const ran: Record<string, [number, number]> = {};
    const work = defineStage({
      name: "work",
      version: "1",
      async run(ctx) {
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 150));
        ran[ctx.gadget.name] = [t0, performance.now()];
      },
    });
    const gadget = (name: string): GadgetInfo => ({ name, dir, ebpfSource: join(dir, "none.c"), metadata: join(dir, "none.yaml"), cflags: [], archs: ["amd64"], settings: {} });
    const events: StepEvent[] = [];
    const timer = new GadgetTimer();
    const results = await runGraph({ gadgets: [gadget("x"), gadget("y")], steps: ["work"], stages: new Map([["work", work]]), storeDir: join(dir, "store"), projectRoot: dir, cache: false, jobs: 1, onEvent: (e) => (events.push(e), timer.onEvent(e)) });
    expect(results.every((r) => r.ok)).toBe(true);
    const done = (g: string) => events.find((e) => e.type === "done" && e.gadget === g)!;
    // one of them waited (the longer gap between asking for a slot and getting it): its working
    // spans leave out the other's whole run
    const gap = (g: string) => {
      const s = done(g).spans!;
      return s.length === 2 ? s[1]![0] - s[0]![1] : 0;
    };
    const waited = gap("x") > gap("y") ? "x" : "y";
    const other = waited === "x" ? "y" : "x";
    const spans = done(waited).spans!;
    expect(spans).toHaveLength(2);
    const [start, queued] = spans[0]!;
    const [acquired, end] = spans[1]!;
    expect(queued).toBeLessThanOrEqual(ran[other]![0]);
    expect(acquired).toBeGreaterThanOrEqual(ran[other]![1]);
    expect(timer.ms(waited)).toBe(unionMs(done(waited).spans!));
    expect(timer.ms(waited)).toBeLessThan(end - start - (ran[other]![1] - ran[other]![0]) + 1e-6);
    expect(done(waited).ms).toBeCloseTo(timer.ms(waited), 6);
  });

  it("concurrent steps of one gadget count once", () => {
    expect(unionMs([[0, 10], [5, 12], [20, 25]])).toBe(17);
    expect(unionMs([])).toBe(0);
  });
});
