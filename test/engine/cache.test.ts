import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFile, chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { copyFixture, digests, explainLines, requireTool, type Repo } from "./helpers.js";

const CACHEABLE = ["clang", "strip", "wasm", "oci-pack"];

describe("gadget run: incremental builds of a 3-gadget repo (real clang)", () => {
  let repo: Repo;
  let first: Record<string, string>;
  beforeAll(async () => {
    requireTool("clang");
    requireTool("llvm-strip");
    repo = await copyFixture("repo3");
  });
  afterAll(async () => repo?.cleanup());

  it("builds all three gadgets into the store", async () => {
    const r = await repo.run(["run", "--json", "--jobs", "2"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    first = digests(r);
    expect(Object.keys(first).sort()).toEqual(["exec_count", "open_count", "tcp_count"]);
    for (const d of Object.values(first)) expect(d).toMatch(/^sha256:[a-f0-9]{64}$/);
    const index = JSON.parse(await readFile(join(repo.store, "index.json"), "utf8")) as { manifests: { annotations?: Record<string, string> }[] };
    const names = index.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]).sort();
    expect(names).toEqual(["localhost:5000/test/exec_count:dev", "localhost:5000/test/open_count:dev", "localhost:5000/test/tcp_count:dev"]);
  });

  it("second run: every cacheable step hits and the digests are the same", async () => {
    const r = await repo.run(["run", "--json", "--explain"]);
    expect(r.code).toBe(0);
    expect(digests(r)).toEqual(first);
    const ex = explainLines(r.stderr);
    const cacheable = [...ex].filter(([k]) => CACHEABLE.includes(k.split(" ")[1]!.split("@")[0]!));
    expect(cacheable.length).toBe(3 * (2 + 2 + 1 + 1));
    for (const [k, v] of cacheable) expect(`${k}: ${v}`).toBe(`${k}: hit`);
    // no scratch output dirs are left behind
    expect(await readdir(join(repo.dir, ".gadget", "out"))).toEqual([]);
  });

  it("without SOURCE_DATE_EPOCH an unchanged gadget keeps its digest (oci-pack is cached too)", async () => {
    const a = await repo.run(["run", "--json"], { SOURCE_DATE_EPOCH: "" });
    const b = await repo.run(["run", "--json", "--explain"], { SOURCE_DATE_EPOCH: "" });
    expect(b.code).toBe(0);
    expect(digests(b)).toEqual(digests(a));
    expect(explainLines(b.stderr).get("exec_count oci-pack")).toBe("hit");
    // back to the pinned epoch: the first digests again
    expect(digests(await repo.run(["run", "--json"]))).toEqual(first);
  });

  it("the human line is `✓ name N ms sha256:…`, one per gadget", async () => {
    const r = await repo.run(["run"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^✓ (exec|open|tcp)_count \d+ ms sha256:[a-f0-9]{64}$/);
  });

  it("touching a header rebuilds only the gadget that includes it, and --explain names the header", async () => {
    await appendFile(join(repo.dir, "include", "common.h"), "#define UNUSED_EXTRA 1\n");
    const r = await repo.run(["run", "--json", "--explain"]);
    expect(r.code).toBe(0);
    const ex = explainLines(r.stderr);
    expect(ex.get("open_count clang@amd64")).toBe("miss: include/common.h changed");
    expect(ex.get("open_count clang@arm64")).toBe("miss: include/common.h changed");
    for (const g of ["exec_count", "tcp_count"]) for (const a of ["amd64", "arm64"]) expect(ex.get(`${g} clang@${a}`)).toBe("hit");
  });

  it("changing a source rebuilds that gadget with a new digest; --explain names the source", async () => {
    const src = join(repo.dir, "gadgets", "exec_count", "program.bpf.c");
    await writeFile(src, (await readFile(src, "utf8")).replace("COUNTER_MAX 64", "COUNTER_MAX 65"));
    const r = await repo.run(["run", "--json", "--explain"]);
    expect(r.code).toBe(0);
    const ex = explainLines(r.stderr);
    expect(ex.get("exec_count clang@amd64")).toBe("miss: gadgets/exec_count/program.bpf.c changed");
    expect(ex.get("tcp_count clang@amd64")).toBe("hit");
    const d = digests(r);
    expect(d.exec_count).not.toBe(first.exec_count);
    expect(d.tcp_count).toBe(first.tcp_count);
    first = d;
  });

  it("changing a cflag rebuilds that gadget (args changed); the others hit", async () => {
    const gf = join(repo.dir, "gadgetfile.ts");
    const text = await readFile(gf, "utf8");
    await writeFile(gf, text.replace('gadgets: ["gadgets/*"]', 'gadgets: ["gadgets/*", { path: "gadgets/tcp_count", cflags: ["-DCOUNTER_EXTRA=2"] }]'));
    const r = await repo.run(["run", "--json", "--explain"]);
    expect(r.code).toBe(0);
    const ex = explainLines(r.stderr);
    expect(ex.get("tcp_count clang@amd64")).toBe("miss: args changed");
    expect(ex.get("exec_count clang@amd64")).toBe("hit");
    expect(ex.get("open_count clang@arm64")).toBe("hit");
  });

  it("changing an unrelated file rebuilds nothing", async () => {
    const before = digests(await repo.run(["run", "--json"]));
    await writeFile(join(repo.dir, "README.md"), "changed\n");
    await writeFile(join(repo.dir, "gadgets", "exec_count", "notes.txt"), "new file\n");
    const r = await repo.run(["run", "--json", "--explain"]);
    expect(r.code).toBe(0);
    for (const [k, v] of explainLines(r.stderr)) if (CACHEABLE.includes(k.split(" ")[1]!.split("@")[0]!)) expect(`${k}: ${v}`).toBe(`${k}: hit`);
    expect(digests(r)).toEqual(before);
  });

  it("a corrupt or missing cache entry is detected and rebuilt, never served", async () => {
    const before = digests(await repo.run(["run", "--json"]));
    const cas = join(repo.dir, ".gadget", "cas");
    const files = (await readdir(cas)).filter((f) => /^[a-f0-9]{64}$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      await chmod(join(cas, f), 0o644);
      await writeFile(join(cas, f), "garbage");
    }
    const r = await repo.run(["run", "--json", "--explain"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/clang@amd64: miss: cache entry corrupt: output object does not match sha256:/);
    expect(digests(r)).toEqual(before);
    // and the rebuilt entries are good again
    const again = await repo.run(["run", "--json", "--explain"]);
    for (const [k, v] of explainLines(again.stderr)) if (k.includes("clang@")) expect(v).toBe("hit");
  });

  it("--no-cache runs everything and gives the same digests", async () => {
    const before = digests(await repo.run(["run", "--json"]));
    const r = await repo.run(["run", "--json", "--no-cache", "--explain"]);
    expect(r.code).toBe(0);
    expect(explainLines(r.stderr).size).toBe(0);
    expect(digests(r)).toEqual(before);
  });

  it("--dry prints the plan and builds nothing", async () => {
    const r = await repo.run(["run", "--dry"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("tasks: build");
    expect(r.stdout).toMatch(/build: clang \(per arch\)/);
    expect(r.stdout).toMatch(/exec_count {2}gadgets\/exec_count {2}amd64,arm64 {2}localhost:5000\/test\/exec_count:dev/);
  });

  it("a compile error fails that gadget only, shows clang's diagnostics once, exit 1", async () => {
    const src = join(repo.dir, "gadgets", "open_count", "program.bpf.c");
    const good = await readFile(src, "utf8");
    await writeFile(src, `${good}int broken(void) { return oops; }\n`);
    try {
      const r = await repo.run(["run"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^✗ open_count \d+ ms$/m);
      expect(r.stdout).toMatch(/^✓ exec_count \d+ ms sha256:/m);
      expect(r.stderr.split("use of undeclared identifier 'oops'").length).toBe(2);
    } finally {
      await writeFile(src, good);
    }
  });
});
