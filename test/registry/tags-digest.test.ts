/**
 * `gadget image tags` and `gadget image digest` against a real registry. docker-registry 2.8
 * answers a tag list in one page, so the fault proxy serves it in pages of 100 with `Link`
 * headers, as larger registries do; a registry whose Link loops is an error, not a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { openRemoteRepository } from "../../core/registry/open.js";
import { parseReference } from "../../core/oci/reference.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { makeImage } from "./fixtures.js";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";

const exec = promisify(execFile);
let reg: RunningRegistry;
let proxy: FaultProxy;
let tmp: { dir: string; cleanup: () => Promise<void> };
let digest: string;
const TAGS = Array.from({ length: 250 }, (_, i) => `t${String(i).padStart(3, "0")}`);

beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("gadget-tags-");
  const storeDir = join(tmp.dir, "s");
  const img = await makeImage(storeDir, `${reg.host}/many/tags:t000`);
  digest = img.index.digest;
  expect((await runGadget(["image", "push", `${reg.host}/many/tags:t000`, "--insecure-registries", reg.host, "--oci-store", storeDir])).code).toBe(0);
  const store = await LayoutStore.open(storeDir);
  const bytes = await store.readBlob(img.index.digest as never);
  const repo = await openRemoteRepository(parseReference(`${reg.host}/many/tags`), { insecureRegistries: [reg.host], intent: "push" });
  try {
    for (const t of TAGS.slice(1)) await repo.pushManifest(bytes, img.index.mediaType, t);
  } finally {
    await repo.client.close();
  }
  proxy = await startFaultProxy(reg.host, { paginateTags: 100 });
}, 120_000);
afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
  await tmp?.cleanup();
});

describe("gadget image tags", () => {
  it("follows Link pagination: 250 tags over pages of 100", async () => {
    const r = await runGadget(["image", "tags", `${proxy.host}/many/tags`, "--insecure-registries", proxy.host, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { repository: string; tags: string[] };
    expect(out.repository).toBe(`${proxy.host}/many/tags`);
    expect(out.tags.length).toBe(250);
    expect([...out.tags].sort()).toEqual(TAGS);
    const pages = proxy.seen.filter((s) => s.method === "GET" && s.url.includes("/tags/list"));
    expect(pages.length).toBe(3);
    expect(pages.filter((p) => p.url.includes("last=")).length).toBe(2);
    // plain output: one tag per line
    const plain = await runGadget(["image", "tags", `docker://${proxy.host}/many/tags`, "--insecure-registries", proxy.host]);
    expect(plain.stdout.trim().split("\n").length).toBe(250);
  });

  it("a Link that points back at a page already read is an error, not a loop", async () => {
    const server: Server = createServer((req, res) => {
      if (req.url === "/v2/") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
        return;
      }
      res.writeHead(200, { "content-type": "application/json", link: '</v2/loop/x/tags/list?n=1000>; rel="next"' });
      res.end('{"name":"loop/x","tags":["a"]}');
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const r = await runGadget(["image", "tags", `${host}/loop/x`, "--insecure-registries", host]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/listing tags.*points back at a page already read/);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("a reference with a tag is a usage error naming the repository form", async () => {
    const r = await runGadget(["image", "tags", `${reg.host}/many/tags:t001`, "--insecure-registries", reg.host]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`gadget image tags ${reg.host}/many/tags`);
  });
});

describe("gadget image digest", () => {
  it("prints the digest from a HEAD, without pulling; agrees with skopeo", async () => {
    const before = (await reg.requests(0)).length;
    const r = await runGadget(["image", "digest", `${reg.host}/many/tags:t123`, "--insecure-registries", reg.host]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(digest);
    const during = (await reg.requests()).slice(before).filter((x) => x.uri.includes("/manifests/"));
    expect(during.map((x) => x.method)).toEqual(["HEAD"]);
    const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/many/tags:t123`]);
    expect(`sha256:${createHash("sha256").update(Buffer.from(stdout)).digest("hex")}`).toBe(r.stdout.trim());
    const j = await runGadget(["image", "digest", `${reg.host}/many/tags:t001`, "--insecure-registries", reg.host, "--json"]);
    expect(JSON.parse(j.stdout)).toEqual({ reference: `${reg.host}/many/tags:t001`, digest, mediaType: "application/vnd.oci.image.index.v1+json", size: expect.any(Number) });
  });

  it("an unknown tag is an error naming it", async () => {
    const r = await runGadget(["image", "digest", `${reg.host}/many/tags:nope`, "--insecure-registries", reg.host]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/many\/tags:nope.*not found/);
  });
});
