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
