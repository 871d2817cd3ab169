/**
 * Where credentials may travel. Policy (docker/oras send registry credentials to whatever token
 * realm the registry names — Docker Hub's is another host — so we do too, with one rule added):
 *  - an https realm gets them, whatever its host;
 *  - a plain-http realm gets them only when it cannot leave the machine or the registry's host:
 *    registry and realm both loopback, or a plain-http registry whose realm is on the same host name;
 *  - otherwise the token is asked for anonymously, and a refusal says why.
 * Redirects (blob storage, manifests) never carry the Authorization header to another host.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer as createHttps } from "node:https";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { sha, startFakeRegistry, type FakeRegistry } from "./fake-registry.js";

const USER = "erin";
const PASSWORD = "realm-test-pw-7361";
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** This machine's non-loopback address (a "different host class" that is still local). */
function otherAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  throw new Error("no non-loopback IPv4 address on this machine: the realm host-class tests need one");
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let tlsReg: RunningRegistry;
let authfile: string;
const servers: Server[] = [];
beforeAll(async () => {
  tmp = await tempDir("gadget-hostile-auth-");
  // a real TLS registry, here only for its certificate (SAN 127.0.0.1) and CA folder
  tlsReg = await startRegistry({ tls: true });
  authfile = join(tmp.dir, "auth.json");
}, 60_000);
afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  await tlsReg?.stop();
  await tmp?.cleanup();
});

async function listen(s: Server, host: string): Promise<string> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, host, r));
  return `${host}:${(s.address() as { port: number }).port}`;
}

/** A token issuer recording the Authorization headers it receives; 401 without credentials. */
async function tokenIssuer(host: string): Promise<{ url: string; seen: (string | undefined)[] }> {
  const seen: (string | undefined)[] = [];
  const s = createServer((req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== BASIC) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"credentials required"}]}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: "tok-granted", expires_in: 300 }));
  });
  return { url: `http://${await listen(s, host)}/token`, seen };
}

/** A registry whose only job is to send clients to `realm`. */
function challengeHandler(realm: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization === "Bearer tok-granted") {
      res.writeHead(req.url === "/v2/" ? 200 : 404, { "content-type": "application/json" });
      res.end("{}");
      return;
    }
    res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="svc"`, "content-type": "application/json" });
    res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
  };
}

async function login(host: string, extra: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return runGadget(["login", host, "-u", USER, "--password-stdin", "--authfile", authfile, ...extra], { input: PASSWORD, timeoutMs: 30_000 });
}

describe("WWW-Authenticate realms of another scheme or host class", () => {
  it("an https registry whose realm is plain http on another host never receives the password", async () => {
    const issuer = await tokenIssuer(otherAddress());
    const s = createHttps(
      { cert: await readFile(join(tlsReg.dir, "server.crt")), key: await readFile(join(tlsReg.dir, "server.key")) },
      challengeHandler(issuer.url),
    );
    const host = await listen(s as unknown as Server, "127.0.0.1");
    const r = await login(host, ["--cert-dir", tlsReg.certDir!]);
    expect(r.code, r.stderr).toBe(1);
    expect(issuer.seen.length).toBeGreaterThan(0);
    expect(issuer.seen.filter((h) => h !== undefined)).toEqual([]);
    expect(r.stderr).toMatch(/plain HTTP|not sent|withheld/i);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("Error:"))).toHaveLength(1);
  });

  it("a loopback registry whose plain-http realm is on another host never receives the password", async () => {
    const issuer = await tokenIssuer(otherAddress());
    const host = await listen(createServer(challengeHandler(issuer.url)), "127.0.0.1");
    const r = await login(host, ["--plain-http"]);
    expect(r.code, r.stderr).toBe(1);
    expect(issuer.seen.filter((h) => h !== undefined)).toEqual([]);
    expect(r.stderr).toMatch(/plain HTTP|not sent|withheld/i);
  });

  it("a remote https registry whose realm is plain http on loopback never receives the password", async () => {
    // the registry on this machine's other address stands in for a remote one
    const issuer = await tokenIssuer("127.0.0.1");
    const s = createHttps(
      { cert: await readFile(join(tlsReg.dir, "server.crt")), key: await readFile(join(tlsReg.dir, "server.key")) },
      challengeHandler(issuer.url),
    );
    const host = await listen(s as unknown as Server, otherAddress());
    const r = await login(host, ["--tls-verify=false"]);
    expect(r.code, r.stderr).toBe(1);
    expect(issuer.seen.filter((h) => h !== undefined)).toEqual([]);
  });

  it("allowed: a plain-http realm on the same loopback host, and an https realm on another host", async () => {
    const local = await tokenIssuer("127.0.0.1");
    const host = await listen(createServer(challengeHandler(local.url)), "127.0.0.1");
    const r = await login(host, ["--plain-http"]);
    expect(r.code, r.stderr).toBe(0);
    expect(local.seen).toContain(BASIC);

    // https realm on another host class: credentials go (as docker and oras do)
    const seen: (string | undefined)[] = [];
    const tlsIssuer = createHttps({ cert: await readFile(join(tlsReg.dir, "server.crt")), key: await readFile(join(tlsReg.dir, "server.key")) }, (req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: "tok-granted" }));
    });
    const issuerHost = await listen(tlsIssuer as unknown as Server, "127.0.0.1");
    const tlsOpts = { cert: await readFile(join(tlsReg.dir, "server.crt")), key: await readFile(join(tlsReg.dir, "server.key")) };
    const host2 = await listen(createHttps(tlsOpts, challengeHandler(`https://${issuerHost}/token`)) as unknown as Server, otherAddress());
    const r2 = await login(host2, ["--tls-verify=false"]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(seen).toContain(BASIC);
  });
});

