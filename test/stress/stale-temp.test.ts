import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LayoutStore, releaseWriterLock } from "../../core/store/layout-store.js";
import { IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir("gadget-stale-");
});
afterAll(() => tmp?.cleanup());

/** A pid no process has (a child that has exited): its temp files are a dead writer's. */
const DEAD = spawnSync("true").pid;

async function plant(store: string): Promise<void> {
  await mkdir(join(store, ".tmp", `import-${DEAD}-deadbe`), { recursive: true });
  await writeFile(join(store, ".tmp", `import-${DEAD}-deadbe`, "blob"), "half");
  await writeFile(join(store, ".tmp", `blob.tmp-${DEAD}-abcdef`), "half a blob");
  await writeFile(join(store, ".tmp", `.index.json.tmp-${DEAD}-abcdef`), "{");
}
const leftovers = async (store: string) => (await readdir(join(store, ".tmp"))).filter((n) => n !== "writers.lock").sort();

describe("startup cleanup of temp files left by killed writers", () => {
  it("the next writer removes them; a reader does not; nobody does while another writer is active", async () => {
    const store = join(tmp.dir, "s");
    expect((await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR])).code).toBe(0);
    await plant(store);
    // tag is a writer (it resolves and tags under the locks): it cleans up first
    expect((await runGadget(["--oci-store", store, "image", "tag", "trace_open", "a:b"])).code).toBe(0);
    expect(await leftovers(store)).toEqual([]);
    await plant(store);
    // another writer active (this process): the import must not clean them (they may be its files)
    const s = await LayoutStore.open(store);
    await s.holdWriterLock(); // (it cleaned up as it started: plant again)
    await plant(store);
    expect((await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR])).code).toBe(0);
    expect(await leftovers(store)).toEqual([`blob.tmp-${DEAD}-abcdef`, `import-${DEAD}-deadbe`]);
    await releaseWriterLock(store);
    // no writer: the next import cleans up first
    expect((await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR])).code).toBe(0);
    expect(await leftovers(store)).toEqual([]);
    const fsck = await runGadget(["--oci-store", store, "image", "fsck"]);
    expect(fsck.code, fsck.stdout).toBe(0);
  });
});
