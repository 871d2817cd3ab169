import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { pullImage } from "../../core/image/pull.js";
import { pushImage } from "../../core/image/push.js";
import { saveCredential } from "../../core/auth/credentials.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { startFaultProxy } from "./fault-proxy.js";
import { makeImage } from "./fixtures.js";

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  reg = await startRegistry({ token: { users: { carol: "pw-carol" } } });
  tmp = await tempDir("gadget-redirect-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("redirects to blob storage", () => {
  it("are followed without credentials, and the blob is still verified", async () => {
    const proxy = await startFaultProxy(reg.host);
    const a = join(tmp.dir, "a");
    const ref = `${proxy.host}/redir/gadget:v1`;
    const img = await makeImage(a, ref, { layerSize: 64_000 });
    const authfile = join(tmp.dir, "auth.json");
    await saveCredential(proxy.host, { username: "carol", password: "pw-carol" }, { authfile });
    await pushImage({ storeDir: a, reference: ref, insecureRegistries: [proxy.host], authfile });

    // "blob storage": another origin serving the blobs from store a, recording Authorization headers
    const src = await LayoutStore.open(a);
    const seenAuth: (string | undefined)[] = [];
    const storage: Server = createServer(async (req, res) => {
      seenAuth.push(req.headers.authorization);
      const digest = /blobs\/(sha256:[a-f0-9]{64})/.exec(req.url ?? "")?.[1];
      if (!digest) {
        res.writeHead(404);
        res.end();
        return;
      }
      const bytes = await src.readBlob(digest as never, 100 * 1024 * 1024);
      res.writeHead(200, { "content-length": String(bytes.length), "content-type": "application/octet-stream" });
      res.end(bytes);
    });
    await new Promise<void>((r) => storage.listen(0, "127.0.0.1", r));
    const storageUrl = `http://127.0.0.1:${(storage.address() as { port: number }).port}/storage`;
    proxy.rules.redirectTo = storageUrl;
    proxy.rules.redirectMatch = (r) => r.method === "GET" && /\/blobs\/sha256:/.test(r.url ?? "");
    try {
      const b = join(tmp.dir, "b");
      const r = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [proxy.host], authfile });
      expect(r.digest).toBe(img.index.digest);
      expect(seenAuth.length).toBeGreaterThan(0);
      expect(seenAuth.every((h) => h === undefined)).toBe(true);
      // the registry itself did get bearer tokens
      expect(reg.tokenIssuer!.requests.some((t) => t.user === "carol")).toBe(true);
    } finally {
      await new Promise<void>((r) => storage.close(() => r()));
      await proxy.close();
    }
  });
});
