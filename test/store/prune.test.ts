/** `gadget image prune`: what no tag reaches goes (indexes first), under the store's locks; a writer makes it refuse. */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runGadget, tempDir } from "../helpers/cli.js";
import { LayoutStore, releaseWriterLock } from "../../core/store/layout-store.js";
import { acquireFileLock } from "../../core/store/lock.js";
import { makeImage } from "../registry/fixtures.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir("gadget-prune-"));
});
afterEach(() => cleanup());

const g = (...args: string[]) => runGadget(["--oci-store", dir, ...args]);
const blobs = () => readdirSync(join(dir, "blobs", "sha256")).sort();

/** A kept image, a dropped image (untagged: index, 2 manifests, 2 layers unreachable; the config is shared), a junk blob, a stale temp file. */
async function garbageStore(): Promise<{ kept: string[]; dropped: string[]; temp: string }> {
  const kept = await makeImage(dir, "localhost:5000/p/kept:v1");
  const dropped = await makeImage(dir, "localhost:5000/p/dropped:v1");
  await (await LayoutStore.open(dir)).untag("localhost:5000/p/dropped:v1");
  mkdirSync(join(dir, ".tmp"), { recursive: true });
  const dead = spawnSync("true").pid;
  const temp = `blob.tmp-${dead}-aa`;
  writeFileSync(join(dir, ".tmp", temp), "partial");
  await releaseWriterLock(dir); // this test process wrote to the store: it is no writer any more
  return { kept: kept.digests.map((d) => d.slice(7)), dropped: dropped.digests.map((d) => d.slice(7)), temp };
}

describe("gadget image prune", () => {
  it("--dry-run lists unreachable indexes before manifests before blobs, and removes nothing", async () => {
    const { kept, dropped, temp } = await garbageStore();
    const before = blobs();
    const r = await g("image", "prune", "--dry-run");
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const kinds = lines.filter((l) => l.startsWith("would remove")).map((l) => /would remove (unreachable \w+|stale temp file)/.exec(l)![1]);
    expect(kinds).toEqual(["unreachable index", "unreachable manifest", "unreachable manifest", "unreachable blob", "unreachable blob", "stale temp file"]);
    for (const d of dropped) if (!kept.includes(d)) expect(r.stdout).toContain(d);
    expect(r.stdout).toContain(`.tmp/${temp}`);
    expect(lines.at(-1)).toMatch(/^would free \d+(\.\d)? (B|KiB) \(6 items\)$/);
    expect(blobs()).toEqual(before);
    expect(existsSync(join(dir, ".tmp", temp))).toBe(true);
  });

  it("removes only the garbage; the store still lists, and fsck is clean", async () => {
    const { kept, dropped, temp } = await garbageStore();
    const r = await g("image", "prune", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { items: { name: string; bytes: number }[]; freed: number; dryRun: boolean };
    expect(report.dryRun).toBe(false);
    expect(report.items.length).toBe(6);
    expect(report.freed).toBe(report.items.reduce((n, i) => n + i.bytes, 0));
    expect(blobs()).toEqual([...kept].sort());
    for (const d of dropped) if (!kept.includes(d)) expect(blobs()).not.toContain(d);
    expect(existsSync(join(dir, ".tmp", temp))).toBe(false);
    const list = await g("image", "list");
    expect(list.stdout).toContain("p/kept");
    const fsck = await g("image", "fsck");
    expect(fsck.code).toBe(0);
    expect(fsck.stdout).toContain("ok (6 blobs verified)");
    // nothing left: a second prune frees nothing
    const again = await g("image", "prune");
    expect(again.stdout.trim()).toBe("freed 0 B (0 items)");
  });

  it("refuses while another gadget process is writing; a dry run still reports, with a note", async () => {
    await garbageStore();
    const before = blobs();
    const held = await acquireFileLock(join(dir, ".tmp", "writers.lock"), { shared: true, timeoutSeconds: 5 });
    try {
      const r = await g("image", "prune");
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/another gadget process is writing.*prune/s);
      expect(blobs()).toEqual(before);
      const dry = await g("image", "prune", "--dry-run");
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain("note: another gadget process is writing to the store");
      expect(dry.stdout).toMatch(/would free .* \(6 items\)/);
    } finally {
      await held.close();
    }
    expect((await g("image", "prune")).code).toBe(0);
    expect(blobs().length).toBe(6);
  });

  it("keeps unreachable blobs when a referenced manifest cannot be read", async () => {
    const { kept } = await garbageStore();
    // corrupt one of the kept image's manifests: what it references is unknown now
    const store = await LayoutStore.open(dir);
    const idx = JSON.parse((await store.readBlob(`sha256:${kept.at(-1)}` as never)).toString()) as { manifests: { digest: string }[] };
    const m = join(dir, "blobs", "sha256", idx.manifests[0]!.digest.slice(7));
    chmodSync(m, 0o644);
    writeFileSync(m, "{not json");
    await releaseWriterLock(dir);
    const before = blobs();
    const r = await g("image", "prune");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/note: kept 6 blob\(s\) no tag reaches/);
    expect(blobs()).toEqual(before);
  });

  it("a missing store is an error naming it", async () => {
    const r = await runGadget(["--oci-store", join(dir, "nope"), "image", "prune"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(join(dir, "nope"));
  });
});
