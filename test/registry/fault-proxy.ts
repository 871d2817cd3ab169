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
  /** Answer every `n`th request matching `match` with `status` (default 500), e.g. every 5th manifest PUT. */
  failEvery?: { n: number; match: (req: IncomingMessage) => boolean; status?: number; count?: number };
  /** Serve GET …/tags/list in pages of at most this many tags with `Link: <…>; rel="next"` (distribution 2.8 answers in one page). */
  paginateTags?: number;
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
    if (r.failEvery && r.failEvery.match(req)) {
      r.failEvery.count = (r.failEvery.count ?? 0) + 1;
      if (r.failEvery.count % r.failEvery.n === 0) {
        entry.status = r.failEvery.status ?? 500;
        req.resume();
        res.writeHead(entry.status, { "content-type": "application/json" });
        res.end('{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}');
        return;
      }
    }
    if (r.paginateTags && req.method === "GET" && /\/tags\/list(\?|$)/.test(req.url ?? "")) {
      paginate(req, res, entry, r.paginateTags);
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
  /** The whole list from the registry, then one page of it (n, last as the distribution spec defines them). */
  const paginate = (req: IncomingMessage, res: ServerResponse, entry: FaultProxy["seen"][number], pageSize: number) => {
    const u = new URL(req.url ?? "/", "http://x");
    const n = Math.min(pageSize, Number(u.searchParams.get("n") ?? pageSize) || pageSize);
    const last = u.searchParams.get("last");
    const upstream = request({ host: thost, port: Number(tport), method: "GET", path: `${u.pathname}?n=100000`, headers: { ...req.headers } }, (ur) => {
      let body = "";
      ur.on("data", (c: Buffer) => (body += c.toString()));
      ur.on("end", () => {
        entry.status = ur.statusCode;
        if (ur.statusCode !== 200) {
          res.writeHead(ur.statusCode ?? 502, { "content-type": "application/json" });
          res.end(body);
          return;
        }
        const doc = JSON.parse(body) as { name: string; tags: string[] };
        const all = [...doc.tags].sort();
        const start = last ? all.findIndex((t) => t > last) : 0;
        const page = start < 0 ? [] : all.slice(start, start + n);
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (start >= 0 && start + n < all.length) headers.link = `<${u.pathname}?n=${n}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`;
        res.writeHead(200, headers);
        res.end(JSON.stringify({ name: doc.name, tags: page }));
      });
    });
    upstream.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    upstream.end();
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
