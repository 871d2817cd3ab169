import { describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGraph, type StepEvent } from "../../core/engine/run-graph.js";
import { defineStage, type GadgetInfo, type Stage } from "../../core/types.js";
import { ToolError } from "../../core/engine/exec.js";
import { tempDir } from "../helpers/cli.js";

function gadget(dir: string, name: string): GadgetInfo {
  return { name, dir, ebpfSource: join(dir, "program.bpf.c"), metadata: join(dir, "gadget.yaml"), cflags: [], archs: ["amd64", "arm64"], settings: {} };
}

/** Per-arch: writes "<src>-<arch>" after a delay; records concurrency. */
function testStages(log: string[], delayMs = 30) {
  let running = 0;
  let maxRunning = 0;
  const compile = defineStage({
    name: "compile",
    version: "1",
    perArch: true,
    outputs: ["object"],
    inputs: (ctx) => ({ files: [ctx.gadget.ebpfSource], args: [ctx.arch] }),
    async run(ctx) {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`compile ${ctx.gadget.name} ${ctx.arch}`);
      await new Promise((r) => setTimeout(r, delayMs));
      const src = await readFile(ctx.gadget.ebpfSource, "utf8");
      await writeFile(join(ctx.outDir, "o"), `${src.trim()}-${ctx.arch}`);
      running--;
      return { artifacts: { object: "o" }, annotations: { [`x.compiled.${ctx.arch}`]: "yes" } };
    },
  });
  const shrink = defineStage({
    name: "shrink",
    version: "1",
    perArch: true,
    outputs: ["ebpf"],
    async run(ctx) {
      const obj = ctx.artifacts.get("object");
      if (!obj) throw new Error("no object artifact");
      await writeFile(join(ctx.outDir, "s"), (await readFile(obj.path, "utf8")).toUpperCase());
      return { artifacts: { ebpf: "s" } };
    },
  });
  const bundle = defineStage({
    name: "bundle",
    version: "1",
    outputs: ["bundle"],
    async run(ctx) {
      const parts = [];
      for (const a of ["amd64", "arm64"]) parts.push(await readFile(ctx.artifacts.get(`ebpf@${a}`)!.path, "utf8"));
      await writeFile(join(ctx.outDir, "b"), parts.join("+"));
      return { artifacts: { bundle: "b" }, result: { annotations: Object.keys(ctx.annotations).sort() } };
    },
  });
  const stages = new Map<string, Stage<any>>([compile, shrink, bundle].map((s) => [s.name, s]));
  return { stages, max: () => maxRunning };
}

describe("runGraph (no cache)", () => {
  it("runs per-arch chains concurrently within --jobs, passes artifacts and annotations to later steps", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const gadgets = [];
      for (const n of ["a", "b", "c"]) {
        await mkdir(join(dir, n));
        await writeFile(join(dir, n, "program.bpf.c"), `src-${n}\n`);
        gadgets.push(gadget(join(dir, n), n));
      }
      const log: string[] = [];
      const { stages, max } = testStages(log);
      const events: StepEvent[] = [];
      const results = await runGraph({ gadgets, steps: ["compile", "shrink", "bundle"], stages, storeDir: join(dir, "store"), projectRoot: dir, jobs: 2, cache: false, workDir: join(dir, "work"), onEvent: (e) => events.push(e) });
      expect(results.every((r) => r.ok)).toBe(true);
      expect(max()).toBe(2);
      const a = results[0]!;
      expect(await readFile(a.artifacts.get("bundle")!.path, "utf8")).toBe("SRC-A-AMD64+SRC-A-ARM64");
      expect(a.artifacts.has("ebpf@amd64")).toBe(true);
      expect(a.results.bundle).toEqual({ annotations: ["x.compiled.amd64", "x.compiled.arm64"] });
      expect(events.filter((e) => e.type === "done")).toHaveLength(3 * 5);
    } finally {
      await cleanup();
    }
  });

  it("a failing gadget stops its own steps only; ToolError carries the tool's stderr", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await mkdir(join(dir, "good"));
      await mkdir(join(dir, "bad"));
      await writeFile(join(dir, "good", "x.c"), "int main(void){return 0;}\n");
      await writeFile(join(dir, "bad", "x.c"), "int main(void){ return nope; }\n");
      const cc = defineStage({
        name: "cc",
        version: "1",
        outputs: ["object"],
        async run(ctx) {
          await ctx.exec("cc", ["-c", "x.c", "-o", join(ctx.outDir, "x.o")], { what: `compiling ${ctx.gadget.name}` });
          return { artifacts: { object: "x.o" } };
        },
      });
      const after = defineStage({ name: "after", version: "1", run: async () => ({ result: { ran: true } }) });
      const stages = new Map<string, Stage<any>>([cc, after].map((s) => [s.name, s]));
      const results = await runGraph({ gadgets: [gadget(join(dir, "good"), "good"), gadget(join(dir, "bad"), "bad")], steps: ["cc", "after"], stages, storeDir: join(dir, "store"), projectRoot: dir, cache: false });
      expect(results[0]!.ok).toBe(true);
      expect(results[0]!.results.after).toEqual({ ran: true });
      expect(results[1]!.ok).toBe(false);
      expect(results[1]!.results.after).toBeUndefined();
      const err = results[1]!.error as ToolError;
      expect(err).toBeInstanceOf(ToolError);
      expect(err.status).toBe(1);
      expect(err.message).toMatch(/nope. undeclared/);
      expect(err.message.split("undeclared (first use").length).toBe(2);
      // the one-line summary names what failed and the tool; the first diagnostic is the error's location
      expect(err.message.split("\n")[0]).toBe("compiling bad (cc): exit status 1:");
      expect(err.location).toMatchObject({ file: "x.c", line: 1, column: 24 });
    } finally {
      await cleanup();
    }
  });

  it("rejects an unknown stage by name", async () => {
    await expect(runGraph({ gadgets: [], steps: ["nope"], stages: new Map(), storeDir: "/x", projectRoot: "/x", cache: false })).rejects.toThrow(/unknown stage \(nope\)/);
  });
});

