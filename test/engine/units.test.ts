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

describe("cache sizes, durations and pruning", () => {
  it("parses sizes (k/M/G decimal, Ki/Mi/Gi binary) and durations", async () => {
    const { parseSize, parseDuration, cacheLimit } = await import("../../core/engine/cache-prune.js");
    expect(parseSize("500M")).toBe(500e6);
    expect(parseSize("1GiB")).toBe(1024 ** 3);
    expect(parseSize("800kB")).toBe(800e3);
    expect(parseSize("1.5G")).toBe(1.5e9);
    expect(parseSize("1048576")).toBe(1048576);
    expect(parseSize("lots")).toBeUndefined();
    expect(parseSize("5X")).toBeUndefined();
    expect(parseDuration("7d")).toBe(7 * 86400e3);
    expect(parseDuration("1d12h")).toBe(36 * 3600e3);
    expect(parseDuration("30m")).toBe(30 * 60e3);
    expect(parseDuration("a week")).toBeUndefined();
    expect(cacheLimit({})).toBe(2e9);
    expect(cacheLimit({ GADGET_CACHE_MAX_SIZE: "0" })).toBeUndefined();
    expect(() => cacheLimit({ GADGET_CACHE_MAX_SIZE: "huge" })).toThrow(/invalid environment \(GADGET_CACHE_MAX_SIZE\): "huge" is not a size/);
  });

  it("prunes the least recently used entries first; outputs stay while an entry references them; orphans after a grace period", async () => {
    const { pruneCache } = await import("../../core/engine/cache-prune.js");
    const { utimes } = await import("node:fs/promises");
    const { dir, cleanup } = await tempDir();
    try {
      const hex = (c: string) => c.repeat(64);
      for (const d of ["cas", "actions", "manifests"]) await mkdir(join(dir, d));
      const blob = async (c: string, size: number, ageMs = 0) => {
        await writeFile(join(dir, "cas", hex(c)), Buffer.alloc(size));
        const t = new Date(Date.now() - ageMs);
        await utimes(join(dir, "cas", hex(c)), t, t);
      };
      const action = async (name: string, key: string, outputs: string[], ageMs: number) => {
        const f = join(dir, "actions", `${hex(name)}.json`);
        await writeFile(f, JSON.stringify({ v: 2, key: hex(key), outputs: Object.fromEntries(outputs.map((o, i) => [`o${i}`, { digest: `sha256:${hex(o)}`, size: 1 }])), annotations: {}, discovered: {} }));
        const t = new Date(Date.now() - ageMs);
        await utimes(f, t, t);
      };
      await blob("a", 1000);
      await blob("b", 2000);
      await blob("c", 3000);
      await blob("d", 500, 3600e3); // nothing references it, for an hour
      await blob("e", 500); // nothing references it yet (a run may be about to)
      await action("1", "7", ["a", "b"], 3 * 86400e3); // used 3 days ago
      await action("2", "8", ["b", "c"], 60e3); // a minute ago
      await writeFile(join(dir, "manifests", `${hex("7")}.json`), "{}");
      await utimes(join(dir, "manifests", `${hex("7")}.json`), new Date(0), new Date(0));
      await writeFile(join(dir, "manifests", `${hex("8")}.json`), "{}");

      const res = await pruneCache(dir, { maxBytes: 6000 });
      expect(res.removedEntries).toBe(1);
      const { readdir } = await import("node:fs/promises");
      expect((await readdir(join(dir, "actions"))).sort()).toEqual([`${hex("2")}.json`]);
      expect((await readdir(join(dir, "cas"))).sort()).toEqual([hex("b"), hex("c"), hex("e")]);
      expect(await readdir(join(dir, "manifests"))).toEqual([`${hex("8")}.json`]);
      expect(res.after.bytes).toBeLessThanOrEqual(6000);
      expect(res.after.entries).toBe(1);

      const aged = await pruneCache(dir, { olderThanMs: 30e3 });
      expect(aged.removedEntries).toBe(1);
      expect(aged.after.entries).toBe(0);
    } finally {
      await cleanup();
    }
  });
});

describe("--only patterns and stage identities", () => {
  it("matchPath: names and folders with *, ?, [..], {a,b} and **", async () => {
    const { matchPath } = await import("../../core/gadgetfile/glob.js");
    expect(matchPath("net/*", "net/tcp_state")).toBe(true);
    expect(matchPath("net/*", "net/deep/tcp")).toBe(false);
    expect(matchPath("**/tcp_*", "net/deep/tcp_state")).toBe(true);
    expect(matchPath("{fs,net}/*", "fs/open_files")).toBe(true);
    expect(matchPath("trace_?pen", "trace_open")).toBe(true);
    expect(matchPath("open", "open_files")).toBe(false);
  });

  it("explains a changed stage code by where it came from", async () => {
    const { explainOriginChange } = await import("../../core/engine/stage-origin.js");
    expect(explainOriginChange({ kind: "builtin", source: "gadget", id: "0.1.0" }, { kind: "builtin", source: "gadget", id: "0.2.0" })).toBe("gadget version changed (0.1.0 → 0.2.0)");
    expect(explainOriginChange({ kind: "local", source: "./stages/x.ts", id: "sha256:1" }, { kind: "local", source: "./stages/x.ts", id: "sha256:2" })).toBe("stage ./stages/x.ts changed");
    expect(explainOriginChange({ kind: "npm", source: "@acme/l", id: "1.0.0 sha512-a" }, { kind: "npm", source: "@acme/l", id: "1.1.0 sha512-b" })).toBe("stage @acme/l changed (1.0.0 → 1.1.0)");
    expect(explainOriginChange({ kind: "builtin", source: "gadget", id: "0.1.0" }, { kind: "local", source: "./stages/clang.ts", id: "sha256:1" })).toBe("stage code changed (gadget → ./stages/clang.ts)");
    const base: KeyComponents = { stage: "x@1", code: { kind: "local", source: "./s.ts", id: "a" }, tools: {}, args: "a", options: "o", gadget: "g", env: {}, files: {}, artifacts: {}, annotations: "n" };
    expect(explainDiff(base, { ...base, code: { ...base.code, id: "b" }, args: "b" })).toBe("stage ./s.ts changed");
  });

  it("a push target's hints name gadget run's flag and the target's option", async () => {
    const { targetHint } = await import("../../plugins/push.js");
    expect(targetHint("if r:5000 serves plain HTTP, pass --insecure-registries r:5000")).toBe('if r:5000 serves plain HTTP, pass --insecure-registries r:5000 (or set insecureRegistries: ["r:5000"] on the push target)');
    expect(targetHint("pass the registry's CA with --cert-dir DIR (a folder holding ca.crt), or use --insecure-registries r:5000 for a plain-HTTP registry")).toBe(
      `pass the registry's CA with --cert-dir DIR (or certDir: "DIR" on the push target) (a folder holding ca.crt), or pass --insecure-registries r:5000 (or set insecureRegistries: ["r:5000"] on the push target) for a plain-HTTP registry`,
    );
    expect(targetHint("log in with: gadget login r:5000")).toBe("log in with: gadget login r:5000");
  });
});
