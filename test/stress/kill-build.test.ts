import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { REPO_ROOT, runGadget, tempDir } from "../helpers/cli.js";
import { runAndKill } from "../helpers/kill.js";
import { makeImage } from "../registry/fixtures.js";
import { ITERATIONS, LOOP_TIMEOUT, expectRepairable, expectStoreSound, seeded, tagNames, timeRun } from "./helpers.js";

const EXAMPLE = join(REPO_ROOT, "examples", "count_syscall");
const TAG = "ghcr.io/inspektor-gadget/gadget/stress-build:v1";

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
let keep: Record<string, string>;
beforeAll(async () => {
  tmp = await tempDir("gadget-kill-build-");
  store = join(tmp.dir, "store");
  const kept = await makeImage(store, "keep/me:v1", { layerSize: 8192 });
  keep = { "keep/me:v1": kept.index.digest };
  await releaseWriterLock(store);
});
afterAll(() => tmp?.cleanup());

describe("kill -9 at random points during image build (examples/count_syscall)", () => {
  it(`${ITERATIONS} iterations: fsck finds no problems, untouched tags resolve, the next build works`, async () => {
    const { seed, rand } = seeded();
    const buildArgs = ["--oci-store", store, "image", "build", EXAMPLE, "-t", "stress-build:v1"];
    const rmArgs = ["--oci-store", store, "image", "rm", "stress-build:v1"];
    const full = await timeRun(buildArgs);
    expect((await runGadget(rmArgs)).code).toBe(0);
    let killed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const r = await runAndKill(buildArgs, Math.floor(rand() * full * 1.1));
      if (r.killed) killed++;
      else expect(r.code, `seed ${seed} iteration ${i}: ${r.stderr}`).toBe(0);
      const ctx = `seed ${seed} iteration ${i} (${r.killed ? "killed" : "completed"})`;
      await expectStoreSound(store, keep, ctx);
      const tags = await tagNames(store);
      expect(tags.filter((t) => t !== TAG && t !== "ghcr.io/keep/me:v1"), ctx).toEqual([]);
      if (tags.includes(TAG)) expect((await runGadget(rmArgs)).code).toBe(0);
    }
    expect(killed, `seed ${seed}`).toBeGreaterThan(ITERATIONS / 4);
    const next = await runGadget(buildArgs);
    expect(next.code, next.stderr).toBe(0);
    // the next writer cleaned what the killed ones left in .tmp/
    expect((await readdir(join(store, ".tmp"))).filter((n) => n !== "writers.lock")).toEqual([]);
    expect(await tagNames(store)).toEqual(["ghcr.io/keep/me:v1", TAG].sort());
    await expectStoreSound(store, keep, `seed ${seed} after the loop`);
    await expectRepairable(store);
  }, LOOP_TIMEOUT);
});