describe("redirects to another host", () => {
  let reg: FakeRegistry;
  let other: FakeRegistry;
  beforeAll(async () => {
    reg = await startFakeRegistry();
    other = await startFakeRegistry(otherAddress());
  });
  afterAll(async () => {
    await reg.close();
    await other.close();
  });

  it("basic credentials are not sent to the redirect target (manifest and blobs), and the content is still verified", async () => {
    const config = Buffer.from("name: redirected\n");
    const layer = Buffer.from("layer bytes");
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST,
        config: { mediaType: "application/vnd.gadget.config.v1+yaml", digest: sha(config), size: config.length },
        layers: [{ mediaType: "application/vnd.gadget.ebpf.program.v1+binary", digest: sha(layer), size: layer.length }],
      }),
    );
    for (const r of [reg, other]) {
      r.manifests.set("v1", { mediaType: MANIFEST, bytes: manifest });
      r.manifests.set(sha(manifest), { mediaType: MANIFEST, bytes: manifest });
      r.blobs.set(sha(config), { bytes: config });
      r.blobs.set(sha(layer), { bytes: layer });
    }
    reg.override = (req, res) => {
      if (req.headers.authorization !== BASIC) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="fake"' });
        res.end();
        return true;
      }
      if (req.url !== "/v2/" && req.method === "GET") {
        res.writeHead(307, { location: `http://${other.host}${req.url}` });
        res.end();
        return true;
      }
      return false;
    };
    await writeFile(authfile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }), { mode: 0o600 });
    const store = join(tmp.dir, "redirect-store");
    const r = await runGadget(["--oci-store", store, "image", "pull", `${reg.host}/red/irect:v1`, "--insecure-registries", reg.host, "--authfile", authfile]);
    expect(r.code, r.stderr).toBe(0);
    expect(reg.requests.some((q) => q.authorization === BASIC)).toBe(true);
    expect(other.requests.length).toBeGreaterThanOrEqual(3);
    expect(other.requests.filter((q) => q.authorization !== undefined)).toEqual([]);

    // a redirect target serving other bytes is caught by the digest check
    other.blobs.set(sha(layer), { bytes: Buffer.from("LAYER BYTES") });
    const store2 = join(tmp.dir, "redirect-store-2");
    const bad = await runGadget(["--oci-store", store2, "image", "pull", `${reg.host}/red/irect:v1`, "--insecure-registries", reg.host, "--authfile", authfile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/digest/i);
  });
});
