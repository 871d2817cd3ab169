import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { runAndKill } from "../helpers/kill.js";
import { makeImage } from "../registry/fixtures.js";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { ITERATIONS, LOOP_TIMEOUT, expectRepairable, expectStoreSound, seeded, timeRun } from "./helpers.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
let tarFile: string;
let keep: Record<string, string>;
let importedDigest: string;
beforeAll(async () => {
  tmp = await tempDir("gadget-kill-import-");
  store = join(tmp.dir, "store");
  // a bigger archive than the ig fixture (2 × 1.5 MiB layers) so kills land mid-copy
  const src = join(tmp.dir, "src");
  const big = await makeImage(src, "stress/import:big", { layerSize: 1536 * 1024 });
  importedDigest = big.index.digest;
  tarFile = join(tmp.dir, "big.tar");
  const ex = await runGadget(["--oci-store", src, "image", "export", "stress/import:big", tarFile]);
  expect(ex.code, ex.stderr).toBe(0);
  // pre-existing tags nothing below touches
  const kept = await makeImage(store, "keep/me:v1", { layerSize: 8192 });
  keep = { "keep/me:v1": kept.index.digest };
  // this process wrote blobs: drop its writers lock so fsck --repair may run later
  await releaseWriterLock(store);
  await releaseWriterLock(src);
}, 60_000);
afterAll(() => tmp?.cleanup());

describe("kill -9 at random points during import", () => {
  it(`${ITERATIONS} iterations: fsck finds no problems, untouched tags resolve, the next import works`, async () => {
    const { seed, rand } = seeded();
    const importArgs = ["--oci-store", store, "image", "import", tarFile];
    const full = await timeRun(importArgs);
    const rmArgs = ["--oci-store", store, "image", "rm", "stress/import:big"];
    expect((await runGadget(rmArgs)).code).toBe(0);
    let killed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const r = await runAndKill(importArgs, Math.floor(rand() * full * 1.1));
      if (r.killed) killed++;
      else expect(r.code, `seed ${seed} iteration ${i}: ${r.stderr}`).toBe(0);
      const ctx = `seed ${seed} iteration ${i} (${r.killed ? "killed" : "completed"})`;
      await expectStoreSound(store, keep, ctx);
      // either the import completed (tag → the archive's index) or the tag is absent
      const tags = await runGadget(["--oci-store", store, "image", "list", "-o", "json", "--no-trunc"]);
      const listed = (JSON.parse(tags.stdout) as { Repository: string; Tag: string; Digest: string }[]).filter((t) => t.Repository.endsWith("stress/import"));
      if (listed.length > 0) {
        expect(listed[0]!.Digest, ctx).toBe(importedDigest);
        // rm is not killed here: each iteration starts without the image so the copy really happens
        expect((await runGadget(rmArgs)).code).toBe(0);
      }
    }
    expect(killed, `seed ${seed}`).toBeGreaterThan(ITERATIONS / 4);
    const next = await runGadget(importArgs);
    expect(next.code, next.stderr).toBe(0);
    // the next writer cleaned what the killed ones left in .tmp/
    expect((await readdir(join(store, ".tmp"))).filter((n) => n !== "writers.lock")).toEqual([]);
    await expectStoreSound(store, { ...keep, "stress/import:big": importedDigest }, `seed ${seed} after the loop`);
    await expectRepairable(store);
  }, LOOP_TIMEOUT);
});