describe("runGraph with the cache (in-process)", () => {
  it("a step that wrote to the store hits only while its reported digest is still there", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await mkdir(join(dir, "g"));
      await writeFile(join(dir, "g", "program.bpf.c"), "x\n");
      let runs = 0;
      const put = defineStage({
        name: "put",
        version: "1",
        inputs: (ctx) => ({ files: [ctx.gadget.ebpfSource] }),
        async run(ctx) {
          runs++;
          const store = await ctx.store();
          const bytes = new TextEncoder().encode("blob for " + ctx.gadget.name);
          const { sha256 } = await import("../../core/oci/digest.js");
          const digest = sha256(bytes);
          await store.push({ mediaType: "application/octet-stream", digest, size: bytes.byteLength }, bytes);
          return { result: { digest } };
        },
      });
      const stages = new Map<string, Stage<any>>([[put.name, put]]);
      const g = { ...gadget(join(dir, "g"), "g"), archs: [] as never[] };
      const events: StepEvent[] = [];
      const opts = { gadgets: [g], steps: ["put"], stages, storeDir: join(dir, "store"), projectRoot: dir, onEvent: (e: StepEvent) => events.push(e) };
      const r1 = await runGraph(opts);
      expect(r1[0]!.ok).toBe(true);
      await runGraph(opts);
      expect(runs).toBe(1);
      expect(events.filter((e) => e.type === "hit")).toHaveLength(1);
      const { rm } = await import("node:fs/promises");
      const d = r1[0]!.results.put!.digest as string;
      await rm(join(dir, "store", "blobs", "sha256", d.slice(7)));
      events.length = 0;
      await runGraph(opts);
      expect(runs).toBe(2);
      expect(events.find((e) => e.type === "miss")?.reason).toBe(`${d} no longer in the store`);
    } finally {
      await cleanup();
    }
  });
});

describe("batch stages (runBatch): once per run for the gadgets that reach the step", () => {
  it("gets every arriving gadget in one call; a gadget that failed before leaves; an Error fails only its gadget; cache hits do not take part", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const gadgets: GadgetInfo[] = [];
      for (const n of ["a", "b", "c", "d"]) {
        await mkdir(join(dir, n));
        await writeFile(join(dir, n, "program.bpf.c"), `src-${n}\n`);
        gadgets.push({ ...gadget(join(dir, n), n), archs: [] });
      }
      const calls: string[][] = [];
      const prepare = defineStage({
        name: "prepare",
        version: "1",
        inputs: (ctx) => ({ files: [ctx.gadget.ebpfSource] }),
        async run(ctx) {
          if ((await readFile(ctx.gadget.ebpfSource, "utf8")).includes("broken")) throw new Error(`${ctx.gadget.name} broke`);
          return { result: { ok: true } };
        },
      });
      const together = defineStage({
        name: "together",
        version: "1",
        inputs: (ctx) => ({ files: [ctx.gadget.ebpfSource] }),
        async runBatch(ctxs) {
          calls.push(ctxs.map((c) => c.gadget.name));
          return ctxs.map((c) => (c.gadget.name === "c" ? new Error("c refused") : { result: { with: ctxs.length } }));
        },
      });
      const stages = new Map<string, Stage>([prepare, together].map((s) => [s.name, s]));
      await writeFile(join(dir, "b", "program.bpf.c"), "broken\n");
      const opts = { gadgets, steps: ["prepare", "together"], stages, storeDir: join(dir, "store"), projectRoot: dir, jobs: 2 };
      const r1 = await runGraph(opts);
      expect(calls).toEqual([["a", "c", "d"]]);
      expect(r1.map((r) => [r.gadget.name, r.ok])).toEqual([["a", true], ["b", false], ["c", false], ["d", true]]);
      expect((r1[1]!.error as Error).message).toBe("b broke");
      expect((r1[2]!.error as Error).message).toBe("c refused");
      expect(r1[0]!.results.together).toEqual({ with: 3 });
      // again: a and d hit the cache (they leave the gate); b is fixed and c still refused: a batch of those two
      await writeFile(join(dir, "b", "program.bpf.c"), "src-b\n");
      const r2 = await runGraph(opts);
      expect(calls[1]).toEqual(["b", "c"]);
      expect(r2.map((r) => r.ok)).toEqual([true, true, false, true]);
      // everything cached but c: a batch of one; nothing arrives → no call
      await runGraph(opts);
      expect(calls[2]).toEqual(["c"]);
      const events: StepEvent[] = [];
      await runGraph({ ...opts, gadgets: gadgets.filter((g) => g.name !== "c"), onEvent: (e) => events.push(e) });
      expect(calls).toHaveLength(3);
      expect(events.filter((e) => e.stage === "together" && e.type === "hit")).toHaveLength(3);
    } finally {
      await cleanup();
    }
  });

  it("a stage with both run and runBatch, or runBatch per architecture, is refused when it loads", async () => {
    const { stagesOf } = await import("../../core/engine/plugins.js");
    const both = { name: "x", version: "1", run: async () => {}, runBatch: async () => [] };
    expect(() => stagesOf({ default: both }, "p")).toThrow(/needs a run function \(or a runBatch function instead\)/);
    const perArch = { name: "y", version: "1", perArch: true, runBatch: async () => [] };
    expect(() => stagesOf({ default: perArch }, "p")).toThrow(/runBatch is for per-gadget stages/);
  });
});
