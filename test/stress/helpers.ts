/** Shared pieces of the kill -9 stress tests: iteration count, seeds, delays drawn from a command's real duration. */
import { expect } from "vitest";
import { fsck } from "../../core/store/fsck.js";
import { LayoutStore, refNameOf } from "../../core/store/layout-store.js";
import { runGadget } from "../helpers/cli.js";
import { prng } from "../helpers/kill.js";

export const ITERATIONS = Number(process.env.GADGET_STRESS_ITERATIONS ?? 50);
/** Per-test timeout of a kill loop: room for slow iterations when `npm run test:stress` raises the count. */
export const LOOP_TIMEOUT = Math.max(120_000, ITERATIONS * 4000);

export function seeded(): { seed: number; rand: () => number } {
  const seed = Number(process.env.GADGET_STRESS_SEED ?? Date.now() % 100000);
  return { seed, rand: prng(seed) };
}

/** Wall time of one uninterrupted run of `gadget args…` (must succeed). */
export async function timeRun(args: string[], env: Record<string, string> = {}, input?: string): Promise<number> {
  const t0 = Date.now();
  const r = await runGadget(args, { env, input });
  expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
  return Date.now() - t0;
}

/** fsck finds no problems (garbage is allowed) and the given tags resolve to the given digests. */
export async function expectStoreSound(dir: string, tags: Record<string, string>, context: string): Promise<void> {
  const report = await fsck(dir);
  expect(report.problems, context).toEqual([]);
  const store = await LayoutStore.open(dir, { create: false });
  for (const [tag, digest] of Object.entries(tags)) expect((await store.resolve(tag)).digest, `${context}: ${tag}`).toBe(digest);
}

export async function tagNames(dir: string): Promise<string[]> {
  const store = await LayoutStore.open(dir, { create: false });
  return (await store.entries()).map(refNameOf).filter((n): n is string => n !== undefined).sort();
}

/** After the loop: the next command works and fsck --repair leaves a clean store. */
export async function expectRepairable(dir: string): Promise<void> {
  const repaired = await runGadget(["--oci-store", dir, "image", "fsck", "--repair"]);
  expect(repaired.stdout + repaired.stderr).not.toContain("problem");
  const clean = await runGadget(["--oci-store", dir, "image", "fsck"]);
  expect(clean.code, clean.stdout + clean.stderr).toBe(0);
}
