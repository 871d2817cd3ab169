/**
 * Issue #19, defect 1: an https registry (or a TLS-terminating proxy in front of it) that sends
 * the client to `http://<same host>/…` — an upload Location or a redirect. `new URL()` gives
 * the same `.host` for both schemes on one port (and for https:443 / http:80), so comparing
 * hosts let the Authorization header (Basic or Bearer) and the blob go out in clear text.
 * Credentials go only to the registry's exact origin (scheme, host, port), and a TLS registry
 * (not in --insecure-registries) is never followed to plain HTTP at all.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sameOrigin } from "../../core/registry/origin.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { makeCerts } from "../helpers/registry.js";
import { makeImage } from "../registry/fixtures.js";
import { startFakeRegistry, type FakeRegistry } from "./fake-registry.js";

const USER = "dora";
const PASSWORD = "downgrade-pw-5530";
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
const TOKEN = "tok-downgrade-8812";

let tmp: { dir: string; cleanup: () => Promise<void> };
let certDir: string;
let reg: FakeRegistry;
let authfile: string;
beforeAll(async () => {
  tmp = await tempDir("gadget-downgrade-");
  const certs = await makeCerts(tmp.dir);
  certDir = certs.certDir;
  reg = await startFakeRegistry("127.0.0.1", { tls: { cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) } });
  authfile = join(tmp.dir, "auth.json");
  await writeFile(authfile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }), { mode: 0o600 });
}, 60_000);
afterAll(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

/** A registry that wants `scheme` auth and answers every upload with a Location on http://<its own host:port>. */
function downgradingRegistry(scheme: "basic" | "bearer") {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? "";
    if (url.startsWith("/token")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: TOKEN }));
      return true;
    }
    const ok = req.headers.authorization === (scheme === "basic" ? BASIC : `Bearer ${TOKEN}`);
    // the plain-HTTP side serves blobs to anyone, as blob storage behind a redirect does
    const plainBlob = !(req.socket as { encrypted?: boolean }).encrypted && req.method === "GET" && /\/blobs\/sha256:/.test(url);
    if (plainBlob) return false;
    if (!ok) {
      const challenge = scheme === "basic" ? 'Basic realm="fake"' : `Bearer realm="https://${reg.host}/token",service="fake"`;
      res.writeHead(401, { "www-authenticate": challenge, "content-type": "application/json" });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return true;
    }
    if (req.method === "POST" && /\/blobs\/uploads\/$/.test(url.split("?")[0]!)) {
      res.writeHead(202, { location: `http://${reg.host}/v2/down/grade/blobs/uploads/session-1`, "content-length": "0" });
      res.end();
      return true;
    }
    if (req.method === "PUT" || req.method === "PATCH") {
      req.resume();
      req.on("end", () => {
        res.writeHead(201, { "content-length": "0" });
        res.end();
      });
      return true;
    }
    if (req.method === "GET" && /\/blobs\/sha256:/.test(url)) {
      res.writeHead(307, { location: `http://${reg.host}${url}` });
      res.end();
      return true;
    }
    return false;
  };
}

describe("origin comparison for credentials", () => {
  it("scheme, host and port all count (https:443 and http:80 have the same URL.host)", () => {
    const tls = new URL("https://reg.example.com/v2/");
    const plain = new URL("http://reg.example.com/v2/x/blobs/uploads/1");
    expect(tls.host).toBe(plain.host); // the trap
    expect(sameOrigin(tls, plain)).toBe(false);
    expect(sameOrigin(new URL("https://reg.example.com:443/a"), new URL("https://reg.example.com/b"))).toBe(true);
    expect(sameOrigin(new URL("https://reg.example.com:5000/a"), new URL("https://reg.example.com/b"))).toBe(false);
    expect(sameOrigin(new URL("https://Reg.Example.com/a"), new URL("https://reg.example.com./b"))).toBe(false);
  });
});

describe("https registry sending the client to http on the same host and port", () => {
  for (const scheme of ["basic", "bearer"] as const) {
    it(`push with ${scheme} auth: the upload Location on http:// is refused; no credential and no blob byte goes out in clear`, async () => {
      reg.requests.length = 0;
      reg.override = downgradingRegistry(scheme);
      const store = join(tmp.dir, `push-${scheme}`);
      const ref = `${reg.host}/down/grade:v1`;
      await makeImage(store, ref);
      const r = await runGadget(["--oci-store", store, "image", "push", ref, "--cert-dir", certDir, "--authfile", authfile], { timeoutMs: 60_000 });
      const plain = reg.requests.filter((q) => !q.tls);
      expect(plain.filter((q) => q.authorization !== undefined), "credentials sent over plain HTTP").toEqual([]);
      expect(plain, "anything sent over plain HTTP").toEqual([]);
      // the registry really was reached over TLS with the credentials (the test is not vacuous)
      expect(reg.requests.some((q) => q.tls && q.authorization !== undefined && q.method === "POST")).toBe(true);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("Error:"))).toHaveLength(1);
      expect(r.stderr).toMatch(/plain HTTP/);
      expect(r.stderr).not.toContain(PASSWORD);
    });
  }

  it("pull: a redirect of a blob to http:// on the same host is refused, not followed in clear text", async () => {
    reg.requests.length = 0;
    reg.override = downgradingRegistry("basic");
    const src = join(tmp.dir, "pull-src");
    const img = await makeImage(src, `${reg.host}/down/pull:v1`);
    const { LayoutStore } = await import("../../core/store/layout-store.js");
    const s = await LayoutStore.open(src);
    for (const d of img.digests) {
      const bytes = await readFile(s.blobPath(d as `sha256:${string}`));
      const isManifest = d === img.index.digest || bytes.toString("utf8").includes('"schemaVersion"');
      if (isManifest) reg.manifests.set(d, { mediaType: (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType ?? "application/vnd.oci.image.manifest.v1+json", bytes });
      else reg.blobs.set(d, { bytes });
    }
    reg.manifests.set("v1", reg.manifests.get(img.index.digest)!);
    const store = join(tmp.dir, "pull-dst");
    const r = await runGadget(["--oci-store", store, "image", "pull", `${reg.host}/down/pull:v1`, "--cert-dir", certDir, "--authfile", authfile], { timeoutMs: 60_000 });
    expect(reg.requests.filter((q) => !q.tls), "requests over plain HTTP").toEqual([]);
    expect(reg.requests.some((q) => q.tls && /\/blobs\//.test(q.url))).toBe(true);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/plain HTTP/);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("Error:"))).toHaveLength(1);
  });
});
