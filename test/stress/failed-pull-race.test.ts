/**
 * A failed pull cleans up the blobs it wrote — but never one a concurrent writer already found
 * present and is about to tag. Timed with a fault-injecting registry (slow and bad blobs).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fsck } from "../../core/store/fsck.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { sha, startFakeRegistry, type FakeRegistry } from "../hostile/fake-registry.js";

const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const LAYER = "application/vnd.gadget.ebpf.program.v1+binary";
let reg: FakeRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  reg = await startFakeRegistry();
  tmp = await tempDir("gadget-failed-pull-");
});
afterAll(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a failed pull beside a concurrent pull sharing a blob", () => {
  it("the failing pull's cleanup does not delete the shared blob the other pull is about to tag", async () => {
    const config = Buffer.from("name: race\n");
    const shared = randomBytes(64 * 1024);
    const bad = randomBytes(32 * 1024);
    const slow = randomBytes(32 * 1024);
    const d = (mediaType: string, b: Buffer) => ({ mediaType, digest: sha(b), size: b.length });
    const manifest = (layers: Buffer[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: d("application/vnd.gadget.config.v1+yaml", config), layers: layers.map((l) => d(LAYER, l)) }));
    const a = manifest([shared, bad]);
    const b = manifest([shared, slow]);
    for (const [tag, m] of [["a", a], ["b", b]] as const) {
      reg.manifests.set(tag, { mediaType: MANIFEST, bytes: m });
      reg.manifests.set(sha(m), { mediaType: MANIFEST, bytes: m });
    }
    reg.blobs.set(sha(config), { bytes: config });
    reg.blobs.set(sha(shared), { bytes: shared });
    reg.blobs.set(sha(slow), { bytes: slow });
    // A: the bad layer arrives late and with other bytes (digest mismatch, no retry helps)
    reg.blobs.set(sha(bad), { bytes: randomBytes(bad.length) });
    reg.override = async (req) => {
      if (req.url?.includes(sha(bad).slice(7))) await sleep(1200);
      if (req.url?.includes(sha(slow).slice(7))) await sleep(2500);
      return false;
    };
    const store = join(tmp.dir, "store");
    const args = (tag: string) => ["--oci-store", store, "image", "pull", `${reg.host}/race/img:${tag}`, "--insecure-registries", reg.host];
    const pa = runGadget(args("a"));
    await sleep(700); // A has written the shared blob by now
    const pb = runGadget(args("b"));
    const [ra, rb] = await Promise.all([pa, pb]);
    expect(ra.code, ra.stderr).toBe(1);
    expect(ra.stderr).toMatch(/digest/i);
    expect(rb.code, rb.stderr).toBe(0);
    const report = await fsck(store);
    expect(report.problems).toEqual([]);
    // and the image B tagged can be read back whole
    expect((await runGadget(["--oci-store", store, "image", "export", `${reg.host}/race/img:b`, join(tmp.dir, "b.tar")])).code).toBe(0);
  }, 60_000);
});
