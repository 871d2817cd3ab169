/**
 * The stage contract is data the engine checks: step options against the stage's schema (with
 * the gadgetfile line), publish targets against the stages that can publish, what run() returns
 * against the declared outputs and result schema, and per-run state (setup) instead of module
 * state — a watch session's next run starts afresh.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdir, writeFile, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { GADGET_BIN, runGadget, tempDir } from "../helpers/cli.js";
import { requireTool } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;

const PROGRAM = `// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_openat")
int on_open(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

const STAGE = `import { defineStage, t } from "gadget";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

export const lint = defineStage({
  name: "mylint",
  version: "1",
  options: t.object({ level: t.enum(["warn", "error"]), max: t.integer({ min: 1 }) }),
  outputs: ["report"],
  async run(ctx) {
    await writeFile(join(ctx.outDir, "r.txt"), ctx.options.level ?? "warn");
    return { artifacts: { report: "r.txt" }, result: { level: ctx.options.level ?? "warn" } };
  },
});

export const liar = defineStage({
  name: "liar",
  version: "1",
  outputs: ["report"],
  result: t.object({ count: t.required(t.integer()) }),
  async run(ctx) {
    const mode = ctx.gadget.settings.mode;
    if (mode === "undeclared") return { artifacts: { other: "x" } };
    if (mode === "badresult") return { result: { count: "many" } };
    if (mode === "badshape") return ["not", "an", "object"];
    return { result: { count: 1 } };
  },
});
`;

beforeAll(async () => {
  requireTool("clang");
  ({ dir, cleanup } = await tempDir("gadget-contract-"));
  await mkdir(join(dir, "gadgets", "a"), { recursive: true });
  await writeFile(join(dir, "gadgets", "a", "program.bpf.c"), PROGRAM);
  await mkdir(join(dir, "stages"));
  await writeFile(join(dir, "stages", "lint.ts"), STAGE);
});
afterAll(async () => cleanup?.());

async function runWith(source: string, args: string[]) {
  await writeFile(join(dir, "gadgetfile.ts"), source);
  return runGadget([...args, "--oci-store", join(dir, "store")], { cwd: dir, env: { SOURCE_DATE_EPOCH: "1700000000" } });
}

/** The 1-based line of the first occurrence of `needle` in `source`. */
function lineOf(source: string, needle: string): number {
  return source.slice(0, source.indexOf(needle)).split("\n").length;
}

