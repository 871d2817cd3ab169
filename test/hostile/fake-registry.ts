/**
 * A deliberately hostile registry for fault injection: serves whatever bytes the test put under
 * a tag or digest (no verification), records every request, and lets a test override any
 * route. Only for cases a real registry cannot produce (oversized or lying content).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash } from "node:crypto";

export interface FakeRequest {
  method: string;
  url: string;
  authorization?: string;
}

export interface FakeRegistry {
  host: string;
  server: Server;
  requests: FakeRequest[];
  /** name → (tag or digest → bytes + media type) */
  manifests: Map<string, { bytes: Buffer | (() => AsyncIterable<Buffer>); mediaType: string; length?: number }>;
  blobs: Map<string, { bytes: Buffer; length?: number }>;
  /** Return true when handled. */
  override?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  close(): Promise<void>;
}

export const sha = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export async function startFakeRegistry(host = "127.0.0.1"): Promise<FakeRegistry> {
  const reg: FakeRegistry = {
    host: "",
    server: undefined as unknown as Server,
    requests: [],
    manifests: new Map(),
    blobs: new Map(),
    close: () => new Promise<void>((r) => reg.server.close(() => r())),
  };
  reg.server = createServer((req, res) => {
    void (async () => {
      reg.requests.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization });
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
  });
  await new Promise<void>((r) => reg.server.listen(0, host, r));
  reg.host = `${host}:${(reg.server.address() as { port: number }).port}`;
  return reg;
}
