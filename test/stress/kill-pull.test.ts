import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { pushImage } from "../../core/image/push.js";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { runAndKill } from "../helpers/kill.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "../registry/fixtures.js";
import { ITERATIONS, LOOP_TIMEOUT, expectRepairable, expectStoreSound, seeded, tagNames, timeRun } from "./helpers.js";

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
let ref: string;
let pulledDigest: string;
let keep: Record<string, string>;
beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("gadget-kill-pull-");
  const src = join(tmp.dir, "src");
  ref = `${reg.host}/stress/pull:v1`;
  // 2 × 1.5 MiB layers so kills land mid-blob
  const img = await makeImage(src, ref, { layerSize: 1536 * 1024 });
  pulledDigest = img.index.digest;
  await pushImage({ storeDir: src, reference: ref, insecureRegistries: [reg.host] });
  store = join(tmp.dir, "store");
  const kept = await makeImage(store, "keep/me:v1", { layerSize: 8192 });
  keep = { "keep/me:v1": kept.index.digest };
  await releaseWriterLock(store);
  await releaseWriterLock(src);
}, 60_000);
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("kill -9 at random points during pull (real registry)", () => {
  it(`${ITERATIONS} iterations: fsck finds no problems, untouched tags resolve, the next pull works`, async () => {
    const { seed, rand } = seeded();
    const pullArgs = ["--oci-store", store, "image", "pull", ref, "--insecure-registries", reg.host];
    const rmArgs = ["--oci-store", store, "image", "rm", ref];
    const full = await timeRun(pullArgs);
    expect((await runGadget(rmArgs)).code).toBe(0);
    let killed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const r = await runAndKill(pullArgs, Math.floor(rand() * full * 1.1));
      if (r.killed) killed++;
      else expect(r.code, `seed ${seed} iteration ${i}: ${r.stderr}`).toBe(0);
      const ctx = `seed ${seed} iteration ${i} (${r.killed ? "killed" : "completed"})`;
      await expectStoreSound(store, keep, ctx);
      const tags = await tagNames(store);
      // the pulled tag is either absent or complete (fsck above verified every blob it reaches)
      expect(tags.filter((t) => t !== ref && t !== "ghcr.io/keep/me:v1"), ctx).toEqual([]);
      if (tags.includes(ref)) {
        await expectStoreSound(store, { [ref]: pulledDigest }, ctx);
        expect((await runGadget(rmArgs)).code).toBe(0);
      }
    }
    expect(killed, `seed ${seed}`).toBeGreaterThan(ITERATIONS / 4);
    const next = await runGadget(pullArgs);
    expect(next.code, next.stderr).toBe(0);
    // the next writer cleaned what the killed ones left in .tmp/
    expect((await readdir(join(store, ".tmp"))).filter((n) => n !== "writers.lock")).toEqual([]);
    await expectStoreSound(store, { ...keep, [ref]: pulledDigest }, `seed ${seed} after the loop`);
    await expectRepairable(store);
  }, LOOP_TIMEOUT);
});
