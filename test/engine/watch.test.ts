import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GADGET_BIN } from "../helpers/cli.js";
import { copyFixture, requireTool, type Repo } from "./helpers.js";

class Proc {
  stdout = "";
  stderr = "";
  exit: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (d) => (this.stdout += d));
    child.stderr!.on("data", (d) => (this.stderr += d));
    this.exit = new Promise((r) => child.on("exit", (code) => r(code)));
  }
  async waitFor(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (this.child.exitCode !== null) throw new Error(`watch exited (${this.child.exitCode}) while waiting for ${what}\n${this.stdout}\n${this.stderr}`);
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function lines(s: string): string[] {
  return s.split("\n").filter(Boolean);
}

/** An editor's atomic save: write a temp file, remove the original, rename the temp over it. */
async function atomicSave(path: string, text: string): Promise<void> {
  const tmp = `${path}.swp`;
  await writeFile(tmp, text);
  await unlink(path);
  await rename(tmp, path);
}

describe("gadget run --watch (real files, real chokidar)", () => {
  let repo: Repo;
  let p: Proc;
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("repo3");
    const child = spawn(process.execPath, [GADGET_BIN, "run", "--watch", "--oci-store", repo.store], { cwd: repo.dir, env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" }, stdio: ["ignore", "pipe", "pipe"] });
    p = new Proc(child);
  });
  afterAll(async () => {
    if (p && p.child.exitCode === null) p.child.kill("SIGKILL");
    await repo?.cleanup();
  });

  const src = () => join(repo.dir, "gadgets", "exec_count", "program.bpf.c");
  const digestLine = (name: string, from: number) => lines(p.stdout).slice(from).find((l) => l.startsWith(`✓ ${name} `));

  it("builds everything first, then says what it watches", async () => {
    await p.waitFor(() => p.stderr.includes("watching"), "the watching line");
    expect(lines(p.stdout)).toHaveLength(3);
    expect(p.stderr).toMatch(/^watching \d+ files \(Ctrl-C to stop\)$/m);
    expect(existsSync(join(repo.dir, ".gadget", "cas"))).toBe(true);
  });

  it("an edit (a burst of atomic saves) rebuilds only that gadget once, with a new digest in the store", async () => {
    const before = digestLine("exec_count", 0)!.split(" ").at(-1)!;
    const mark = lines(p.stdout).length;
    const text = await readFile(src(), "utf8");
    for (const n of [70, 71, 72]) await atomicSave(src(), text.replace("COUNTER_MAX 64", `COUNTER_MAX ${n}`));
    await p.waitFor(() => digestLine("exec_count", mark) !== undefined, "the rebuild line");
    await new Promise((r) => setTimeout(r, 700)); // nothing else should follow
    const fresh = lines(p.stdout).slice(mark);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatch(/^✓ exec_count \d+ ms sha256:[a-f0-9]{64}$/);
    const after = fresh[0]!.split(" ").at(-1)!;
    expect(after).not.toBe(before);
    expect(existsSync(join(repo.store, "blobs", "sha256", after.slice(7)))).toBe(true);
  });

  it("a syntax error prints clang's diagnostics and watch stays alive; the fix rebuilds", async () => {
    const good = await readFile(src(), "utf8");
    let mark = lines(p.stdout).length;
    const errMark = p.stderr.length;
    await writeFile(src(), `${good}int broken(void) { return 0 +; }\n`);
    await p.waitFor(() => lines(p.stdout).slice(mark).some((l) => l.startsWith("✗ exec_count")), "the failure line");
    await p.waitFor(() => p.stderr.slice(errMark).includes("error: expected expression"), "clang's diagnostics");
    expect(p.child.exitCode).toBe(null);
    mark = lines(p.stdout).length;
    await writeFile(src(), good);
    await p.waitFor(() => digestLine("exec_count", mark) !== undefined, "the rebuild after the fix");
  });

  it("a changed header rebuilds the gadget that includes it", async () => {
    const mark = lines(p.stdout).length;
    await writeFile(join(repo.dir, "include", "common.h"), (await readFile(join(repo.dir, "include", "common.h"), "utf8")).replace("1024", "2048"));
    await p.waitFor(() => digestLine("open_count", mark) !== undefined, "the open_count rebuild");
    await new Promise((r) => setTimeout(r, 300));
    expect(lines(p.stdout).slice(mark).map((l) => l.split(" ")[1])).toEqual(["open_count"]);
  });

  it("an unrelated file or the cache dir changing triggers nothing", async () => {
    const mark = lines(p.stdout).length;
    const errMark = p.stderr.length;
    await writeFile(join(repo.dir, "README.md"), "edited\n");
    await writeFile(join(repo.dir, "gadgets", "exec_count", "notes.txt"), "x\n");
    await writeFile(join(repo.dir, ".gadget", "junk"), "x\n");
    await new Promise((r) => setTimeout(r, 800));
    expect(lines(p.stdout).slice(mark)).toEqual([]);
    expect(p.stderr.slice(errMark)).toBe("");
  });

  it("a broken gadgetfile.ts prints its error with file:line and watch goes on; the fix reloads it", async () => {
    const gf = join(repo.dir, "gadgetfile.ts");
    const good = await readFile(gf, "utf8");
    let errMark = p.stderr.length;
    await writeFile(gf, good.replace('gadgets: ["gadgets/*"],', 'gadgets: ["gadgets/*"'));
    await p.waitFor(() => /^Error: cannot load gadgetfile \(gadgetfile\.ts:\d+:\d+\): /m.test(p.stderr.slice(errMark)), "the gadgetfile error");
    expect(p.child.exitCode).toBe(null);
    errMark = p.stderr.length;
    const mark = lines(p.stdout).length;
    await writeFile(gf, good);
    await p.waitFor(() => p.stderr.slice(errMark).includes("reloaded gadgetfile.ts"), "the reload after the fix");
    await p.waitFor(() => lines(p.stdout).slice(mark).length >= 3, "the build after the reload");
  });

  it("editing gadgetfile.ts reloads it and applies the change", async () => {
    const mark = lines(p.stdout).length;
    const errMark = p.stderr.length;
    const gf = join(repo.dir, "gadgetfile.ts");
    await writeFile(gf, (await readFile(gf, "utf8")).replace(":dev", ":v2"));
    await p.waitFor(() => p.stderr.slice(errMark).includes("reloaded gadgetfile.ts"), "the reload line");
    await p.waitFor(() => lines(p.stdout).slice(mark).length >= 3, "rebuild lines after the reload");
    const index = JSON.parse(await readFile(join(repo.store, "index.json"), "utf8")) as { manifests: { annotations?: Record<string, string> }[] };
    const refs = index.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]);
    expect(refs).toContain("localhost:5000/test/exec_count:v2");
  });

  it("SIGINT exits 0 and leaves no child processes", async () => {
    p.child.kill("SIGINT");
    expect(await p.exit).toBe(0);
    let left = "";
    try {
      left = execFileSync("pgrep", ["-f", repo.dir], { encoding: "utf8" });
    } catch {
      left = "";
    }
    expect(left).toBe("");
  });
});
