/**
 * Hostile graphs: oversized manifests/indexes (from a registry and in the store), deep nesting,
 * cycles (a registry answering a digest with other bytes), absurd declared sizes. Every case
 * must end quickly with one clean error line and leave the store as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GadgetError } from "../../core/errors.js";
import type { Digest } from "../../core/oci/digest.js";
import type { Descriptor } from "../../core/oci/model.js";
import { fsck } from "../../core/store/fsck.js";
import { LayoutStore, releaseWriterLock } from "../../core/store/layout-store.js";
import { runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { makeImage } from "../registry/fixtures.js";
import { sha, startFakeRegistry, type FakeRegistry } from "./fake-registry.js";

const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const MiB = 1024 * 1024;

let reg: FakeRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  reg = await startFakeRegistry();
  tmp = await tempDir("gadget-hostile-graph-");
});
afterAll(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

const desc = (mediaType: string, bytes: Buffer | string, size?: number): Descriptor => ({ mediaType, digest: sha(bytes) as Digest, size: size ?? Buffer.byteLength(bytes) });
const indexOf = (manifests: object[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));
const config = Buffer.from("name: hostile\n");
const manifestOf = (layers: object[]) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: desc("application/vnd.gadget.config.v1+yaml", config), layers }));

/** One `Error:` line (plus an optional hint), exit 1, no stack trace. */
function expectCleanError(r: RunResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  // pull prints ig's status line ("Pulling X...") on stderr before the error
  const lines = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("hint:") && !/^Pulling .*\.\.\.$/.test(l));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^Error: /);
  expect(lines[0]).toMatch(pattern);
}

async function pullInto(name: string, tag: string): Promise<{ r: RunResult; store: string; ms: number }> {
  const store = join(tmp.dir, `pull-${name}`);
  const t0 = Date.now();
  const r = await runGadget(["--oci-store", store, "image", "pull", `${reg.host}/${name}:${tag}`, "--insecure-registries", reg.host], { timeoutMs: 30_000 });
  return { r, store, ms: Date.now() - t0 };
}

async function expectNothingStored(store: string): Promise<void> {
  const idx = await readFile(join(store, "index.json"), "utf8").catch(() => undefined);
  if (idx !== undefined) expect(JSON.parse(idx).manifests ?? []).toEqual([]);
  expect(await readdir(join(store, "blobs", "sha256")).catch(() => [])).toEqual([]);
}

describe("hostile registries (pull)", () => {
  it("a root index over 4 MiB (streamed without a length) is refused after 4 MiB, not read to the end", async () => {
    let sent = 0;
    reg.manifests.set("v1", {
      mediaType: INDEX,
      bytes: async function* () {
        yield Buffer.from('{"schemaVersion":2,"manifests":[],"pad":"');
        for (let i = 0; i < 64; i++) {
          sent += MiB;
          yield Buffer.alloc(MiB, 0x61);
        }
        yield Buffer.from('"}');
      },
    });
    const { r, store, ms } = await pullInto("big/index", "v1");
    expectCleanError(r, /4194304|4 MiB|too large|larger than/i);
    expect(sent).toBeLessThan(32 * MiB);
    expect(ms).toBeLessThan(15_000);
    await expectNothingStored(store);
  });

  it("an index listing a 5 MiB manifest, or one of 2^50 bytes, fails before fetching it", async () => {
    for (const [name, size] of [["five", 5 * MiB], ["absurd", 2 ** 50]] as const) {
      const child = { mediaType: MANIFEST, digest: sha(name), size, platform: { architecture: "amd64", os: "linux" } };
      const idx = indexOf([child]);
      reg.manifests.set(`${name}`, { mediaType: INDEX, bytes: idx });
      reg.manifests.set(sha(idx), { mediaType: INDEX, bytes: idx });
      const { r, store, ms } = await pullInto(`declared/${name}`, name);
      expectCleanError(r, /4194304|too large|larger than/i);
      expect(ms).toBeLessThan(15_000);
      expect(reg.requests.filter((q) => q.url.includes(child.digest) && q.method === "GET")).toEqual([]);
      await expectNothingStored(store);
    }
  });

  it("a manifest listing a layer of 2^50 bytes fails fast on the short body, without allocating it", async () => {
    const layerBytes = randomBytes(16);
    const layer = { ...desc("application/vnd.gadget.ebpf.program.v1+binary", layerBytes), size: 2 ** 50 };
    const m = manifestOf([layer]);
    reg.manifests.set("huge-layer", { mediaType: MANIFEST, bytes: m });
    reg.manifests.set(sha(m), { mediaType: MANIFEST, bytes: m });
    reg.blobs.set(sha(config), { bytes: config });
    reg.blobs.set(layer.digest, { bytes: layerBytes });
    const { r, store, ms } = await pullInto("absurd/layer", "huge-layer");
    expectCleanError(r, /size|bytes|mismatch|truncated|too large|larger than/i);
    expect(r.stderr).not.toMatch(/RangeError|Array buffer allocation|heap/i);
    expect(ms).toBeLessThan(15_000);
    // nothing tagged; at most the (complete, verified) config blob was written and then cleaned up
    const idx = await readFile(join(store, "index.json"), "utf8").catch(() => '{"manifests":[]}');
    expect(JSON.parse(idx).manifests ?? []).toEqual([]);
    expect(await readdir(join(store, "blobs", "sha256")).catch(() => [])).not.toContain(layer.digest.slice(7));
  });

  it("indexes nested 12 deep are refused with a clear error", async () => {
    let child: { mediaType: string; digest: string; size: number } = desc(MANIFEST, manifestOf([]));
    reg.manifests.set(child.digest, { mediaType: MANIFEST, bytes: manifestOf([]) });
    let top = Buffer.alloc(0);
    for (let i = 0; i < 12; i++) {
      top = indexOf([child]);
      reg.manifests.set(sha(top), { mediaType: INDEX, bytes: top });
      child = desc(INDEX, top);
    }
    reg.manifests.set("deep", { mediaType: INDEX, bytes: top });
    const { r, store } = await pullInto("deep/nest", "deep");
    expectCleanError(r, /nested|deep/i);
    await expectNothingStored(store);
  });

  it("a cycle (the registry answers a child digest with the parent's bytes) ends with a digest error, not a loop", async () => {
    const fakeChild = { mediaType: INDEX, digest: sha("the child"), size: 0 };
    let parent2 = indexOf([fakeChild]);
    // sizes agree (only the digest can tell): iterate until the declared size is the real one
    while (fakeChild.size !== parent2.length) {
      fakeChild.size = parent2.length;
      parent2 = indexOf([fakeChild]);
    }
    reg.manifests.set("cycle", { mediaType: INDEX, bytes: parent2 });
    reg.manifests.set(fakeChild.digest, { mediaType: INDEX, bytes: parent2 });
    const { r, store, ms } = await pullInto("cyc/le", "cycle");
    expectCleanError(r, /digest|cycle/i);
    expect(ms).toBeLessThan(15_000);
    await expectNothingStored(store);
  });
});

