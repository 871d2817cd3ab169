/**
 * A small HTTP proxy in front of a real registry for fault injection: it can corrupt blob
 * downloads, answer 5xx a few times, cut connections, or stall a response halfway. Everything
 * else passes through.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface FaultRules {
  /** Flip a byte in the body of GET …/blobs/sha256:… responses. */
  corruptBlobs?: boolean;
  /** Answer this many requests matching `failMatch` with 503 (Retry-After: 0) before passing them. */
  fail503?: number;
  failMatch?: (req: IncomingMessage) => boolean;
  /** Cut the connection of matching requests after this many response body bytes. */
  cutAfterBytes?: number;
  cutMatch?: (req: IncomingMessage) => boolean;
  /** Send this many response body bytes of matching requests, then nothing more (the connection stays open: a hung registry). */
  stallAfterBytes?: number;
  stallMatch?: (req: IncomingMessage) => boolean;
  /** Answer matching requests with a 307 to this URL (+ the request path), like a registry redirecting to blob storage. */
  redirectTo?: string;
  redirectMatch?: (req: IncomingMessage) => boolean;
}

export interface FaultProxy {
  host: string;
  rules: FaultRules;
  seen: { method: string; url: string; status?: number }[];
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, rules: FaultRules = {}): Promise<FaultProxy> {
  const [thost, tport] = target.split(":");
  const seen: FaultProxy["seen"] = [];
  const proxy: Partial<FaultProxy> = { rules, seen };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const entry: FaultProxy["seen"][number] = { method: req.method ?? "", url: req.url ?? "" };
    seen.push(entry);
    const r = proxy.rules!;
    if (r.fail503 && r.fail503 > 0 && (!r.failMatch || r.failMatch(req))) {
      r.fail503--;
      entry.status = 503;
      req.resume();
      res.writeHead(503, { "retry-after": "0", "content-type": "application/json" });
      res.end('{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
      return;
    }
    if (r.redirectTo && (!r.redirectMatch || r.redirectMatch(req))) {
      entry.status = 307;
      req.resume();
      res.writeHead(307, { location: `${r.redirectTo}${req.url}` });
      res.end();
      return;
    }
    const headers = { ...req.headers };
    const up = request({ host: thost, port: Number(tport), method: req.method, path: req.url, headers }, (ur) => {
      entry.status = ur.statusCode;
      const rewritten: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) {
        if (v === undefined) continue;
        rewritten[k] = k === "location" && typeof v === "string" ? v.replace(`//${target}`, `//${proxy.host}`) : v;
      }
      res.writeHead(ur.statusCode ?? 502, rewritten);
      const corrupt = r.corruptBlobs && req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "");
      const cut = r.cutAfterBytes !== undefined && (!r.cutMatch || r.cutMatch(req)) ? r.cutAfterBytes : undefined;
      const stall = r.stallAfterBytes !== undefined && (!r.stallMatch || r.stallMatch(req)) ? r.stallAfterBytes : undefined;
      let sent = 0;
      let flipped = false;
      ur.on("data", (chunk: Buffer) => {
        let c = chunk;
        if (corrupt && !flipped && c.length > 0) {
          c = Buffer.from(c);
          c[0] = c[0]! ^ 0xff;
          flipped = true;
        }
        if (stall !== undefined && sent + c.length >= stall) {
          if (sent < stall) res.write(c.subarray(0, stall - sent));
          sent = stall;
          ur.pause(); // nothing more, ever
          return;
        }
        if (cut !== undefined && sent + c.length >= cut) {
          res.write(c.subarray(0, Math.max(0, cut - sent)));
          res.socket?.destroy();
          ur.destroy();
          return;
        }
        sent += c.length;
        res.write(c);
      });
      ur.on("end", () => res.end());
      ur.on("error", () => res.socket?.destroy());
    });
    up.on("error", () => {
      if (!res.headersSent) {
        res.writeHead(502);
        res.end();
      } else res.socket?.destroy();
    });
    req.pipe(up);
  };
  const server: Server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  proxy.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy as FaultProxy;
}
