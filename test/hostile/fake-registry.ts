/**
 * A deliberately hostile registry for fault injection: serves whatever bytes the test put under
 * a tag or digest (no verification), records every request, and lets a test override any
 * route. Only for cases a real registry cannot produce (oversized or lying content).
 *
 * With `tls`, one port speaks both TLS and plain HTTP (the first byte of each connection
 * decides), as a TLS-terminating proxy in front of a registry does; each recorded request says
 * which one it came over.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect, createServer as createNetServer, type Socket } from "node:net";
import { createHash } from "node:crypto";

export interface FakeRequest {
  method: string;
  url: string;
  authorization?: string;
  /** Came over TLS (always false without the `tls` option). */
  tls: boolean;
}

export interface FakeRegistry {
  host: string;
  requests: FakeRequest[];
  /** name → (tag or digest → bytes + media type) */
  manifests: Map<string, { bytes: Buffer | (() => AsyncIterable<Buffer>); mediaType: string; length?: number }>;
  blobs: Map<string, { bytes: Buffer; length?: number }>;
  /** Return true when handled. */
  override?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  close(): Promise<void>;
}

export interface FakeRegistryOptions {
  /** Serve TLS (with this certificate) and plain HTTP on the same port. */
  tls?: { cert: Buffer | string; key: Buffer | string };
}

export const sha = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export async function startFakeRegistry(host = "127.0.0.1", opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
  const sockets = new Set<Socket>();
  const reg: FakeRegistry = {
    host: "",
    requests: [],
    manifests: new Map(),
    blobs: new Map(),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => front.close(() => r()));
      for (const s of inner.keys()) await new Promise<void>((r) => s.close(() => r()));
    },
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      reg.requests.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, tls: Boolean((req.socket as { encrypted?: boolean }).encrypted) });
      if (reg.override && (await reg.override(req, res))) return;
      const url = req.url ?? "/";
      if (url === "/v2/" || url === "/v2") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
        return;
      }
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(url);
      const entry = m ? (m[2] === "manifests" ? reg.manifests.get(m[3]!) : reg.blobs.get(m[3]!)) : undefined;
      if (!m || !entry) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"errors":[{"code":"NOT_FOUND","message":"not found"}]}');
        return;
      }
      const headers: Record<string, string> = { "content-type": "mediaType" in entry ? entry.mediaType : "application/octet-stream" };
      if (entry.bytes instanceof Buffer) {
        headers["content-length"] = String(entry.length ?? entry.bytes.length);
        if (m[2] === "manifests") headers["docker-content-digest"] = sha(entry.bytes);
      }
      res.writeHead(200, headers);
      if (req.method === "HEAD") return void res.end();
      if (entry.bytes instanceof Buffer) return void res.end(entry.bytes);
      for await (const chunk of (entry.bytes as () => AsyncIterable<Buffer>)()) {
        if (!res.write(chunk)) await new Promise((r) => res.once("drain", r));
        if (res.destroyed) return;
      }
      res.end();
    })().catch(() => res.destroy());
  };
  const plain: Server = createServer(handler);
  const secure = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : undefined;
  // With TLS, each connection is piped to an internal TLS or plain server (the first byte
  // decides: 0x16 starts a TLS handshake record), as a TLS-terminating proxy would.
  const inner = new Map<Server | ReturnType<typeof createHttpsServer>, number>();
  for (const s of secure ? [plain, secure] : []) {
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    inner.set(s, (s.address() as { port: number }).port);
  }
  const front = createNetServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    if (!secure) return void plain.emit("connection", sock);
    sock.once("data", (first: Buffer) => {
      const up = connect(inner.get(first[0] === 0x16 ? secure : plain)!, "127.0.0.1");
      sockets.add(up);
      up.on("close", () => sockets.delete(up));
      up.on("error", () => sock.destroy());
      sock.on("close", () => up.destroy());
      up.write(first);
      sock.pipe(up).pipe(sock);
    });
  });
  await new Promise<void>((r) => front.listen(0, host, r));
  reg.host = `${host}:${(front.address() as { port: number }).port}`;
  return reg;
}
