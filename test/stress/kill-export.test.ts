import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { runAndKill } from "../helpers/kill.js";
import { makeImage } from "../registry/fixtures.js";
import { ITERATIONS, LOOP_TIMEOUT, seeded, timeRun } from "./helpers.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
beforeAll(async () => {
  tmp = await tempDir("gadget-kill-export-");
  store = join(tmp.dir, "store");
  await makeImage(store, "stress/export:v1", { layerSize: 1536 * 1024 });
  await releaseWriterLock(store);
});
afterAll(() => tmp?.cleanup());

describe("kill -9 at random points during export", () => {
  it(`${ITERATIONS} iterations: the output is absent or the complete archive (never half-written); temp files are swept`, async () => {
    const { seed, rand } = seeded();
    const outDir = join(tmp.dir, "out");
    const out = join(outDir, "image.tar");
    const args = ["--oci-store", store, "image", "export", "stress/export:v1", out];
    await mkdir(outDir);
    const full = await timeRun(args);
    // export is deterministic: every complete run writes these exact bytes
    const reference = await readFile(out);
    let killed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      await rm(out, { force: true });
      const r = await runAndKill(args, Math.floor(rand() * full * 1.1));
      if (r.killed) killed++;
      else expect(r.code, `seed ${seed} iteration ${i}: ${r.stderr}`).toBe(0);
      const now = await readFile(out).catch(() => undefined);
      if (now !== undefined) expect(now.equals(reference), `seed ${seed} iteration ${i}: ${out} is not the complete archive`).toBe(true);
      else expect(r.killed, `seed ${seed} iteration ${i}: a completed export left no file`).toBe(true);
    }
    expect(killed, `seed ${seed}`).toBeGreaterThan(ITERATIONS / 4);
    const next = await runGadget(args);
    expect(next.code, next.stderr).toBe(0);
    expect((await readFile(out)).equals(reference)).toBe(true);
    // the temp files of killed exports are gone after the next export to the same file
    expect(await readdir(outDir)).toEqual(["image.tar"]);
  }, LOOP_TIMEOUT);
});
