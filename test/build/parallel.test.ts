/** The ig recipe run by the engine: clang for amd64 and arm64 run at the same time. */
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { REPO_ROOT, runGadget, tempDir } from "../helpers/cli.js";
import type { StepEvent } from "../../core/engine/run-graph.js";
import { copyExamples, requireTools } from "./helpers.js";

describe("ig recipe on the engine", () => {
  it("compiles both architectures concurrently, then packs and tags once", async () => {
    requireTools("clang", "llvm-strip");
    // the compiled modules, as the CLI runs them (dist/ is built before the tests)
    const { runGraph } = (await import(join(REPO_ROOT, "dist/core/engine/run-graph.js"))) as typeof import("../../core/engine/run-graph.js");
    const { loadBuiltinStages } = (await import(join(REPO_ROOT, "dist/core/engine/plugins.js"))) as typeof import("../../core/engine/plugins.js");
    const { gadgetFromBuildYaml, igSteps } = (await import(join(REPO_ROOT, "dist/recipes/ig.js"))) as typeof import("../../recipes/ig.js");
    const { dir, cleanup } = await tempDir("gadget-parallel-");
    try {
      const examples = await copyExamples(dir);
      const { gadget } = await gadgetFromBuildYaml(join(examples, "trace_exec"), { tag: "localhost:5000/te:par" });
      const events: StepEvent[] = [];
      const [res] = await runGraph({ gadgets: [gadget], steps: igSteps(), stages: await loadBuiltinStages(), storeDir: join(dir, "store"), projectRoot: dir, cache: false, jobs: 4, env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" }, onEvent: (e) => events.push(e) });
      expect(res!.ok, String(res!.error)).toBe(true);
      const at = (type: string, stage: string, arch?: string) => events.findIndex((e) => e.type === type && e.stage === stage && e.arch === arch);
      // both clangs start before either finishes
      expect(at("start", "clang", "arm64")).toBeLessThan(at("done", "clang", "amd64"));
      expect(at("start", "clang", "amd64")).toBeLessThan(at("done", "clang", "arm64"));
      expect(at("start", "oci-pack")).toBeGreaterThan(Math.max(at("done", "strip", "amd64"), at("done", "strip", "arm64")));
      expect(res!.results["store-tag"]).toEqual({ reference: "localhost:5000/te:par", digest: (res!.results["oci-pack"] as { digest: string }).digest });
      // clang's -MD dependency file: the headers it read are the gadget's inputs (cache keys, watch)
      expect(res!.inputs).toEqual(expect.arrayContaining([join(examples, "trace_exec", "program.bpf.c"), join(examples, "include", "gadget", "macros.h"), "/usr/include/bpf/bpf_helpers.h"]));
    } finally {
      await cleanup();
    }
  });

  it("a missing llvm-strip names the tool and its Debian package (clang given by path as a step option)", async () => {
    requireTools("clang");
    const { dir, cleanup } = await tempDir("gadget-nostrip-");
    try {
      const { runGraph } = (await import(join(REPO_ROOT, "dist/core/engine/run-graph.js"))) as typeof import("../../core/engine/run-graph.js");
      const { loadBuiltinStages } = (await import(join(REPO_ROOT, "dist/core/engine/plugins.js"))) as typeof import("../../core/engine/plugins.js");
      const { gadgetFromBuildYaml } = (await import(join(REPO_ROOT, "dist/recipes/ig.js"))) as typeof import("../../recipes/ig.js");
      const examples = await copyExamples(dir);
      const { gadget } = await gadgetFromBuildYaml(join(examples, "count_syscall"));
      const [res] = await runGraph({
        gadgets: [gadget],
        steps: [{ stage: "clang", options: { clang: "/usr/bin/clang" } }, "strip"],
        stages: await loadBuiltinStages(),
        storeDir: join(dir, "store"),
        projectRoot: dir,
        cache: false,
        env: { PATH: join(dir, "no-tools") },
      });
      expect(res!.ok).toBe(false);
      const e = res!.error as { message: string; hint?: string };
      expect(e.message).toBe("tool not found (llvm-strip): llvm-strip is not on PATH");
      expect(e.hint).toMatch(/Debian package llvm\b/);
      expect(res!.artifacts.has("object@amd64")).toBe(true); // clang itself ran, by path
    } finally {
      await cleanup();
    }
  });

  it("the library's buildImage() is what the CLI runs: same digest, result as data", async () => {
    requireTools("clang", "llvm-strip");
    const { dir, cleanup } = await tempDir("gadget-lib-build-");
    try {
      const lib = (await import(join(REPO_ROOT, "dist/core/index.js"))) as typeof import("../../core/index.js");
      const examples = await copyExamples(dir);
      const env = { ...process.env, SOURCE_DATE_EPOCH: "1700000000" };
      const res = await lib.buildImage({ path: "count_syscall", cwd: examples, tag: "cs:lib", storeDir: join(dir, "store"), env });
      expect(res).toMatchObject({ gadget: "count_syscall", reference: "ghcr.io/inspektor-gadget/gadget/cs:lib", warnings: [] });
      expect(res.manifests.map((m) => m.arch)).toEqual(["amd64", "arm64"]);
      expect(res.reference).toBe("ghcr.io/inspektor-gadget/gadget/cs:lib");
      const cli = await runGadget(["image", "build", join(examples, "count_syscall"), "--oci-store", join(dir, "store2")], { env: { SOURCE_DATE_EPOCH: "1700000000" } });
      expect(cli.stderr).toBe(`Successfully built @${res.digest}\n`);
      await expect(lib.buildImage({ path: "nowhere", cwd: examples, storeDir: join(dir, "store") })).rejects.toThrow(/gadget folder not found/);
    } finally {
      await cleanup();
    }
  });
});
