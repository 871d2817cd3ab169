/**
 * Issue #19, defect 2: every writer's startup cleanup (and `fsck --repair`) deleted every entry
 * of `<store>/.tmp` except writers.lock — through a symlinked `.tmp` (any local user can plant
 * one in a store created under umask 000) and including files that were never gadget's. Now:
 * store folders get explicit modes whatever the umask; `.tmp` is lstat'ed and a symlink or a
 * folder owned by someone else is refused; only gadget's own temp names whose writer is gone
 * are deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { classifyTemps, openTempDir } from "../../core/store/temp-dir.js";
import { GADGET_BIN, IG_FIXTURE_TAR, REPO_ROOT, runGadget, tempDir } from "../helpers/cli.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
/** A pid that certainly belongs to no process: a child that has exited. */
let deadPid: number;
beforeAll(async () => {
  tmp = await tempDir("gadget-tmp-safety-");
  deadPid = spawnSync("true").pid!;
});
afterAll(() => tmp?.cleanup());

async function importedStore(name: string): Promise<string> {
  const store = join(tmp.dir, name);
  const r = await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR]);
  expect(r.code, r.stderr).toBe(0);
  return store;
}

const ls = async (dir: string) => (await readdir(dir)).sort();
const errorLines = (s: string) => s.split("\n").filter((l) => l.startsWith("Error:"));

describe("the store's .tmp folder", () => {
  it("a symlinked .tmp is refused by writers and fsck --repair; nothing where it points is deleted", async () => {
    const store = await importedStore("linked");
    const victim = join(tmp.dir, "victim");
    await mkdir(victim);
    const own = `blob.tmp-${deadPid}-abcdefabcdef`; // even a name gadget would call its own
    await writeFile(join(victim, "notes.txt"), "precious");
    await writeFile(join(victim, own), "not gadget's");
    await rm(join(store, ".tmp"), { recursive: true, force: true });
    await symlink(victim, join(store, ".tmp"));

    for (const args of [
      ["image", "import", IG_FIXTURE_TAR],
      ["image", "tag", "trace_open", "other:v1"],
    ]) {
      const r = await runGadget(["--oci-store", store, ...args]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(1);
      expect(errorLines(r.stderr), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/\.tmp.*symbolic link/);
      expect(await ls(victim), args.join(" ")).toEqual([own, "notes.txt"].sort());
    }
    const fsck = await runGadget(["--oci-store", store, "image", "fsck", "--repair"]);
    expect(fsck.code).toBe(1);
    expect(fsck.stdout).toMatch(/problem: .*\.tmp.*symbolic link/);
    expect(await ls(victim)).toEqual([own, "notes.txt"].sort());
  });

  it("only gadget's own temp names whose writer is gone are deleted, by a writer's startup and by fsck --repair", async () => {
    const store = await importedStore("mixed");
    const t = join(store, ".tmp");
    const plant = async () => {
      await writeFile(join(t, "notes.txt"), "someone else's");
      await writeFile(join(t, `blob.tmp-${deadPid}-abcdefabcdef`), "half a blob");
      await writeFile(join(t, `.index.json.tmp-${deadPid}-abcdefabcdef`), "{");
      await mkdir(join(t, `import-${deadPid}-Ab12Cd`), { recursive: true });
      await writeFile(join(t, `import-${deadPid}-Ab12Cd`, "blob"), "staged");
      await writeFile(join(t, `blob.tmp-${process.pid}-abcdefabcdef`), "a live writer's");
      await mkdir(join(t, "my-folder"), { recursive: true });
    };
    const kept = ["my-folder", "notes.txt", `blob.tmp-${process.pid}-abcdefabcdef`, "writers.lock"].sort();
    await plant();
    const r = await runGadget(["--oci-store", store, "image", "tag", "trace_open", "copy:v1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await ls(t)).toEqual(kept);

    await plant();
    const report = await runGadget(["--oci-store", store, "image", "fsck"]);
    expect(report.stdout).toContain(`garbage: stale temp file: .tmp/blob.tmp-${deadPid}-abcdefabcdef`);
    expect(report.stdout).not.toMatch(/garbage: .*notes\.txt/);
    expect(report.stdout).toMatch(/\.tmp\/notes\.txt.*left alone/);
    const fix = await runGadget(["--oci-store", store, "image", "fsck", "--repair"]);
    expect(fix.stdout).not.toContain("problem:");
    expect(await ls(t)).toEqual(kept);
  });

  it("folders are created with explicit modes under umask 000 (store 0700 as ig, .tmp 0700, files 0644, blobs 0444)", async () => {
    const store = join(tmp.dir, "umask0");
    const r = spawnSync("sh", ["-c", `umask 000 && exec "$0" "$@"`, process.execPath, GADGET_BIN, "--oci-store", store, "image", "import", IG_FIXTURE_TAR], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const mode = async (p: string) => ((await stat(join(store, p))).mode & 0o777).toString(8);
    expect({
      root: await mode("."),
      blobs: await mode("blobs"),
      sha256: await mode("blobs/sha256"),
      tmp: await mode(".tmp"),
      index: await mode("index.json"),
      layout: await mode("oci-layout"),
      lock: await mode(".tmp/writers.lock"),
    }).toEqual({ root: "700", blobs: "755", sha256: "755", tmp: "700", index: "644", layout: "644", lock: "644" }); // the root 0700 as ig's
    for (const b of await readdir(join(store, "blobs", "sha256"))) expect(await mode(`blobs/sha256/${b}`)).toBe("444");
  });

  it("a .tmp owned by another user, or not a folder, is refused; foreign-owned entries are never ours", async () => {
    const dir = join(tmp.dir, "owner", ".tmp");
    await openTempDir(dir);
    const me = process.geteuid!();
    await expect(openTempDir(dir, me + 1)).rejects.toThrow(/owned by uid \d+, not by this user/);
    await writeFile(join(tmp.dir, "owner", "file-tmp"), "x");
    await expect(openTempDir(join(tmp.dir, "owner", "file-tmp"))).rejects.toThrow(/not a folder/);
    await writeFile(join(dir, `blob.tmp-${deadPid}-abcdefabcdef`), "x");
    expect((await classifyTemps(dir, [], me)).stale).toEqual([`blob.tmp-${deadPid}-abcdefabcdef`]);
    expect(await classifyTemps(dir, [], me + 1)).toEqual({ stale: [], live: [], foreign: [`blob.tmp-${deadPid}-abcdefabcdef`] });
  });
});
