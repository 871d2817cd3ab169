import { describe, expect, it } from "vitest";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expandBraces, globDirs, globGadgetDirs, segmentRegExp } from "../../core/gadgetfile/glob.js";
import { checkSchema, GADGETFILE_SCHEMA, locateKeyPath, formatKeyPath } from "../../core/gadgetfile/validate.js";
import { explainDiff, type KeyComponents } from "../../core/engine/cache.js";
import { templateArgv } from "../../core/engine/exec.js";
import { lightenGadgetImports, mapPosition } from "../../core/gadgetfile/bundle.js";
import { Semaphore, expandName } from "../../core/engine/run-graph.js";
import { tempDir } from "../helpers/cli.js";

describe("glob", () => {
  it("matches folder patterns with *, ?, [..], {a,b} and **, skipping hidden folders and node_modules", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      for (const d of ["g/a1", "g/b2", "g/c3/deep", "x/y/z", ".hid/a", "node_modules/m", "g/.git"]) await mkdir(join(dir, d), { recursive: true });
      await writeFile(join(dir, "x/y/z/program.bpf.c"), "");
      await writeFile(join(dir, "g/a1/program.bpf.c"), "");
      expect(globDirs(dir, "g/*").map((p) => p.slice(dir.length + 1))).toEqual(["g/a1", "g/b2", "g/c3"]);
      expect(globDirs(dir, "g/[ab]?").map((p) => p.slice(dir.length + 1))).toEqual(["g/a1", "g/b2"]);
      expect(globDirs(dir, "{g/a1,x/y}").map((p) => p.slice(dir.length + 1))).toEqual(["g/a1", "x/y"]);
      expect(globDirs(dir, "**/z").map((p) => p.slice(dir.length + 1))).toEqual(["x/y/z"]);
      expect(globGadgetDirs(dir, "**/program.bpf.c").dirs.map((p) => p.slice(dir.length + 1))).toEqual(["g/a1", "x/y/z"]);
      expect(expandBraces("a/{b,c}/{d,e}")).toEqual(["a/b/d", "a/b/e", "a/c/d", "a/c/e"]);
      expect(segmentRegExp("tr?ce_*").test("trace_open")).toBe(true);
      expect(segmentRegExp("[!t]*").test("trace")).toBe(false);
    } finally {
      await cleanup();
    }
  });
});

describe("validator", () => {
  it("reports the first problem with its key path", () => {
    // a publish target's own keys are its stage's options: checked once the stages are loaded (stage-contract.test.ts)
    expect(checkSchema({ gadgets: ["a"], publish: [{ type: "push", tag: "x" }] }, GADGETFILE_SCHEMA)).toBeUndefined();
    expect(checkSchema({ gadgets: ["a"], publish: [{ tag: "x" }] }, GADGETFILE_SCHEMA)).toEqual({ path: ["publish", 0, "type"], message: 'missing required key "type"' });
    expect(checkSchema({ gadgets: [3] }, GADGETFILE_SCHEMA)).toEqual({ path: ["gadgets", 0], message: "expected a folder/glob string or { path, … }, got a number", wrongType: true });
    expect(checkSchema({}, GADGETFILE_SCHEMA)).toEqual({ path: ["gadgets"], message: 'missing required key "gadgets"' });
    expect(checkSchema({ gadgets: [{ name: "x" }] }, GADGETFILE_SCHEMA)).toEqual({ path: ["gadgets", 0, "path"], message: 'missing required key "path"' });
    expect(checkSchema({ gadgets: ["a"], tasks: { t: { steps: [{ stage: "x", opts: {} }] } } }, GADGETFILE_SCHEMA)?.path).toEqual(["tasks", "t", "steps", 0, "opts"]);
    expect(formatKeyPath(["tasks", "t", "steps", 0, "opts"])).toBe("tasks.t.steps[0].opts");
  });

  it("finds the line of a nested key in the source", () => {
    const src = `import x from "gadget";\nexport default defineGadgetfile({\n  gadgets: ["a"],\n  tasks: {\n    lint: {\n      steps: [],\n    },\n    build: { deps: ["x"] },\n  },\n});\n`;
    expect(locateKeyPath(src, ["tasks", "lint", "steps"])?.line).toBe(6);
    expect(locateKeyPath(src, ["tasks", "build", "deps", 0])?.line).toBe(8);
    expect(locateKeyPath(src, ["nothere"])?.line).toBe(2);
  });
});

describe("cache --explain wording", () => {
  const base: KeyComponents = { stage: "clang@1", code: { kind: "builtin", source: "gadget", id: "0.1.0" }, tools: { clang: { path: "/usr/bin/clang", version: "14" } }, args: "a", options: "o", gadget: "", env: {}, files: { "g/a.c": "d1" }, artifacts: {}, annotations: "n" };
  it("names the first differing component", () => {
    expect(explainDiff(base, { ...base, tools: { clang: { path: "/usr/bin/clang", version: "15" } } })).toBe("clang version changed");
    expect(explainDiff(base, { ...base, args: "b", files: { "g/a.c": "d2" } })).toBe("args changed");
    expect(explainDiff(base, { ...base, files: { "g/a.c": "d2" } })).toBe("g/a.c changed");
    expect(explainDiff(base, { ...base, env: { CC: "x" } })).toBe("env CC changed");
    expect(explainDiff(base, { ...base, stage: "clang@2" })).toBe("stage version changed (clang@1 → clang@2)");
    expect(explainDiff(base, { ...base })).toBeUndefined();
  });
});

