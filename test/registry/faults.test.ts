import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { pullImage } from "../../core/image/pull.js";
import { pushImage } from "../../core/image/push.js";
import { GadgetError } from "../../core/errors.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { startFaultProxy } from "./fault-proxy.js";
import { makeImage } from "./fixtures.js";

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("gadget-faults-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

async function snapshot(dir: string): Promise<{ index: string; blobs: string[] }> {
  const index = await readFile(join(dir, "index.json"), "utf8").catch(() => "<none>");
  const blobs = (await readdir(join(dir, "blobs", "sha256")).catch(() => [] as string[])).sort();
  return { index, blobs };
}

const fast = { retries: 2, baseDelayMs: 20, maxDelayMs: 100 };

describe("fault injection", () => {
  it("a corrupted download is rejected and nothing enters the store", async () => {
    const proxy = await startFaultProxy(reg.host);
    try {
      const a = join(tmp.dir, "a");
      const ref = `${proxy.host}/faults/corrupt:v1`;
      // > 1 MiB: the large-blob write path; the config blob takes the small one
      const img = await makeImage(a, ref, { layerSize: 1_500_000 });
      await pushImage({ storeDir: a, reference: ref, insecureRegistries: [proxy.host] });
      const b = join(tmp.dir, "b");
      // the store already holds another image: it must stay exactly as it was
      await makeImage(b, `${proxy.host}/faults/keep:v1`);
      const before = await snapshot(b);
      proxy.rules.corruptBlobs = true;
      const err = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [proxy.host], retry: fast }).catch((e) => e);
      expect(err).toBeInstanceOf(GadgetError);
      expect((err as GadgetError).code).toBe("DIGEST_MISMATCH");
      expect((err as GadgetError).message).toMatch(/content verification failed .*digest mismatch/);
      expect(await snapshot(b)).toEqual(before);
      for (const d of img.digests.slice(0, 2)) expect(before.blobs).not.toContain(d.slice(7));
      // no temp files left behind
      expect((await readdir(join(b, ".tmp")).catch(() => [] as string[])).filter((n) => !n.endsWith(".lock"))).toEqual([]);
      proxy.rules.corruptBlobs = false;
      const ok = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [proxy.host] });
      expect(ok.digest).toBe(img.index.digest);
    } finally {
      await proxy.close();
    }
  });

  it("5xx answers are retried (Retry-After honoured) and the push completes", async () => {
    const proxy = await startFaultProxy(reg.host, { fail503: 2, failMatch: (r) => r.method === "HEAD" || r.method === "POST" });
    try {
      const a = join(tmp.dir, "c");
      const ref = `${proxy.host}/faults/flaky:v1`;
      const img = await makeImage(a, ref);
      const r = await pushImage({ storeDir: a, reference: ref, insecureRegistries: [proxy.host], retry: fast });
      expect(r.digest).toBe(img.index.digest);
      expect(proxy.seen.filter((s) => s.status === 503).length).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it("a connection cut mid-download is retried with a fresh stream", async () => {
    const proxy = await startFaultProxy(reg.host);
    try {
      const a = join(tmp.dir, "d");
      const ref = `${proxy.host}/faults/cut:v1`;
      const img = await makeImage(a, ref, { layerSize: 2_000_000 });
      await pushImage({ storeDir: a, reference: ref, insecureRegistries: [proxy.host] });
      let cuts = 1;
      proxy.rules.cutAfterBytes = 500_000;
      proxy.rules.cutMatch = (r) => r.method === "GET" && /\/blobs\//.test(r.url ?? "") && cuts-- > 0;
      const b = join(tmp.dir, "e");
      const r = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [proxy.host], retry: fast });
      expect(r.digest).toBe(img.index.digest);
      expect(cuts).toBeLessThan(0);
      const sb = await LayoutStore.open(b);
      for (const d of img.digests) expect(await sb.hasBlob(d as never)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("a registry that dies mid-push: retries, then a clean error, local store unchanged", async () => {
    const dying = await startRegistry();
    try {
      const a = join(tmp.dir, "f");
      const ref = `${dying.host}/faults/dies:v1`;
      await makeImage(a, ref, { layerSize: 24 * 1024 * 1024 });
      const before = await snapshot(a);
      const debug: string[] = [];
      let killed = false;
      const err = await pushImage({
        storeDir: a,
        reference: ref,
        insecureRegistries: [dying.host],
        retry: fast,
        onDebug: (l) => debug.push(l),
        onProgress: (e) => {
          const ev = e as { type: string; bytes?: number };
          if (!killed && ev.type === "bytes" && (ev.bytes ?? 0) > 4 * 1024 * 1024) {
            killed = true;
            dying.kill();
          }
        },
      }).catch((e) => e);
      expect(killed).toBe(true);
      expect(err).toBeInstanceOf(GadgetError);
      expect((err as GadgetError).message).toContain(`cannot reach registry (${dying.host})`);
      expect(debug.filter((l) => l.includes("ECONNREFUSED")).length).toBeGreaterThanOrEqual(3);
      expect(await snapshot(a)).toEqual(before);
    } finally {
      await dying.stop();
    }
  });
});
