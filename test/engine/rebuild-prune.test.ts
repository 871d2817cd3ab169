/**
 * Rebuilds and the store (issue 15): with --keep-old every rebuild leaves the replaced image as
 * garbage — fsck stays at exit 0 and names it with the prune hint, prune frees it, and the store
 * still lists, pushes and pulls; without --keep-old each rebuild removes the blobs only the
 * replaced image used (real clang, real registry).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { copyFixture, digests, requireTool, type Repo } from "./helpers.js";

const blobs = async (store: string) => (await readdir(join(store, "blobs", "sha256"))).sort();
const describeA = (repo: Repo, i: number) => writeFile(join(repo.dir, "gadgets", "a", "gadget.yaml"), `name: a\ndescription: counts openat calls (build ${i})\n`);

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  requireTool("clang");
  requireTool("llvm-strip");
  reg = await startRegistry();
  tmp = await tempDir("gadget-rebuild-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("rebuilds with --keep-old, then fsck and prune", () => {
  let repo: Repo;
  beforeAll(async () => {
    repo = await copyFixture("trust");
  });
  afterAll(async () => repo?.cleanup());

  it("10 rebuilds: fsck exits 0 naming the garbage; prune frees it; the store lists, pushes and pulls", async () => {
    const first = await repo.run(["run", "--json", "--keep-old"]);
    expect(first.code, first.stderr).toBe(0);
    const seen = new Set([digests(first).a!]);
    let current = digests(first).a!;
    for (let i = 1; i <= 10; i++) {
      await describeA(repo, i);
      const r = await repo.run(["run", "--json", "--keep-old"]);
      expect(r.code, r.stderr).toBe(0);
      current = digests(r).a!;
      seen.add(current);
    }
    expect(seen.size).toBe(11);
    const before = await blobs(repo.store);

    const fsck = await runGadget(["image", "fsck", "--oci-store", repo.store]);
    expect(fsck.code, fsck.stdout).toBe(0);
    expect(fsck.stdout).not.toContain("problem:");
    // each old image left its index, its manifest and its config (the eBPF layers are shared)
    expect(fsck.stdout.split("\n").filter((l) => l.startsWith("garbage: unreachable blob:")).length).toBe(30);
    expect(fsck.stdout).toMatch(/^sound: .*no problems/m);
    expect(fsck.stdout).toContain("hint: `gadget image prune` removes the garbage");

    const prune = await runGadget(["image", "prune", "--oci-store", repo.store, "--json"]);
    expect(prune.code, prune.stderr).toBe(0);
    const report = JSON.parse(prune.stdout) as { items: { kind: string; name: string }[]; freed: number };
    expect(report.items.filter((i) => i.kind === "index").length).toBe(10);
    expect(report.freed).toBeGreaterThan(0);
    expect((await blobs(repo.store)).length).toBe(before.length - 30);
    for (const d of seen) if (d !== current) expect(report.items.map((i) => i.name)).toContain(d);
    expect(report.items.map((i) => i.name)).not.toContain(current);

    const clean = await runGadget(["image", "fsck", "--oci-store", repo.store]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/: ok \(\d+ blobs verified\)/);
    const list = await runGadget(["image", "list", "--oci-store", repo.store]);
    expect(list.stdout).toContain("trust/a");
    expect(list.stdout).toContain("trust/b");
    // push and pull still work
    const remote = `${reg.host}/trust/a:dev`;
    expect((await runGadget(["image", "tag", "trust/a:dev", remote, "--oci-store", repo.store])).code).toBe(0);
    const push = await runGadget(["image", "push", remote, "--insecure-registries", reg.host, "--oci-store", repo.store]);
    expect(push.code, push.stderr).toBe(0);
    const pull = await runGadget(["image", "pull", remote, "--insecure-registries", reg.host, "--oci-store", join(tmp.dir, "pulled")]);
    expect(pull.code, pull.stderr).toBe(0);
  }, 600_000);
});

describe("rebuilds without --keep-old", () => {
  let repo: Repo;
  beforeAll(async () => {
    repo = await copyFixture("trust");
  });
  afterAll(async () => repo?.cleanup());

  it("each rebuild removes the replaced image's own blobs and keeps what is shared", async () => {
    const r0 = await repo.run(["run", "--json"]);
    expect(r0.code, r0.stderr).toBe(0);
    const count = (await blobs(repo.store)).length;
    let previous = digests(r0).a!;
    for (let i = 1; i <= 3; i++) {
      await describeA(repo, i);
      const r = await repo.run(["run", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const now = digests(r).a!;
      expect(now).not.toBe(previous);
      const present = await blobs(repo.store);
      expect(present).not.toContain(previous.slice(7));
      expect(present).toContain(now.slice(7));
      expect(present.length).toBe(count);
      const fsck = await runGadget(["image", "fsck", "--oci-store", repo.store]);
      expect(fsck.code).toBe(0);
      expect(fsck.stdout).not.toContain("garbage:");
      previous = now;
    }
    // b was not rebuilt: untouched
    expect(digests(await repo.run(["run", "--json"])).b).toBe(digests(r0).b);
  }, 300_000);
});
