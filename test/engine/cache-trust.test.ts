/**
 * A cache people can trust (issue 12): a step's key is a pure function of everything that can
 * change its output — the stage's own code (local plugin files, an npm plugin's version, gadget's
 * version for built-ins), its declared inputs — and nothing else (not what another arch finished
 * first). Entries are kept until pruned, so going back to an earlier state is all hits.
 */
// Runs pass --keep-old: reverts expect the earlier images (which their cache entries name) still in the store.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, runCommand, tempDir } from "../helpers/cli.js";
import { copyFixture, copyInstallation, digests, explainLines, imageAnnotations, requireTool, type Repo, type RunJson } from "./helpers.js";

const CACHED = ["clang", "arch-note", "strip", "params", "wasm", "oci-pack"];

function cachedLines(stderr: string): [string, string][] {
  return [...explainLines(stderr)].filter(([k]) => CACHED.includes(k.split(" ")[1]!.split("@")[0]!));
}

function misses(stderr: string): string[] {
  return cachedLines(stderr)
    .filter(([, v]) => v !== "hit")
    .map(([k, v]) => `${k}: ${v}`);
}

describe("cache keys: stage code, per-arch determinism, reverts (real clang)", () => {
  let repo: Repo;
  let first: Record<string, string>;
  beforeAll(async () => {
    requireTool("clang");
    requireTool("llvm-strip");
    repo = await copyFixture("trust");
  });
  afterAll(async () => repo?.cleanup());

  it("builds, and a second run is all hits with the same digests", async () => {
    const r = await repo.run(["run", "--keep-old", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    first = digests(r);
    const again = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(misses(again.stderr)).toEqual([]);
    expect(cachedLines(again.stderr)).toHaveLength(2 * (2 + 2 + 2 + 1 + 1 + 1));
    expect(digests(again)).toEqual(first);
  });

  it("20 consecutive no-change runs with a per-arch annotating stage: 0 misses, and the same image every time", async () => {
    const seen: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await repo.run(["run", "--keep-old", "--json", "--explain", "--jobs", "4"]);
      expect(r.code).toBe(0);
      seen.push(...misses(r.stderr));
      expect(digests(r)).toEqual(first);
    }
    expect(seen).toEqual([]);
    // the same key under both archs: the gadget's arch order decides (arm64 after amd64), not finishing order
    const ann = await imageAnnotations(repo.store, first.a!);
    expect(ann["com.acme.arch-note"]).toBe("built for arm64");
    expect(ann["com.acme.arch.amd64"]).toBe("yes");
    expect(ann["com.acme.arch.arm64"]).toBe("yes");
  });

  it("editing a local stage (a file it imports) re-runs its steps: `stage ./stages/params.ts changed`, a new image; the revert is all hits", async () => {
    const label = join(repo.dir, "stages", "label.ts");
    const original = await readFile(label, "utf8");
    await writeFile(label, original.replace("v1", "v2"));
    const r = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(r.code).toBe(0);
    const ex = explainLines(r.stderr);
    expect(ex.get("a params")).toBe("miss: stage ./stages/params.ts changed");
    expect(ex.get("b params")).toBe("miss: stage ./stages/params.ts changed");
    expect(ex.get("a clang@amd64")).toBe("hit");
    const edited = digests(r);
    expect(edited.a).not.toBe(first.a);
    expect((await imageAnnotations(repo.store, edited.a!))["com.acme.params"]).toBe("a: v2");

    await writeFile(label, original);
    const back = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(misses(back.stderr)).toEqual([]);
    expect(digests(back)).toEqual(first);
    expect((await imageAnnotations(repo.store, first.a!))["com.acme.params"]).toBe("a: v1");
  });

  it("a header edit rebuilds the gadget that reads it; the revert is all hits with the digests from before the edit", async () => {
    const header = join(repo.dir, "include", "stat.h");
    const original = await readFile(header, "utf8");
    const edited = original.replace("100", "200");
    await writeFile(header, edited);
    const r = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(r.code).toBe(0);
    const ex = explainLines(r.stderr);
    expect(ex.get("a clang@amd64")).toBe("miss: include/stat.h changed");
    expect(ex.get("a clang@arm64")).toBe("miss: include/stat.h changed");
    expect(ex.get("b clang@amd64")).toBe("hit");
    const afterEdit = digests(r);
    expect(afterEdit.a).not.toBe(first.a);
    expect(afterEdit.b).toBe(first.b);

    await writeFile(header, original);
    const back = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(misses(back.stderr)).toEqual([]);
    expect(digests(back)).toEqual(first);

    // and again forth and back (switching branches): every state seen before is all hits
    for (const [text, want] of [
      [edited, afterEdit],
      [original, first],
    ] as const) {
      await writeFile(header, text);
      const s = await repo.run(["run", "--keep-old", "--json", "--explain"]);
      expect(misses(s.stderr)).toEqual([]);
      expect(digests(s)).toEqual(want);
    }
  });

  it("gadget's own version is in the built-in stages' keys: another version re-runs them and the image names it", async () => {
    const t = await tempDir("gadget-install-");
    try {
      const bin = await copyInstallation(t.dir, { version: "9.9.9" });
      const run = (args: string[]) => runCommand(process.execPath, [bin, ...args, "--oci-store", repo.store], { cwd: repo.dir, env: { SOURCE_DATE_EPOCH: "1700000000" } });
      const r = await run(["run", "--keep-old", "--json", "--explain"]);
      expect(r.code).toBe(0);
      const ex = explainLines(r.stderr);
      const { version } = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
      expect(ex.get("a oci-pack")).toBe(`miss: gadget version changed (${version} → 9.9.9)`);
      expect(ex.get("a clang@amd64")).toBe(`miss: gadget version changed (${version} → 9.9.9)`);
      const d = digests(r);
      expect(d.a).not.toBe(first.a);
      expect((await imageAnnotations(repo.store, d.a!))["io.inspektor-gadget.builder.version"]).toBe("v9.9.9+gadget");
    } finally {
      await t.cleanup();
    }
    // this installation again: everything it built before is still there
    const back = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(misses(back.stderr)).toEqual([]);
    expect(digests(back)).toEqual(first);
  });

  it("--explain ends with a summary: hits, misses and the cache's size", async () => {
    const r = await repo.run(["run", "--keep-old", "--explain"]);
    expect(r.code).toBe(0);
    const last = r.stderr.trim().split("\n").at(-1)!;
    expect(last).toMatch(/^explain: 18 hits, 0 misses; cache \d+(\.\d+)? (B|kB|MB) in \.gadget \(\d+ entries, bound 2\.00 GB\)$/);
  });

  it("`gadget cache prune --older-than` removes the entries not used since; the states used since still hit", async () => {
    // every entry last used 10 days ago …
    const actions = join(repo.dir, ".gadget", "actions");
    const old = new Date(Date.now() - 10 * 86400e3);
    for (const f of await readdir(actions)) await utimes(join(actions, f), old, old);
    // … then one build (the original state) uses its entries again
    const used = await repo.run(["run", "--keep-old", "--json"]);
    expect(digests(used)).toEqual(first);
    const before = (await readdir(actions)).length;
    const p = await repo.run(["cache", "prune", "--older-than", "7d", "--json"]);
    expect(p.code).toBe(0);
    const res = JSON.parse(p.stdout) as { removedEntries: number; after: { entries: number } };
    expect(res.removedEntries).toBeGreaterThan(0);
    expect(res.after.entries).toBe(before - res.removedEntries);
    expect(res.after.entries).toBe(2 * (2 + 2 + 2 + 1 + 1 + 1));
    const r = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(misses(r.stderr)).toEqual([]);
    // the edited header's entries are gone: that state builds again
    const header = join(repo.dir, "include", "stat.h");
    const original = await readFile(header, "utf8");
    await writeFile(header, original.replace("100", "200"));
    const edited = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(explainLines(edited.stderr).get("a clang@amd64")).toBe("miss: include/stat.h changed");
    await writeFile(header, original);
  });

  it("`gadget cache prune --max-size` keeps the cache under the size (least recently used out); rebuilding restores it", async () => {
    const p = await repo.run(["cache", "prune", "--max-size", "1", "--json"]);
    expect(p.code).toBe(0);
    const res = JSON.parse(p.stdout) as { removedEntries: number; after: { bytes: number; entries: number } };
    expect(res.after.entries).toBe(0);
    expect(await readdir(join(repo.dir, ".gadget", "cas"))).toEqual([]);
    const r = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(explainLines(r.stderr).get("b clang@amd64")).toBe("miss: cache entry missing");
    expect(digests(r)).toEqual(first);
    const human = await repo.run(["cache", "prune", "--max-size", "1G"]);
    expect(human.stdout).toMatch(/^Pruned 0 entries, freed 0 B; the cache holds 18 entries, \d+(\.\d+)? (kB|MB)$/m);
    const bad = await repo.run(["cache", "prune", "--max-size", "lots"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^Error: invalid size \(--max-size\): "lots" is not a size\nhint: e\.g\. 500M, 2G or 1GiB/m);
    const badAge = await repo.run(["cache", "prune", "--older-than", "a week"]);
    expect(badAge.code).toBe(2);
    expect(badAge.stderr).toMatch(/^Error: invalid duration \(--older-than\): "a week" is not a duration$/m);
  });

  it("after a run that stored outputs the size bound applies (GADGET_CACHE_MAX_SIZE): least recently used entries go", async () => {
    expect(await readdir(join(repo.dir, ".gadget", "cas"))).not.toEqual([]);
    // a tiny bound: whatever a run stores is pruned right after it
    const header = join(repo.dir, "include", "stat.h");
    const original = await readFile(header, "utf8");
    await writeFile(header, original.replace("100", "300"));
    try {
      const small = await repo.run(["run", "--keep-old", "--json"], { GADGET_CACHE_MAX_SIZE: "1" });
      expect(small.code).toBe(0);
      expect(await readdir(join(repo.dir, ".gadget", "cas"))).toEqual([]);
      expect(await readdir(join(repo.dir, ".gadget", "actions"))).toEqual([]);
    } finally {
      await writeFile(header, original);
    }
  });
});

describe("an npm plugin's key is its name, version and integrity", () => {
  let repo: Repo;
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("plugins");
  });
  afterAll(async () => repo?.cleanup());

  it("a new version of the package re-runs its stage, naming both versions; its files changed without a version bump too", async () => {
    expect((await repo.run(["run", "--keep-old", "--json"])).code).toBe(0);
    const pkgJson = join(repo.dir, "node_modules", "@acme", "gadget-lint", "package.json");
    await writeFile(pkgJson, (await readFile(pkgJson, "utf8")).replace('"1.0.0"', '"1.0.1"'));
    const r = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(r.code).toBe(0);
    const ex = explainLines(r.stderr);
    expect(ex.get("hello @acme/license")).toBe("miss: stage @acme/gadget-lint changed (1.0.0 → 1.0.1)");
    expect(ex.get("hello lint")).toBe("hit");
    // no lockfile names its integrity: the package's files are its identity
    const index = join(repo.dir, "node_modules", "@acme", "gadget-lint", "index.js");
    await writeFile(index, (await readFile(index, "utf8")).replace('"unknown"', '"UNKNOWN"'));
    const r2 = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(explainLines(r2.stderr).get("hello @acme/license")).toBe("miss: stage @acme/gadget-lint changed");
    // a lockfile's integrity is used when there is one
    await writeFile(join(repo.dir, "package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: { "node_modules/@acme/gadget-lint": { version: "1.0.1", integrity: "sha512-test" } } }));
    const r3 = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(explainLines(r3.stderr).get("hello @acme/license")).toBe("miss: stage @acme/gadget-lint changed");
    const r4 = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(explainLines(r4.stderr).get("hello @acme/license")).toBe("hit");
    expect((JSON.parse(r4.stdout) as RunJson).ok).toBe(true);
  });
});
