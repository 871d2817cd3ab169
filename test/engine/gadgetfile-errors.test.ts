import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, writeFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-gf-"));
  await mkdir(join(dir, "gadgets", "a"), { recursive: true });
  await writeFile(join(dir, "gadgets", "a", "program.bpf.c"), "// empty\n");
});
afterAll(async () => cleanup?.());

async function runWith(source: string, args: string[] = ["run", "--dry"]) {
  await writeFile(join(dir, "gadgetfile.ts"), source);
  return runGadget(args, { cwd: dir });
}

/** One `Error:` line (plus at most a `hint:` line), naming the location; exit 1; no stack trace. */
function expectOneLineError(r: { code: number; stderr: string; stdout: string }, re: RegExp) {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines[0]).toMatch(/^Error: /);
  expect(lines[0]).toMatch(re);
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1]) expect(lines[1]).toMatch(/^hint: /);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe("bad gadgetfiles give a one-line error with file:line, exit 1", () => {
  it("syntax error", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\n\nexport default defineGadgetfile({\n  gadgets: ["gadgets/*",\n});\n`);
    expectOneLineError(r, /^Error: cannot load gadgetfile \(gadgetfile\.ts:5:1\): Unexpected "\}"$/);
  });

  it("throws at import", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\n\nconst n = Number("x");\nif (Number.isNaN(n)) throw new Error("boom: no config");\nexport default defineGadgetfile({ gadgets: ["gadgets/*"] });\n`);
    expectOneLineError(r, /^Error: cannot load gadgetfile \(gadgetfile\.ts:4:\d+\): threw at import: boom: no config$/);
  });

  it("unknown key (with the key path)", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\n\nexport default defineGadgetfile({\n  gadgets: ["gadgets/*"],\n  defaults: {\n    archs: ["amd64"],\n    cflag: ["-DX"],\n  },\n});\n`);
    expectOneLineError(r, /^Error: invalid gadgetfile \(gadgetfile\.ts:7: defaults\.cflag\): unknown key "cflag" \(known keys: tag, archs, cflags/);
  });

  it("wrong type (with the key path)", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\n\nexport default defineGadgetfile({\n  gadgets: ["gadgets/*"],\n  tasks: {\n    lint: {\n      steps: "clang",\n    },\n  },\n});\n`);
    expectOneLineError(r, /^Error: invalid gadgetfile \(gadgetfile\.ts:7: tasks\.lint\.steps\): expected an array, got a string$/);
  });

  it("wrong arch value inside an array", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({\n  gadgets: [{ path: "gadgets/a", archs: ["x86"] }],\n});\n`);
    expectOneLineError(r, /^Error: invalid gadgetfile \(gadgetfile\.ts:3: gadgets\[0\]\.archs\[0\]\): expected one of amd64, arm64, got "x86"$/);
  });

  it("cycle in deps", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\n\nexport default defineGadgetfile({\n  gadgets: ["gadgets/*"],\n  tasks: {\n    a: { deps: ["b"] },\n    b: { deps: ["a"] },\n  },\n});\n`);
    expectOneLineError(r, /^Error: invalid gadgetfile \(gadgetfile\.ts:6: tasks\.a\.deps\): cycle in task deps: a → b → a$/);
  });

  it("unknown task on the command line", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], tasks: { lint: { steps: [] } } });\n`, ["run", "nope", "--dry"]);
    expectOneLineError(r, /^Error: unknown task \(nope\): gadgetfile\.ts defines no task "nope"$/);
    expect(r.stderr).toMatch(/hint: known tasks: build, check, lint, publish/);
  });

  it("unknown task in deps", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({\n  gadgets: ["gadgets/*"],\n  tasks: {\n    ship: { deps: ["build", "tset"] },\n  },\n});\n`);
    expectOneLineError(r, /^Error: invalid gadgetfile \(gadgetfile\.ts:5: tasks\.ship\.deps\[1\]\): unknown task "tset"$/);
  });

  it("unknown stage", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({\n  gadgets: ["gadgets/*"],\n  tasks: {\n    lint: {\n      steps: ["clang", { stage: "lintr" }],\n    },\n  },\n});\n`, ["run", "lint", "--dry"]);
    expectOneLineError(r, /^Error: invalid gadgetfile \(gadgetfile\.ts:6: tasks\.lint\.steps\[1\]\.stage\): unknown stage "lintr"$/);
  });

  it("missing plugin file", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], plugins: ["./stages/nope.ts"] });\n`);
    expectOneLineError(r, /^Error: cannot load plugin \(\.\/stages\/nope\.ts\): no such file: /);
  });

  it("a glob that matches no gadget", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({\n  gadgets: ["gadgetz/*"],\n});\n`);
    expectOneLineError(r, /^Error: invalid gadgetfile \(gadgetfile\.ts:3: gadgets\[0\]\): "gadgetz\/\*" matches no gadget folder/);
  });

  it("no gadgetfile", async () => {
    const { dir: empty, cleanup: c } = await tempDir();
    try {
      const r = await runGadget(["run"], { cwd: empty });
      expectOneLineError(r, /^Error: gadgetfile not found \(.*gadgetfile\.ts\): no gadgetfile\.ts in this folder or any folder above it$/);
    } finally {
      await c();
    }
  });

  it("--jobs must be a positive whole number (usage error, exit 2)", async () => {
    const r = await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"] });\n`, ["run", "--jobs", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: invalid usage: invalid --jobs "0"/);
  });

  it("leaves no temp files behind (bundled in memory)", async () => {
    await runWith(`import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"] });\n`);
    const names = await readdir(dir);
    expect(names.sort()).toEqual([".gadget", "gadgetfile.ts", "gadgets"]);
    expect((await readdir(join(dir, ".gadget"))).sort()).toEqual([".gitignore", "gadgetfile.json"]);
  });
});
