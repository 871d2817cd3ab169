/**
 * The no-op fast path (issue 22): a `gadget run` whose every input is as the last identical run
 * left it prints the same result lines from .gadget/up-to-date.json without loading the
 * gadgetfile (a gadgetfile that counts its own evaluations proves it), and any change that could
 * matter — a source, a header found through the depfile, a new gadget folder, the environment,
 * the command line, the store's tag — runs in full. A run that publishes never takes it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { copyFixture, requireTool, type Repo } from "./helpers.js";
import { runGadget } from "../helpers/cli.js";

/** The gadgetfile appends a line to this file each time it is evaluated. */
const LOADS = "loads.txt";

async function loads(repo: Repo): Promise<number> {
  return (await readFile(join(repo.dir, LOADS), "utf8").catch(() => "")).split("\n").filter(Boolean).length;
}

function resultLines(stdout: string): string[] {
  // `✓ name N ms sha256:…` without the time
  return stdout.trim().split("\n").map((l) => l.replace(/ \d+ ms /, " "));
}

describe("gadget run: the no-op fast path", () => {
  let repo: Repo;
  let first: string[];
  const run = async (args: string[] = ["run"], env?: Record<string, string>) => {
    const r = await repo.run(args, env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return r;
  };
  /** Runs once and says whether the gadgetfile was loaded (a full run) or not (the fast path). */
  const full = async (args?: string[], env?: Record<string, string>) => {
    const before = await loads(repo);
    const r = await run(args, env);
    return { full: (await loads(repo)) > before, lines: resultLines(r.stdout) };
  };

  beforeAll(async () => {
    requireTool("clang");
    requireTool("llvm-strip");
    repo = await copyFixture("repo3");
    const gf = join(repo.dir, "gadgetfile.ts");
    const text = await readFile(gf, "utf8");
    await writeFile(join(repo.dir, LOADS), ""); // (a file created during the first run would change the folder's listing)
    const withCompile = text.replace("defaults:", `tasks: { compile: { steps: ["clang", "strip"] } },\n  defaults:`);
    await writeFile(gf, `import { appendFileSync } from "node:fs";\nappendFileSync(${JSON.stringify(join(repo.dir, LOADS))}, "load\\n");\n${withCompile}`);
  });
  afterAll(async () => repo?.cleanup());

  it("a second identical run prints the same lines without loading the gadgetfile", async () => {
    const a = await full();
    expect(a.full).toBe(true);
    expect(a.lines).toHaveLength(3);
    first = a.lines;
    const b = await full();
    expect(b).toEqual({ full: false, lines: first });
  });

  it("an edited source runs in full (new digest), then the fast path again", async () => {
    const src = join(repo.dir, "gadgets", "tcp_count", "program.bpf.c");
    await writeFile(src, (await readFile(src, "utf8")).replace("#define COUNTER_MAX 16", "#define COUNTER_MAX 17"));
    const a = await full();
    expect(a.full).toBe(true);
    expect(a.lines.filter((l) => !first.includes(l)).map((l) => l.split(" ")[1])).toEqual(["tcp_count"]);
    expect(await full()).toEqual({ full: false, lines: a.lines });
    first = a.lines;
  });

  it("a header found through clang's depfile, touched without a change: a full run with the same digests", async () => {
    const h = join(repo.dir, "_shared", "counter.h");
    await writeFile(h, await readFile(h)); // same bytes, new mtime/ctime
    expect(await full()).toEqual({ full: true, lines: first });
    expect((await full()).full).toBe(false);
  });

  it("a new gadget folder runs in full and builds it", async () => {
    await cp(join(repo.dir, "gadgets", "exec_count"), join(repo.dir, "gadgets", "exec_count2"), { recursive: true });
    await writeFile(join(repo.dir, "gadgets", "exec_count2", "gadget.yaml"), "name: exec_count2\ndescription: a copy\n");
    const a = await full();
    expect(a.full).toBe(true);
    expect(a.lines).toHaveLength(4);
    expect(a.lines.some((l) => l.startsWith("✓ exec_count2 "))).toBe(true);
    first = a.lines;
    expect((await full()).full).toBe(false);
  });

  it("another environment or command line runs in full; each is remembered", async () => {
    expect((await full(["run"], { GADGET_TEST_VAR: "1" })).full).toBe(true);
    expect((await full(["run"], { GADGET_TEST_VAR: "1" })).full).toBe(false);
    expect((await full(["run", "--only", "tcp_count"])).full).toBe(true);
    const only = await full(["run", "--only", "tcp_count"]);
    expect(only.full).toBe(false);
    expect(only.lines).toEqual(first.filter((l) => l.startsWith("✓ tcp_count ")));
    expect((await full()).full).toBe(false); // the plain run's state is still there
  });

  it("a tag removed from the store runs in full and tags it again", async () => {
    const r = await runGadget(["image", "rm", "localhost:5000/test/tcp_count:dev", "--oci-store", repo.store]);
    expect(r.code).toBe(0);
    expect((await full()).full).toBe(true);
    const list = await runGadget(["image", "list", "--oci-store", repo.store]);
    expect(list.stdout).toContain("tcp_count");
    expect((await full()).full).toBe(false);
  });

  it("a task that tags nothing (compile) takes it too", async () => {
    expect((await full(["run", "compile"])).full).toBe(true);
    const again = await full(["run", "compile"]);
    expect(again.full).toBe(false);
    expect(again.lines.map((l) => l.split(" ")[1])).toEqual(first.map((l) => l.split(" ")[1])); // (no digest: nothing is packed)
  });

  it("--explain, --json and --no-cache always run in full", async () => {
    for (const flag of ["--explain", "--json", "--no-cache"]) {
      const before = await loads(repo);
      const r = await repo.run(["run", flag]);
      expect(r.code).toBe(0);
      expect(await loads(repo)).toBeGreaterThan(before);
    }
  });

  it("a run with a step that is not cached and leaves the machine (tar-export) never takes it", async () => {
    const gf = join(repo.dir, "gadgetfile.ts");
    const text = await readFile(gf, "utf8");
    await writeFile(gf, text.replace(`defaults: {`, `publish: [{ type: "tar-export", file: "out/all.tar" }],\n  defaults: {`));
    for (let i = 0; i < 2; i++) {
      const before = await loads(repo);
      const r = await repo.run(["run", "publish"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/exported 4 image/);
      expect(await loads(repo)).toBeGreaterThan(before);
    }
  });
});

describe("gadget run: the fast path in a `gadget init` project (gadgets: [\".\"])", () => {
  it("takes the fast path once the folder is settled; a build.yaml appearing in the folder runs in full", async () => {
    requireTool("clang");
    const { tempDir, runGadget } = await import("../helpers/cli.js");
    const t = await tempDir("gadget-uptodate-init-");
    try {
      const dir = join(t.dir, "proj");
      const store = join(t.dir, "store");
      const counter = join(t.dir, "loads.txt"); // outside the gadget folder (its listing is part of the state)
      expect((await runGadget(["init", dir])).code).toBe(0);
      const gf = join(dir, "gadgetfile.ts");
      await writeFile(gf, `import { appendFileSync } from "node:fs";\nappendFileSync(${JSON.stringify(counter)}, "load\\n");\n${await readFile(gf, "utf8")}`);
      const count = async () => (await readFile(counter, "utf8").catch(() => "")).split("\n").filter(Boolean).length;
      const run = async () => {
        const r = await runGadget(["run", "--oci-store", store], { cwd: dir });
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.replace(/ \d+ ms /, " ");
      };
      const first = await run();
      for (let i = 0; i < 3; i++) expect(await run()).toBe(first);
      // the first run creates .gadget/ in the folder (its mtime moves: not recorded), the second records, the rest skip
      expect(await count()).toBeLessThanOrEqual(2);
      const state = JSON.parse(await readFile(join(dir, ".gadget", "up-to-date.json"), "utf8")) as { entries: { dirs: [string, string[]][] }[] };
      expect(state.entries[0]!.dirs.find(([d]) => d === dir)?.[1]).toEqual(["gadget.yaml", "gadgetfile.ts", "program.bpf.c"]);
      const loads = await count();
      await writeFile(join(dir, "build.yaml"), "cflags: -DEXTRA=1\n");
      await run();
      expect(await count()).toBe(loads + 1);
    } finally {
      await t.cleanup();
    }
  });
});
