/**
 * Issue #19, defect 8: `gadget image export trace_open $STORE/index.json` replaced the store's
 * index with a tar — every tag gone. A destination inside the store (compared by real path, so
 * symlinks and `..` do not get around it) is refused before anything is written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, readdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
beforeAll(async () => {
  tmp = await tempDir("gadget-export-into-store-");
  store = join(tmp.dir, "store");
  const r = await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => tmp?.cleanup());

describe("image export into the store itself", () => {
  it("is refused for index.json, a blob path, the store folder, a path through a symlink and a ../ path; the store is untouched", async () => {
    const index = await readFile(join(store, "index.json"));
    const blobs = (await readdir(join(store, "blobs", "sha256"))).sort();
    await mkdir(join(tmp.dir, "elsewhere"), { recursive: true });
    await symlink(store, join(tmp.dir, "elsewhere", "store-link"));
    const destinations = [
      join(store, "index.json"),
      join(store, "blobs", "sha256", blobs[0]!),
      join(store, "new.tar"),
      join(store, ".tmp", "x.tar"),
      join(tmp.dir, "elsewhere", "store-link", "index.json"),
      join(tmp.dir, "elsewhere", "..", "store", "oci-layout"),
    ];
    for (const dest of destinations) {
      const r = await runGadget(["--oci-store", store, "image", "export", "trace_open", dest]);
      expect(r.code, `${dest}: ${r.stderr}`).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("Error:")), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/inside the OCI store/);
    }
    expect(await readFile(join(store, "index.json"))).toEqual(index);
    expect((await readdir(join(store, "blobs", "sha256"))).sort()).toEqual(blobs);
    const fsck = await runGadget(["--oci-store", store, "image", "fsck"]);
    expect(fsck.code, fsck.stdout).toBe(0);
    // beside the store is fine
    const ok = await runGadget(["--oci-store", store, "image", "export", "trace_open", join(tmp.dir, "trace_open.tar")]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
