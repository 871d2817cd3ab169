/**
 * A real CNCF distribution registry (Debian `docker-registry serve`) for tests, on a free
 * 127.0.0.1 port with a temp storage directory. Reusable by every test that needs a registry.
 *
 * ```ts
 * const reg = await startRegistry();                                  // plain HTTP
 * const tls = await startRegistry({ tls: true, htpasswd: { alice: "s3cret" } });
 * const tok = await startRegistry({ token: { users: { bob: "pw" } } }); // bearer-token auth
 * // reg.host = "127.0.0.1:PORT"; reg.url = "http://127.0.0.1:PORT"
 * // tls.certDir holds ca.crt (pass as --cert-dir); tls.caFile is the CA's PEM file
 * const puts = (await reg.requests()).filter((r) => r.method === "PUT");
 * await reg.stop();
 * ```
 *
 * Options:
 * - `tls`: serve HTTPS with a certificate (SAN 127.0.0.1, localhost) signed by a CA made
 *   with openssl in the temp dir (`caFile`, `certDir` = a docker certs.d-style folder).
 * - `clientCert` (with `tls`): require a client certificate; `certDir` also holds client.cert/key.
 * - `htpasswd`: `{ user: password }` → basic auth (bcrypt, `htpasswd -B`).
 * - `token`: `{ users, anonymousPull? }` → the registry's `auth.token` config pointed at a
 *   small JWT issuer started here (RS256, `x5c` header, cert in `rootcertbundle`).
 *   `tokenIssuer.requests` records what the issuer was asked (scopes, user).
 * - `rootDir`: reuse a storage directory (e.g. to restart a registry on the same data).
 *
 * `requests()` parses the registry's JSON log: one entry per completed HTTP request.
 * `kill()` SIGKILLs the registry (simulating a crash); `stop()` also removes the temp dir; `pid`
 * is the registry's process (SIGSTOP it for a registry that accepts connections and never answers).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createSign, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

export interface RegistryOptions {
  tls?: boolean;
  /** With tls: require a client certificate (mTLS); certDir then also holds client.cert/client.key. */
  clientCert?: boolean;
  htpasswd?: Record<string, string>;
  token?: { users: Record<string, string>; anonymousPull?: boolean; refreshTokens?: Record<string, string> };
  rootDir?: string;
}

export interface RegistryRequest {
  method: string;
  uri: string;
  status: number;
}

export interface TokenRequest {
  method: string;
  user?: string;
  scopes: string[];
  granted: boolean;
}

export interface RunningRegistry {
  /** host:port, usable in image references */
  host: string;
  /** http(s)://host:port */
  url: string;
  /** storage + config + certs */
  dir: string;
  /** registry storage root */
  rootDir: string;
  /** CA certificate (PEM) when tls */
  caFile?: string;
  /** a folder with ca.crt (docker certs.d layout) when tls */
  certDir?: string;
  tokenIssuer?: { url: string; requests: TokenRequest[] };
  /** Completed requests as logged by the registry so far (waits settleMs for the log to catch up). */
  requests(settleMs?: number): Promise<RegistryRequest[]>;
  /** The raw log. */
  log(): string;
  /** SIGKILL the registry process (the temp dir stays). */
  kill(): void;
  /** The registry process (e.g. to SIGSTOP it: it then accepts connections and never answers). */
  pid: number;
  /** Stop everything and remove the temp dir (unless rootDir was given). */
  stop(): Promise<void>;
}

function requireTool(name: string): Promise<void> {
  return exec("sh", ["-c", `command -v ${name}`]).then(
    () => undefined,
    () => {
      throw new Error(`${name} is not installed: run scripts/bootstrap`);
    },
  );
}

