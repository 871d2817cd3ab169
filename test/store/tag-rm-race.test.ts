/**
 * Issue #19, defect 5: `image tag` resolved its source before taking the index lock (and took
 * no writer lock), so an `image rm` landing in between removed the image and its blobs, and
 * the tag then wrote an entry pointing at nothing (5 runs in 10). The source is now resolved
 * and the tag written under the index lock, as a writer: the loser of the race fails "not found".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fsck } from "../../core/store/fsck.js";
import { writeFileAtomic } from "../../core/store/atomic.js";
import { LayoutStore, LOCK_FILE, refNameOf } from "../../core/store/layout-store.js";
import { acquireFileLock } from "../../core/store/lock.js";
import { GADGET_BIN, IG_FIXTURE_TAR, runGadget, tempDir, type RunResult } from "../helpers/cli.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir("gadget-tag-rm-race-");
});
afterAll(() => tmp?.cleanup());

async function freshStore(name: string): Promise<string> {
  const store = join(tmp.dir, name);
  const r = await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR]);
  expect(r.code, r.stderr).toBe(0);
  return store;
}

/** A `flock -x -w …` child of pid: the process is waiting for an exclusive lock (the index lock). */
async function waitingForExclusiveLock(pid: number): Promise<boolean> {
  const kids = (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "")).split(/\s+/).filter(Boolean);
  for (const k of kids) {
    const argv = (await readFile(`/proc/${k}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv[0]?.endsWith("flock") && argv.includes("-x") && argv.includes("-w")) return true;
  }
  return false;
}

function start(args: string[]): { pid: number; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [GADGET_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<RunResult>((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return { pid: child.pid!, done };
}

describe("image tag racing image rm", () => {
  it("an rm that lands while tag waits for the index lock makes tag fail 'not found' — never a tag without blobs", async () => {
    const store = await freshStore("deterministic");
    const lock = await acquireFileLock(join(store, LOCK_FILE));
    let tag: ReturnType<typeof start>;
    try {
      tag = start(["--oci-store", store, "image", "tag", "trace_open", "copy:v1"]);
      const t0 = Date.now();
      while (!(await waitingForExclusiveLock(tag.pid))) {
        if (Date.now() - t0 > 20_000) throw new Error("image tag never waited for the index lock");
        await new Promise((r) => setTimeout(r, 20));
      }
      // now, holding the index lock, do exactly what `image rm trace_open` does under it
      const s = await LayoutStore.open(store);
      const entries = await s.entries();
      const target = entries.find((e) => refNameOf(e)?.endsWith("trace_open:latest"))!;
      const doomed = await s.reachable([target]);
      await writeFileAtomic(join(store, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: entries.filter((e) => e !== target) }));
      for (const d of doomed.keys()) await s.deleteBlob(d);
    } finally {
      await lock.close();
    }
    const r = await tag!.done;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/not found/);
    const report = await fsck(store);
    expect(report.problems).toEqual([]);
    expect((await (await LayoutStore.open(store)).entries()).map(refNameOf).filter((n) => n?.endsWith("/copy:v1"))).toEqual([]);
  }, 60_000);

  it("real tag and rm processes started together: either order, the store stays sound", async () => {
    const store = await freshStore("real");
    for (let i = 0; i < 6; i++) {
      if (i > 0) expect((await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR])).code).toBe(0);
      const [tag, rm] = await Promise.all([
        runGadget(["--oci-store", store, "image", "tag", "trace_open", `copy:v${i}`]),
        runGadget(["--oci-store", store, "image", "rm", "trace_open"]),
      ]);
      expect(rm.code, rm.stderr).toBe(0);
      if (tag.code !== 0) expect(tag.stderr, `iteration ${i}`).toMatch(/not found/);
      const report = await fsck(store);
      expect(report.problems, `iteration ${i}: tag exit ${tag.code}`).toEqual([]);
      const s = await LayoutStore.open(store);
      if (tag.code === 0) expect((await s.resolve(`copy:v${i}`)).digest).toMatch(/^sha256:/);
    }
  }, 120_000);
});
