/**
 * Remote cache benchmark (issue 13), whole `bin/gadget` processes against a local docker-registry,
 * alternating in each round (median of GADGET_BENCH_REMOTE_RUNS, default 5):
 *   A  cold build of G realistic CO-RE gadgets (empty .gadget/, empty store, a fresh cache repository)
 *      that writes its entries to the remote cache;
 *   B  the same build from a copy at another path with an empty .gadget/ and store: every step a
 *      remote hit (goal: ≤ 0.25 × A);
 *   B' B again: every step a local hit (the no-op floor).
 * G = GADGET_BENCH_REMOTE_GADGETS (default 10). Prints figures; never asserts on timing.
 */
import { it, expect } from "vitest";
import { cp, rm } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { GADGET_BIN, runCommand, tempDir } from "../helpers/cli.js";
import { startRegistry } from "../helpers/registry.js";
import { writeCoreRepo } from "./core-gadget.js";

const RUNS = Math.max(1, Number(process.env.GADGET_BENCH_REMOTE_RUNS ?? 5));
const GADGETS = Math.max(1, Number(process.env.GADGET_BENCH_REMOTE_GADGETS ?? 10));
const GOAL = 0.25;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One `gadget run` (async: the registry's log pipe is read by this process and must keep flowing). */
async function run(cwd: string, store: string, cache: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string; stderr: string }> {
  const t0 = performance.now();
  const r = await runCommand(process.execPath, [GADGET_BIN, "run", "--json", "--oci-store", store, "--remote-cache", cache], { cwd, env, timeoutMs: 600_000 });
  const ms = performance.now() - t0;
  expect(r.code, r.stderr).toBe(0);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

it("remote cache: checkout B (all remote hits) vs checkout A's cold build, and vs a local no-op run", async () => {
  const { dir, cleanup } = await tempDir("gadget-bench-remote-");
  const reg = await startRegistry();
  try {
    const template = join(dir, "template");
    await writeCoreRepo(template, GADGETS, "remote");
    const env = { ...process.env, SOURCE_DATE_EPOCH: "1700000000", GADGET_INSECURE_REGISTRIES: reg.host };

    const cold: number[] = [];
    const remote: number[] = [];
    const noop: number[] = [];
    for (let round = 0; round < RUNS; round++) {
      const cache = `${reg.host}/bench/round${round}`;
      const a = join(dir, `a${round}`);
      const b = join(dir, `b${round}`);
      await cp(template, a, { recursive: true });
      await cp(template, b, { recursive: true });
      const ra = await run(a, join(dir, `a${round}-store`), cache, env);
      cold.push(ra.ms);
      const rb = await run(b, join(dir, `b${round}-store`), cache, env);
      remote.push(rb.ms);
      const jb = JSON.parse(rb.stdout) as { cache: { remoteHits: number; misses: number }; gadgets: { digest: string }[] };
      expect(jb.cache.misses, rb.stderr).toBe(0);
      expect(jb.cache.remoteHits).toBeGreaterThan(0);
      expect(jb.gadgets.map((g) => g.digest)).toEqual((JSON.parse(ra.stdout) as { gadgets: { digest: string }[] }).gadgets.map((g) => g.digest));
      noop.push((await run(b, join(dir, `b${round}-store`), cache, env)).ms);
      await rm(a, { recursive: true, force: true });
    }
    const A = median(cold);
    const B = median(remote);
    const N0 = median(noop);
    const ratio = B / A;
    console.log(
      `remote cache bench (${GADGETS} CO-RE gadgets, amd64; median of ${RUNS}; ${availableParallelism()} CPUs, load average ${loadavg()[0]!.toFixed(1)}):\n` +
        `  B all remote hits ${B.toFixed(0)} ms | A cold build ${A.toFixed(0)} ms | ratio ${ratio.toFixed(2)} | goal ≤ ${GOAL} | met: ${ratio <= GOAL ? "yes" : "no"}\n` +
        `  B all remote hits ${B.toFixed(0)} ms | B' local no-op ${N0.toFixed(0)} ms | ratio ${(B / N0).toFixed(2)} (the registry's share: ${(B - N0).toFixed(0)} ms)\n` +
        `  runs: A ${cold.map((x) => x.toFixed(0)).join("/")}, B ${remote.map((x) => x.toFixed(0)).join("/")}, B' ${noop.map((x) => x.toFixed(0)).join("/")}`,
    );
    expect(A).toBeGreaterThan(0);
  } finally {
    await reg.stop();
    await cleanup();
  }
});
