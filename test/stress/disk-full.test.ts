/**
 * Disk full: the store lives on a small tmpfs, filled up before the command runs. The command
 * must fail with one clean error line (ENOSPC / "no space left", naming the store), leave no
 * partial blob behind and index.json byte-for-byte unchanged. Needs root (mount).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, readdir, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pushImage } from "../../core/image/push.js";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { REPO_ROOT, runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "../registry/fixtures.js";
import { expectStoreSound } from "./helpers.js";

let mnt: string;
let mounted = false;
let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
let pullRef: string;
let tarFile: string;
beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the disk-full tests mount a tmpfs: run them as root");
  mnt = await mkdtemp(join(tmpdir(), "gadget-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]);
  mounted = true;
  reg = await startRegistry();
  tmp = await tempDir("gadget-diskfull-");
  const src = join(tmp.dir, "src");
  pullRef = `${reg.host}/full/pull:v1`;
  await makeImage(src, pullRef, { layerSize: 1024 * 1024 });
  await pushImage({ storeDir: src, reference: pullRef, insecureRegistries: [reg.host] });
  await makeImage(src, "full/import:v1", { layerSize: 1024 * 1024 });
  tarFile = join(tmp.dir, "import.tar");
  const ex = await runGadget(["--oci-store", src, "image", "export", "full/import:v1", tarFile]);
  expect(ex.code, ex.stderr).toBe(0);
  await releaseWriterLock(src);
}, 60_000);
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
  if (mounted) execFileSync("umount", [mnt]);
  await rm(mnt, { recursive: true, force: true });
});

/** A fresh store on the tmpfs with one image, then a filler file leaving about `free` bytes. */
async function fullStore(name: string, free: number): Promise<{ store: string; keep: Record<string, string>; filler: string }> {
  const store = join(mnt, name);
  const kept = await makeImage(store, "keep/me:v1", { layerSize: 4096 });
  await releaseWriterLock(store);
  const filler = join(mnt, `${name}.filler`);
  const fh = await open(filler, "w");
  const chunk = randomBytes(64 * 1024);
  try {
    for (;;) await fh.write(chunk);
  } catch (e) {
    expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
  }
  const size = (await fh.stat()).size;
  await fh.truncate(Math.max(0, size - free));
  await fh.close();
  return { store, keep: { "keep/me:v1": kept.index.digest }, filler };
}

async function snapshot(store: string): Promise<{ index: string; blobs: string[]; temps: string[] }> {
  return {
    index: await readFile(join(store, "index.json"), "utf8"),
    blobs: (await readdir(join(store, "blobs", "sha256"))).sort(),
    temps: (await readdir(join(store, ".tmp")).catch(() => [] as string[])).filter((n) => n !== "writers.lock").sort(),
  };
}

function expectCleanEnospc(r: RunResult, store: string): void {
  expect(r.code, r.stderr).toBe(1);
  // pull prints ig's status line ("Pulling X...") on stderr before the error
  const lines = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("hint:") && !/^Pulling .*\.\.\.$/.test(l));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^Error: /);
  expect(lines[0]).toMatch(/ENOSPC|no space left/i);
  expect(lines[0]).toContain(store);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

async function afterFailure(store: string, before: Awaited<ReturnType<typeof snapshot>>, keep: Record<string, string>, filler: string, completeGarbageOk = false): Promise<void> {
  const after = await snapshot(store);
  expect(after.index).toBe(before.index);
  if (completeGarbageOk) {
    // blobs written before the disk filled may stay as garbage, but each one whole and correct
    for (const hex of after.blobs.filter((b) => !before.blobs.includes(b))) {
      expect(createHash("sha256").update(await readFile(join(store, "blobs", "sha256", hex))).digest("hex"), `blob ${hex}`).toBe(hex);
    }
  } else {
    expect(after.blobs).toEqual(before.blobs);
  }
  expect(after.temps).toEqual(before.temps);
  await expectStoreSound(store, keep, "after ENOSPC");
  await unlink(filler);
}

describe("disk full (store on a 4 MiB tmpfs)", () => {
  it("mid-pull: one clean ENOSPC error naming the store, no partial blob, index unchanged", async () => {
    const { store, keep, filler } = await fullStore("pull", 512 * 1024);
    const before = await snapshot(store);
    const r = await runGadget(["--oci-store", store, "image", "pull", pullRef, "--insecure-registries", reg.host]);
    expectCleanEnospc(r, store);
    await afterFailure(store, before, keep, filler);
    // with space again, the same pull works
    const again = await runGadget(["--oci-store", store, "image", "pull", pullRef, "--insecure-registries", reg.host]);
    expect(again.code, again.stderr).toBe(0);
  });

  it("mid-import: one clean ENOSPC error naming the store, no partial blob, index unchanged", async () => {
    const { store, keep, filler } = await fullStore("import", 512 * 1024);
    const before = await snapshot(store);
    const r = await runGadget(["--oci-store", store, "image", "import", tarFile]);
    expectCleanEnospc(r, store);
    await afterFailure(store, before, keep, filler);
  });

  it("a tag on a full disk: one clean ENOSPC error naming the store, index.json unchanged, no temp file left", async () => {
    const { store, keep, filler } = await fullStore("tag", 0);
    const before = await snapshot(store);
    const r = await runGadget(["--oci-store", store, "image", "tag", "keep/me:v1", "another/tag:v1"]);
    expectCleanEnospc(r, store);
    await afterFailure(store, before, keep, filler);
  });

  it("mid-build: one clean ENOSPC error naming the store, no partial blob, index unchanged", async () => {
    const { store, keep, filler } = await fullStore("build", 24 * 1024);
    const before = await snapshot(store);
    const r = await runGadget(["--oci-store", store, "image", "build", join(REPO_ROOT, "examples", "count_syscall"), "-t", "full-build:v1"]);
    expectCleanEnospc(r, store);
    await afterFailure(store, before, keep, filler, true);
    const again = await runGadget(["--oci-store", store, "image", "build", join(REPO_ROOT, "examples", "count_syscall"), "-t", "full-build:v1"]);
    expect(again.code, again.stderr).toBe(0);
  });
});