export async function makeCerts(dir: string, clientCert = false): Promise<{ caFile: string; certFile: string; keyFile: string; certDir: string }> {
  await requireTool("openssl");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  await exec("openssl", ["req", "-x509", ...ec, "-keyout", caKey, "-out", ca, "-subj", "/CN=gadget-test-ca", "-days", "2"]);
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  await exec("openssl", ["req", ...ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"]);
  const ext = join(dir, "ext.cnf");
  await writeFile(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const cert = join(dir, "server.crt");
  await exec("openssl", ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]);
  const certDir = join(dir, "certs.d");
  await mkdir(certDir, { recursive: true });
  await writeFile(join(certDir, "ca.crt"), await readFile(ca));
  if (clientCert) {
    const ckey = join(certDir, "client.key");
    const ccsr = join(dir, "client.csr");
    await exec("openssl", ["req", ...ec, "-keyout", ckey, "-out", ccsr, "-subj", "/CN=gadget-test-client"]);
    const cext = join(dir, "client-ext.cnf");
    await writeFile(cext, "extendedKeyUsage=clientAuth\n");
    await exec("openssl", ["x509", "-req", "-in", ccsr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", join(certDir, "client.cert"), "-days", "2", "-extfile", cext]);
  }
  return { caFile: ca, certFile: cert, keyFile: key, certDir };
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

/** A minimal docker token server: GET (basic auth) and POST (refresh_token) on /token. */
async function startTokenIssuer(
  dir: string,
  opts: NonNullable<RegistryOptions["token"]>,
): Promise<{ url: string; certFile: string; server: Server; requests: TokenRequest[]; service: string; issuer: string }> {
  await requireTool("openssl");
  const keyFile = join(dir, "token.key");
  const certFile = join(dir, "token.crt");
  await exec("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-subj", "/CN=gadget-test-token-issuer", "-days", "2"]);
  const key = await readFile(keyFile, "utf8");
  const certPem = await readFile(certFile, "utf8");
  const x5c = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const service = "gadget-test-registry";
  const issuer = "gadget-test-issuer";
  const requests: TokenRequest[] = [];

  const sign = (sub: string, access: { type: string; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [x5c] };
    const claims = { iss: issuer, sub, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign("RSA-SHA256").update(input).sign(key);
    return `${input}.${b64url(sig)}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? "/", "http://x");
    let params = u.searchParams;
    let user: string | undefined;
    let authed = false;
    if (req.method === "POST") {
      let body = "";
      for await (const c of req) body += c;
      params = new URLSearchParams(body);
      const rt = params.get("refresh_token") ?? "";
      const owner = Object.entries(opts.refreshTokens ?? {}).find(([, t]) => t === rt)?.[0];
      if (params.get("grant_type") === "refresh_token" && owner) {
        user = owner;
        authed = true;
      }
      if (params.get("grant_type") === "password") {
        const p = params.get("password");
        user = params.get("username") ?? undefined;
        authed = user !== undefined && opts.users[user] === p;
      }
    } else {
      const h = req.headers.authorization;
      if (h?.startsWith("Basic ")) {
        const [u1, ...rest] = Buffer.from(h.slice(6), "base64").toString().split(":");
        user = u1;
        authed = u1 !== undefined && opts.users[u1] === rest.join(":");
      }
    }
    const scopes = params.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
    const credentialsGiven = user !== undefined;
    if (credentialsGiven && !authed) {
      requests.push({ method: req.method ?? "GET", user, scopes, granted: false });
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] }));
      return;
    }
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(":");
      const actions = rest.pop()!.split(",");
      const name = rest.join(":");
      const allowed = authed ? actions : opts.anonymousPull ? actions.filter((a) => a === "pull") : [];
      return { type: type!, name, actions: allowed };
    });
    requests.push({ method: req.method ?? "GET", user, scopes, granted: true });
    const token = sign(user ?? "", access);
    const out: Record<string, unknown> = { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(out));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/token`, certFile, server, requests, service, issuer };
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  await requireTool("docker-registry");
  const dir = await mkdtemp(join(tmpdir(), "gadget-registry-"));
  const rootDir = opts.rootDir ?? join(dir, "storage");
  await mkdir(rootDir, { recursive: true });
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  formatter: json",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(rootDir)}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    "  addr: 127.0.0.1:0",
    `  secret: ${randomBytes(12).toString("hex")}`,
  ];
  let certs: Awaited<ReturnType<typeof makeCerts>> | undefined;
  if (opts.tls) {
    certs = await makeCerts(dir, opts.clientCert);
    lines.push("  tls:", `    certificate: ${JSON.stringify(certs.certFile)}`, `    key: ${JSON.stringify(certs.keyFile)}`);
    if (opts.clientCert) lines.push("    clientcas:", `      - ${JSON.stringify(certs.caFile)}`);
  }
  let issuer: Awaited<ReturnType<typeof startTokenIssuer>> | undefined;
  if (opts.htpasswd) {
    await requireTool("htpasswd");
    const entries: string[] = [];
    for (const [user, pass] of Object.entries(opts.htpasswd)) {
      const { stdout } = await exec("htpasswd", ["-Bbn", "-C", "4", user, pass]);
      entries.push(stdout.trim());
    }
    const file = join(dir, "htpasswd");
    await writeFile(file, entries.join("\n") + "\n");
    lines.push("auth:", "  htpasswd:", "    realm: gadget-test", `    path: ${JSON.stringify(file)}`);
  } else if (opts.token) {
    issuer = await startTokenIssuer(dir, opts.token);
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(issuer.url)}`,
      `    service: ${issuer.service}`,
      `    issuer: ${issuer.issuer}`,
      `    rootcertbundle: ${JSON.stringify(issuer.certFile)}`,
    );
  }
  const config = join(dir, "config.yml");
  await writeFile(config, lines.join("\n") + "\n");

  let log = "";
  const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
  const onData = (d: Buffer) => (log += d.toString());
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`docker-registry did not start within 10 s:\n${log}`)), 10_000);
    const check = () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`docker-registry exited with ${code}:\n${log}`));
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  child.removeAllListeners("exit");
  const host = `127.0.0.1:${port}`;
  let stopped = false;
  const parseRequests = (): RegistryRequest[] => {
    const out: RegistryRequest[] = [];
    for (const line of log.split("\n")) {
      if (!line.includes('"response completed"')) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        out.push({ method: String(o["http.request.method"]), uri: String(o["http.request.uri"]), status: Number(o["http.response.status"]) });
      } catch {
        /* partial line */
      }
    }
    return out;
  };
  const reg: RunningRegistry = {
    host,
    url: `${opts.tls ? "https" : "http"}://${host}`,
    dir,
    rootDir,
    requests: async (settleMs = 150) => {
      await new Promise((r) => setTimeout(r, settleMs));
      return parseRequests();
    },
    log: () => log,
    pid: child.pid!,
    kill: () => {
      if (!stopped) child.kill("SIGKILL");
    },
    stop: async () => {
      if (!stopped) {
        stopped = true;
        const exited = new Promise<void>((r) => {
          if (child.exitCode !== null || child.signalCode !== null) r();
          else child.once("exit", () => r());
        });
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      if (issuer) await new Promise<void>((r) => issuer!.server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (certs) {
    reg.caFile = certs.caFile;
    reg.certDir = certs.certDir;
  }
  if (issuer) reg.tokenIssuer = { url: issuer.url, requests: issuer.requests };
  return reg;
}