describe("step options are checked against the stage's schema, with the gadgetfile line", () => {
  it("a misspelt option of a built-in stage (oci-pack validateMetdata)", async () => {
    const src = `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  tasks: {
    build: {
      steps: [
        "clang",
        "strip",
        { stage: "oci-pack", options: { validateMetdata: false } },
        "store-tag",
      ],
    },
  },
});
`;
    const r = await runWith(src, ["run", "--dry"]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe(
      `Error: invalid gadgetfile (gadgetfile.ts:${lineOf(src, "validateMetdata")}: tasks.build.steps[2].options.validateMetdata): unknown key "validateMetdata" (known keys: validateMetadata, updateMetadata, builderVersion) for stage oci-pack`,
    );
  });

  it("a misspelt and a mistyped option of a plugin stage", async () => {
    const src = `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  plugins: ["./stages/lint.ts"],
  tasks: {
    check: {
      steps: [{ stage: "mylint", options: { levle: "warn" } }],
    },
  },
});
`;
    const r = await runWith(src, ["run", "check", "--dry"]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe(`Error: invalid gadgetfile (gadgetfile.ts:${lineOf(src, "levle")}: tasks.check.steps[0].options.levle): unknown key "levle" (known keys: level, max) for stage mylint`);
    const typed = await runWith(src.replace(`levle: "warn"`, `level: "loud", max: 2`), ["run", "check", "--dry"]);
    expect(typed.stderr.split("\n")[0]).toMatch(/^Error: invalid gadgetfile \(gadgetfile\.ts:7: tasks\.check\.steps\[0\]\.options\.level\): expected one of warn, error, got "loud" for stage mylint$/);
    const ok = await runWith(src.replace(`levle: "warn"`, `level: "error", max: 2`), ["run", "check", "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).gadgets[0].results.mylint).toEqual({ level: "error" });
  });

  it("publish targets: keys of the target's stage, and only stages that publish", async () => {
    const src = `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  publish: [
    { type: "tar-export", file: "out.tar" },
    { type: "push", tagg: "localhost:5000/x:v1" },
  ],
});
`;
    const r = await runWith(src, ["run", "publish", "--dry"]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toMatch(new RegExp(`^Error: invalid gadgetfile \\(gadgetfile\\.ts:${lineOf(src, "tagg")}: publish\\[1\\]\\.tagg\\): unknown key "tagg" \\(known keys: tag, insecure, insecureRegistries, authfile, certDir, concurrency\\) for stage push$`));
    const missing = await runWith(src.replace(`{ type: "tar-export", file: "out.tar" }`, `{ type: "tar-export" }`).replace(`tagg`, `tag`), ["run", "publish", "--dry"]);
    expect(missing.stderr.split("\n")[0]).toMatch(/publish\[0\]\.file\): missing required key "file" for stage tar-export$/);
    const notTarget = await runWith(src.replace(`type: "tar-export", file: "out.tar"`, `type: "clang"`).replace(`tagg`, `tag`), ["run", "publish", "--dry"]);
    expect(notTarget.stderr.split("\n")[0]).toMatch(/publish\[0\]\.type\): unknown publish target type "clang"$/);
    expect(notTarget.stderr).toMatch(/^hint: known publish targets: push, sign, store-tag, tar-export;/m);
  });
});

describe("the line of an entry that came through a recipe or a helper", () => {
  it("a step passed through monorepo(...), and a default moved into `defaults` by it", async () => {
    const src = `import { defineGadgetfile } from "gadget";
import { monorepo } from "gadget/recipes/monorepo";

export default defineGadgetfile(
  monorepo({
    root: "gadgets",
    archs: ["amd64"],
    plugins: ["./stages/lint.ts"],
    tasks: {
      check: { steps: [{ stage: "mylint", options: { levle: "warn" } }] },
    },
  }),
);
`;
    const r = await runWith(src, ["run", "check", "--dry"]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe(`Error: invalid gadgetfile (gadgetfile.ts:${lineOf(src, "levle")}: tasks.check.steps[0].options.levle): unknown key "levle" (known keys: level, max) for stage mylint`);
    const arch = src.replace(`levle: "warn"`, `level: "warn"`).replace(`archs: ["amd64"]`, `archs: ["x86"]`);
    const r2 = await runWith(arch, ["run", "check", "--dry"]);
    expect(r2.stderr.split("\n")[0]).toBe(`Error: invalid gadgetfile (gadgetfile.ts:${lineOf(arch, "x86")}: defaults.archs[0]): expected one of amd64, arm64, got "x86"`);
  });

  it("a step made by step() in a helper module: the helper's line; through a recipe in a local module: the caller's line", async () => {
    await mkdir(join(dir, "lib"), { recursive: true });
    const steps = `import { step } from "gadget";

export const lint = (level: string) => step("mylint", { level, mx: 2 });
`;
    await writeFile(join(dir, "lib", "steps.ts"), steps);
    const recipe = `import { step, type Gadgetfile } from "gadget";

/** A recipe: every gadget, and a check task with the lint options given. */
export function checked(o: { lint: Record<string, unknown> }): Gadgetfile {
  return {
    gadgets: ["gadgets/*"],
    plugins: ["./stages/lint.ts"],
    tasks: { check: { steps: [step("mylint", o.lint)] } },
  };
}
`;
    await writeFile(join(dir, "lib", "recipe.ts"), recipe);
    const viaHelper = `import { defineGadgetfile } from "gadget";
import { lint } from "./lib/steps.js";

export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  plugins: ["./stages/lint.ts"],
  tasks: { check: { steps: [lint("warn")] } },
});
`;
    const r = await runWith(viaHelper, ["run", "check", "--dry"]);
    expect(r.stderr.split("\n")[0]).toBe(`Error: invalid gadgetfile (lib/steps.ts:${lineOf(steps, "mx:")}: tasks.check.steps[0].options.mx): unknown key "mx" (known keys: level, max) for stage mylint`);
    const viaRecipe = `import { defineGadgetfile } from "gadget";
import { checked } from "./lib/recipe.js";

export default defineGadgetfile(
  checked({
    lint: {
      level: "warn",
      mx: 2,
    },
  }),
);
`;
    const r2 = await runWith(viaRecipe, ["run", "check", "--dry"]);
    expect(r2.stderr.split("\n")[0]).toBe(`Error: invalid gadgetfile (gadgetfile.ts:${lineOf(viaRecipe, "mx:")}: tasks.check.steps[0].options.mx): unknown key "mx" (known keys: level, max) for stage mylint`);
    const ok = await runWith(viaRecipe.replace("mx: 2", "max: 2"), ["run", "check", "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe("what a stage returns is checked against its declared outputs and result schema", () => {
  const src = (mode: string) => `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: [{ path: "gadgets/a", settings: { mode: "${mode}" } }],
  plugins: ["./stages/lint.ts"],
  tasks: { check: { steps: ["liar"] } },
});
`;
  it("an undeclared artifact, a result off its schema, a non-object: one clear error each, exit 1", async () => {
    const cases: [string, string][] = [
      ["undeclared", `Error: stage returned a malformed result (liar: artifacts.other): "other" is not a declared output (declared: report)`],
      ["badresult", `Error: stage returned a malformed result (liar: result.count): expected a number, got a string`],
      ["badshape", `Error: stage returned a malformed result (liar: (result)): expected an object or nothing, got an array`],
    ];
    for (const [mode, line] of cases) {
      const r = await runWith(src(mode), ["run", "check", "--no-cache"]);
      expect(r.code, mode).toBe(1);
      expect(r.stdout).toMatch(/^✗ a /);
      expect(r.stderr.split("\n")[0], mode).toBe(line);
    }
    const good = await runWith(src("good"), ["run", "check", "--json"]);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout).gadgets[0].results.liar).toEqual({ count: 1 });
  });
});

describe("per-run state: tar-export in a watch session", () => {
  it("after the gadget is re-tagged, the next run's tar holds only this run's image (no stale tag from the previous run)", async () => {
    const tar = join(dir, "dist", "all.tar");
    const gadgetfile = (tag: string) => `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { tag: "${tag}", archs: ["amd64"] },
  publish: [{ type: "tar-export", file: "dist/all.tar" }],
});
`;
    await writeFile(join(dir, "gadgetfile.ts"), gadgetfile("watched/{name}:one"));
    const child = spawn(process.execPath, [GADGET_BIN, "run", "publish", "--watch", "--oci-store", join(dir, "store")], { cwd: dir, env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const waitFor = async (pred: () => boolean, what: string) => {
      const t0 = Date.now();
      while (!pred()) {
        if (Date.now() - t0 > 30_000) throw new Error(`timed out waiting for ${what}\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    try {
      await waitFor(() => err.includes("watching"), "the first build");
      const names = async () => {
        const { execFileSync } = await import("node:child_process");
        const index = JSON.parse(execFileSync("tar", ["-xOf", tar, "index.json"], { encoding: "utf8" })) as { manifests: { annotations?: Record<string, string> }[] };
        return index.manifests.flatMap((m) => m.annotations?.["org.opencontainers.image.ref.name"] ?? []).sort();
      };
      expect(await names()).toEqual(["ghcr.io/watched/a:one"]);
      // re-tag: the gadgetfile changes, watch reloads and publishes again
      const before = out.length;
      // an editor's atomic save (write a temp file, rename it over the old one)
      await writeFile(join(dir, "gadgetfile.ts.tmp"), gadgetfile("watched/{name}:two"));
      await rename(join(dir, "gadgetfile.ts.tmp"), join(dir, "gadgetfile.ts"));
      await waitFor(() => out.slice(before).includes("✓ a "), "the rebuild after the reload");
      expect(await names()).toEqual(["ghcr.io/watched/a:two"]);
      expect(err).not.toMatch(/^Error:/m);
    } finally {
      child.kill("SIGINT");
      await new Promise((r) => child.on("exit", r));
      await rm(join(dir, "dist"), { recursive: true, force: true });
    }
  });
});

describe("a stage's own definition is checked when it loads", () => {
  it("options that are not a schema, outputs that are not names: an invalid-stage error naming the plugin", async () => {
    await writeFile(join(dir, "stages", "broken.ts"), `export default { name: "broken", version: "1", options: { level: "warn" }, run: async () => {} };\n`);
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], plugins: ["./stages/broken.ts"] });\n`, ["run", "--dry"]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe("Error: invalid stage (./stages/broken.ts: broken): options must be an object schema: options: t.object({ … })");
    const unchanged = await readFile(join(dir, "stages", "lint.ts"), "utf8");
    expect(unchanged).toBe(STAGE);
  });
});
