import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fsck } from "../../core/store/fsck.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";
import { prng, runAndKill } from "../helpers/kill.js";

const ITERATIONS = Number(process.env.GADGET_STRESS_ITERATIONS ?? 50);

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-kill-"));
  execFileSync("tar", ["xf", IG_FIXTURE_TAR, "-C", dir]);
  // a tag that nothing below touches
  expect((await runGadget(["--oci-store", dir, "image", "tag", "trace_open", "keep:me"])).code).toBe(0);
});
afterAll(() => cleanup());

describe("kill -9 at random points during tag and rm", () => {
  it(`${ITERATIONS} iterations: fsck finds no problems, untouched tags resolve, the next command works`, async () => {
    const seed = Number(process.env.GADGET_STRESS_SEED ?? Date.now() % 100000);
    const rand = prng(seed);
    let killedCount = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const op = rand() < 0.6 ? ["image", "tag", "trace_open", `victim:v${i % 5}`] : ["image", "rm", `victim:v${i % 5}`];
      const r = await runAndKill(["--oci-store", dir, ...op], Math.floor(rand() * 160));
      if (r.killed) killedCount++;
      const report = await fsck(dir);
      expect(report.problems, `seed ${seed} iteration ${i}: ${op.join(" ")}`).toEqual([]);
      const store = await LayoutStore.open(dir);
      expect((await store.resolve("keep:me")).digest).toBe(IG_FIXTURE_INDEX_DIGEST);
      expect((await store.resolve("trace_open")).digest).toBe(IG_FIXTURE_INDEX_DIGEST);
    }
    // some runs must really have been killed mid-way for this to mean anything
    expect(killedCount).toBeGreaterThan(ITERATIONS / 4);
    const next = await runGadget(["--oci-store", dir, "image", "tag", "trace_open", "after:all"]);
    expect(next.code).toBe(0);
    const repaired = await runGadget(["--oci-store", dir, "image", "fsck", "--repair"]);
    expect(repaired.stdout).not.toContain("problem:");
    expect((await runGadget(["--oci-store", dir, "image", "fsck"])).code).toBe(0);
  });
});