describe("hostile content in the store", () => {
  let store: string;
  const g = (...args: string[]) => runGadget(["--oci-store", store, ...args], { timeoutMs: 30_000 });
  beforeAll(async () => {
    store = join(tmp.dir, "store");
    await makeImage(store, "good:v1");
    const s = await LayoutStore.open(store);
    // a 5 MiB "index" (valid JSON, correct digest) tagged big:v1
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [], pad: "x".repeat(5 * MiB) }));
    await s.push(desc(INDEX, big), big);
    await s.tag(desc(INDEX, big), "big:v1");
    // 20 nested indexes tagged deep:v1
    let child = desc(MANIFEST, manifestOf([]));
    await s.push(desc("application/vnd.gadget.config.v1+yaml", config), config);
    await s.push(child, manifestOf([]));
    for (let i = 0; i < 20; i++) {
      const idx = indexOf([child]);
      child = desc(INDEX, idx);
      await s.push(child, idx);
    }
    await s.tag(child, "deep:v1");
    await releaseWriterLock(store);
  });

  it("fsck names the oversized index and the over-deep nesting as problems", async () => {
    const report = await fsck(store);
    expect(report.problems.join("\n")).toMatch(/larger than|too large/);
    expect(report.problems.join("\n")).toMatch(/too deep|nested/);
  });

  it("inspect and export of them fail with one clean line; list and the good image still work", async () => {
    for (const ref of ["big:v1", "deep:v1"]) {
      // inspect shows one level: a nested index is not a gadget manifest (any clean error will do)
      expectCleanError(await g("image", "inspect", ref, "-o", "summary"), ref === "big:v1" ? /larger than|too large/i : /./);
      // ig's extra info (no registry: --pull never, no verification) fails as cleanly
      const ig = await g("image", "inspect", ref, "--pull", "never", "--verify-image=false");
      expectCleanError({ ...ig, stderr: ig.stderr.replace(/^Warning: .*\n/, "") }, ref === "big:v1" ? /larger than|too large/i : /./);
      expectCleanError(await g("image", "export", ref, join(tmp.dir, `${ref.replace(":", "-")}.tar`)), /larger than|too large|nested|deep/i);
    }
    const list = await g("image", "list", "-o", "json");
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).map((x: { Repository: string }) => x.Repository)).toContain("good");
    expect((await g("image", "inspect", "good:v1", "-o", "summary")).code).toBe(0);
  });

  it("rm of them works without crashing and leaves the good image intact", async () => {
    for (const ref of ["big:v1", "deep:v1"]) {
      const r = await g("image", "rm", ref);
      expect(r.stderr).not.toMatch(/\n\s+at |RangeError|Maximum call stack/);
      expect(r.code, r.stderr).toBe(0);
    }
    expect((await fsck(store)).problems).toEqual([]);
    expect((await g("image", "inspect", "good:v1", "-o", "summary")).code).toBe(0);
  });

  it("an index.json over 4 MiB is refused with a clear error naming the store", async () => {
    const dir = join(tmp.dir, "bigindex");
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [], pad: "y".repeat(5 * MiB) }));
    const r = await runGadget(["--oci-store", dir, "image", "list"]);
    expectCleanError(r, /index\.json/);
    expect(r.stderr).toContain(dir);
    await chmod(join(dir, "index.json"), 0o644);
    await expect(LayoutStore.open(dir).then((s) => s.entries())).rejects.toBeInstanceOf(GadgetError);
  });
});