describe("small helpers", () => {
  it("$`…` splits into argv without a shell: values stay one word", () => {
    const file = "my file.c; rm -rf /";
    expect(templateArgv(["clang -c ", " -o out.o ", ""], [file, ["-DA=1", "-DB=2"]])).toEqual(["clang", "-c", "my file.c; rm -rf /", "-o", "out.o", "-DA=1", "-DB=2"]);
  });

  it("gadgetfiles importing only defineGadgetfile load core/types.js, not the whole library", () => {
    const lib = "file:///x/dist/core/index.js";
    expect(lightenGadgetImports(`import { defineGadgetfile } from "${lib}";`, lib)).toBe(`import { defineGadgetfile } from "file:///x/dist/core/types.js";`);
    expect(lightenGadgetImports(`import { defineStage, t, GadgetError } from "${lib}";`, lib)).toContain("types.js");
    expect(lightenGadgetImports(`import { defineStage, pack } from "${lib}";`, lib)).toContain("index.js");
  });

  it("maps a bundled position back through the inline source map", () => {
    const map = Buffer.from(JSON.stringify({ version: 3, sources: ["gadgetfile.ts"], mappings: "AAAA;AAGA" })).toString("base64");
    const code = `a;\nb;\n//# sourceMappingURL=data:application/json;base64,${map}\n`;
    expect(mapPosition(code, 2, 0)).toEqual({ source: "gadgetfile.ts", line: 4, column: 0 });
  });

  it("{name} in step options is the gadget's name", () => {
    expect(expandName({ tag: "r/{name}:v1", list: ["{name}"], n: 1 }, "trace_open")).toEqual({ tag: "r/trace_open:v1", list: ["trace_open"], n: 1 });
  });

  it("the semaphore bounds concurrency", async () => {
    const s = new Semaphore(2);
    let running = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const release = await s.acquire();
        running++;
        max = Math.max(max, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        release();
      }),
    );
    expect(max).toBe(2);
  });
});

describe("worker pool (tinypool)", () => {
  it("hashes a big file on a worker thread of the pool, with the same result as inline", async () => {
    const { execFileSync } = await import("node:child_process");
    const { createHash } = await import("node:crypto");
    const { REPO_ROOT } = await import("../helpers/cli.js");
    const { dir, cleanup } = await tempDir();
    try {
      const big = Buffer.alloc(9 * 1024 * 1024, 7);
      await writeFile(join(dir, "big.bin"), big);
      const script = `const p = await import(${JSON.stringify(join(REPO_ROOT, "dist", "core", "engine", "pool.js"))});
const h = await p.hashFileOffThread(${JSON.stringify(join(dir, "big.bin"))});
const small = await p.hashFileOffThread(${JSON.stringify(join(dir, "small.bin"))});
const pool = await p.getPool();
const { threadId } = await import("node:worker_threads");
const out = { h, small, completed: pool.completed, workers: pool.threads.map((t) => t.threadId), main: threadId };
await p.closePool();
process.stdout.write(JSON.stringify(out));`;
      await writeFile(join(dir, "small.bin"), "tiny");
      const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" })) as { h: { digest: string; size: number }; small: { digest: string }; completed: number; workers: number[]; main: number };
      expect(out.h).toEqual({ digest: `sha256:${createHash("sha256").update(big).digest("hex")}`, size: big.length });
      expect(out.small.digest).toBe(`sha256:${createHash("sha256").update("tiny").digest("hex")}`);
      // the big file went through the pool (one task completed), on a thread that is not the main one; the small one stayed inline
      expect(out.completed).toBe(1);
      expect(out.workers.length).toBeGreaterThan(0);
      expect(out.workers).not.toContain(out.main);
    } finally {
      await cleanup();
    }
  });
});

describe("semaphore priority", () => {
  it("wakes higher-priority waiters first, FIFO among equals", async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const order: string[] = [];
    const w = (name: string, p: number) => s.acquire(p).then((rel) => (order.push(name), rel()));
    const all = Promise.all([w("clang-b", 0), w("clang-c", 0), w("pack-a", 3), w("strip-a", 1)]);
    first();
    await all;
    expect(order).toEqual(["pack-a", "strip-a", "clang-b", "clang-c"]);
  });
});

describe("the default build task", () => {
  it("is the ig recipe's steps (recipes/ig.ts igSteps())", async () => {
    const { DEFAULT_BUILD_STEPS } = await import("../../core/gadgetfile/tasks.js");
    const { igSteps } = await import("../../recipes/ig.js");
    expect(DEFAULT_BUILD_STEPS).toEqual(igSteps({}));
  });
});
