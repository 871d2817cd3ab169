/**
 * Pull with the OCI 1.1 referrers API: a small proxy in front of the real registry answers
 * GET /v2/<repo>/referrers/<digest> (distribution 2.8 has no such API) and hides the referrers
 * tag, so the signatures can only arrive through the API.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pullImage } from "../../core/image/pull.js";
import { pushImage } from "../../core/image/push.js";
import { referrersTag } from "../../core/sign/constants.js";
import { loadPublicKeys, loadSigningKeyFile } from "../../core/sign/key-files.js";
import { signImage } from "../../core/sign/sign.js";
import { verifyImage } from "../../core/sign/verify.js";
import { LayoutStore, refNameOf } from "../../core/store/layout-store.js";
import { tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage, writeKeys } from "./fixtures.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let reg: RunningRegistry;
let proxy: Server;
let proxyHost: string;
const referrerCalls: string[] = [];

function fetchFromRegistry(path: string, accept: string): Promise<{ status: number; body: Buffer }> {
  const [host, port] = reg.host.split(":");
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port: Number(port), path, method: "GET", headers: { accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  tmp = await tempDir("gadget-referrers-api-");
  reg = await startRegistry();
  const [thost, tport] = reg.host.split(":");
  proxy = createServer(async (req, res) => {
    const url = req.url ?? "";
    const ref = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url);
    if (ref && req.method === "GET") {
      referrerCalls.push(ref[2]!);
      // the registry keeps them under the referrers tag; serve that index as the API's answer
      const idx = await fetchFromRegistry(`/v2/${ref[1]}/manifests/sha256-${ref[2]!.slice(7)}`, "application/vnd.oci.image.index.v1+json");
      const body = idx.status === 200 ? idx.body : Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
      res.writeHead(200, { "content-type": "application/vnd.oci.image.index.v1+json", "content-length": body.length });
      res.end(body);
      return;
    }
    if (/\/manifests\/sha256-[a-f0-9]{64}$/.test(url) && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      return;
    }
    const up = httpRequest({ host: thost, port: Number(tport), path: url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
  proxyHost = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 30_000);

afterAll(async () => {
  await new Promise((r) => proxy.close(r));
  await reg.stop();
  await tmp.cleanup();
});

describe("signatures through the OCI 1.1 referrers API", () => {
  it("pull asks the referrers API, fetches oci11 and bundle referrers, and verify works offline", async () => {
    const keys = await writeKeys(tmp.dir, "ecdsa");
    const srcDir = join(tmp.dir, "src");
    const store = await LayoutStore.open(srcDir);
    // pushed straight to the registry (no proxy), which stores the referrers under the tag schema
    const direct = `${reg.host}/sig/api:v1`;
    const img = await makeImage(store, direct, "api");
    const key = await loadSigningKeyFile(keys.key, async () => undefined);
    await signImage(store, direct, key, { format: "oci11" });
    await signImage(store, direct, key, { format: "bundle" });
    await pushImage({ storeDir: srcDir, reference: direct, insecureRegistries: [reg.host] });

    const dstDir = join(tmp.dir, "dst");
    const viaProxy = `${proxyHost}/sig/api:v1`;
    const r = await pullImage({ storeDir: dstDir, reference: viaProxy, insecureRegistries: [proxyHost] });
    expect(r.digest).toBe(img.digest);
    expect(referrerCalls).toEqual([img.digest]);
    const dst = await LayoutStore.open(dstDir);
    const names = (await dst.entries()).map(refNameOf);
    expect(names).toContain(referrersTag(img.digest));
    const v = await verifyImage(dst, viaProxy, await loadPublicKeys([keys.pub], tmp.dir));
    expect(v.digest).toBe(img.digest);
  });
});
