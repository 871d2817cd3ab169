/**
 * An OCI distribution client for one registry, on undici: TLS from --cert-dir, plain HTTP for
 * insecure registries, basic and bearer auth (challenge learned once, tokens cached per scope
 * set, refreshed on 401), retries with backoff on 408/429/5xx and connection errors (honouring
 * Retry-After), redirects followed without credentials, bounded sockets. `close()` ends the
 * keep-alive sockets so the process exits promptly.
 */
import type { Readable } from "node:stream";
import type { Agent, Dispatcher } from "undici";
import { GadgetError } from "../errors.js";
import type { Credential } from "../auth/credential.js";
import { isEmptyCredential } from "../auth/credential.js";
import { parseChallenge, type Challenge } from "./challenge.js";
import { MAX_ERROR_BODY, drain, readBodyCapped } from "./body.js";
import { isRetryableNetworkError, markExhausted, networkError } from "./errors.js";
import { downgradeError, isDowngrade, sameOrigin } from "./origin.js";
import { mergeScopes } from "./scope.js";
import { deadlineError, registryTimeouts, type RegistryTimeouts } from "./timeouts.js";
import { loadTlsMaterial } from "./tls.js";
import { basicAuthorization, fetchToken, type TokenResult } from "./token.js";
import { packageVersion } from "../version.js";

export interface RetryPolicy {
  /** Extra attempts after the first (default 4). */
  retries: number;
  /** First backoff delay in ms (default 200), doubled each time, with jitter. */
  baseDelayMs: number;
  /** Longest single wait, including Retry-After (default 10 000). */
  maxDelayMs: number;
}

export interface RegistryClientOptions {
  /** The registry as written in the reference: host[:port] (docker.io is served by registry-1.docker.io). */
  registry: string;
  /** Use http:// (an insecure registry). */
  plainHttp?: boolean;
  /** docker certs.d-style folder: ca.crt, client.cert, client.key. */
  certDir?: string;
  /** Verify TLS certificates (default true). */
  tlsVerify?: boolean;
  /** The login for this registry (resolved from the auth file by the caller). */
  credential?: Credential;
  /** Parallel connections to the registry (default 4). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Overall deadline and per-request idle timeout (default: registryTimeouts' defaults). */
  timeouts?: RegistryTimeouts;
  /** One line per HTTP exchange (method, URL, status) — never headers or bodies. */
  onDebug?: (line: string) => void;
  /** Aborts every request at once (SIGINT/SIGTERM); requests then fail with the signal's reason. */
  signal?: AbortSignal;
}

export type Body = Buffer | Uint8Array | Readable;

export interface RegistryRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path + query on the registry (`/v2/...`), or an absolute URL (upload locations). */
  path: string;
  /** Token scopes this request needs (`repository:name:pull,push`). */
  scopes?: string[];
  headers?: Record<string, string>;
  body?: Body;
  /** Follow 3xx (default true for GET/HEAD). */
  followRedirects?: boolean;
  /** Retry on 5xx/408/429/connection errors (default: when the body can be replayed). */
  retry?: boolean;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData["body"];
  /** The final URL (after redirects). */
  url: string;
}

const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 200, maxDelayMs: 10_000 };
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export { bodyText, drain } from "./body.js";

/** docker.io names are served by registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === "docker.io" || registry === "index.docker.io" ? "registry-1.docker.io" : registry;
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\./.test(hostname);
}

function userAgent(): string {
  try {
    return `gadget/${packageVersion()}`;
  } catch {
    return "gadget";
  }
}

/** Wait ms, or less when the signal aborts first (the next request then fails at once). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      r();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function retryAfterMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function replayable(body: Body | undefined): boolean {
  return body === undefined || body instanceof Uint8Array;
}

export class RegistryClient {
  readonly registry: string;
  readonly origin: string;
  /** `origin` parsed: credentials go only to this exact scheme, host and port. */
  private readonly originUrl: URL;
  readonly plainHttp: boolean;
  readonly concurrency: number;
  private readonly agent: Agent;
  private readonly credential: Credential | undefined;
  private readonly retry: RetryPolicy;
  private readonly onDebug: ((line: string) => void) | undefined;
  private readonly userAgent = userAgent();
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, TokenResult>();
  private readonly pendingTokens = new Map<string, Promise<TokenResult>>();
  private closed = false;
  private readonly timeouts: RegistryTimeouts;
  /** Aborts every request (and the body being read) when the overall deadline passes. */
  private readonly deadline = new AbortController();
  private readonly deadlineTimer: NodeJS.Timeout | undefined;
  /** Counters for tests and benchmarks. */
  readonly stats = { requests: 0, retries: 0, tokenFetches: 0 };

  private constructor(opts: RegistryClientOptions, agent: Agent) {
    this.registry = opts.registry;
    this.plainHttp = Boolean(opts.plainHttp);
    this.origin = `${this.plainHttp ? "http" : "https"}://${apiHost(opts.registry)}`;
    this.originUrl = new URL(this.origin);
    this.concurrency = opts.concurrency ?? 4;
    this.agent = agent;
    this.credential = isEmptyCredential(opts.credential) ? undefined : opts.credential;
    this.retry = { ...DEFAULT_RETRY, ...(opts.retry ?? {}) };
    this.onDebug = opts.onDebug;
    this.timeouts = opts.timeouts ?? registryTimeouts(undefined, {});
    if (this.timeouts.deadlineMs > 0) {
      this.deadlineTimer = setTimeout(() => this.deadline.abort(deadlineError(this.registry, this.timeouts.deadlineMs)), this.timeouts.deadlineMs);
      this.deadlineTimer.unref();
    }
    // an interrupt ends every request the way the deadline does, with the interrupt's reason
    const stop = opts.signal;
    if (stop?.aborted) this.deadline.abort(stop.reason);
    else stop?.addEventListener("abort", () => this.deadline.abort(stop.reason), { once: true });
  }

  static async create(opts: RegistryClientOptions): Promise<RegistryClient> {
    const { Agent } = await import("undici");
    const tls = opts.plainHttp ? { dirs: [] } : await loadTlsMaterial(apiHost(opts.registry), opts.certDir);
    const connect: Record<string, unknown> = { rejectUnauthorized: opts.tlsVerify !== false };
    if ("ca" in tls && tls.ca) connect.ca = tls.ca;
    if ("cert" in tls && tls.cert) {
      connect.cert = tls.cert;
      connect.key = tls.key;
    }
    const concurrency = opts.concurrency ?? 4;
    const idleMs = (opts.timeouts ?? registryTimeouts(undefined, {})).idleMs;
    connect.timeout = idleMs;
    const agent = new Agent({
      connections: concurrency + 2,
      keepAliveTimeout: 10_000,
      // idle timeouts: no headers, or no body bytes, for this long fails the request
      headersTimeout: idleMs,
      bodyTimeout: idleMs,
      connect,
    });
    if (opts.onDebug && tls.dirs.length > 0) opts.onDebug(`TLS material from ${tls.dirs.join(", ")}`);
    return new RegistryClient(opts, agent);
  }

  get hasCredential(): boolean {
    return this.credential !== undefined;
  }

  /** Close keep-alive sockets (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.deadlineTimer);
    await this.agent.close().catch(() => {});
  }

  // ---- auth ---------------------------------------------------------------------------------

  private tokenKey(scopes: string[]): string {
    return mergeScopes(scopes).join(" ");
  }

  private mayUseRealm(realm: string): boolean {
    try {
      const u = new URL(realm);
      if (u.protocol === "https:") return true;
      if (u.protocol !== "http:") return false;
      // plain HTTP only where the password cannot leave the machine, or to a plain-HTTP registry's own host
      const registryHost = new URL(this.origin).hostname;
      if (isLoopback(u.hostname) && isLoopback(registryHost)) return true;
      return this.plainHttp && u.hostname === registryHost;
    } catch {
      return false;
    }
  }

  /**
   * A token for the scope set: cached, or shared with a fetch already in flight. `stale` is the
   * token a request was refused with: anything else cached is good; that one is refetched.
   */
  private async token(scopes: string[], stale?: string | null): Promise<string> {
    const key = this.tokenKey(scopes);
    const pending = this.pendingTokens.get(key);
    if (pending) return (await pending).token;
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now() && (stale === undefined || cached.token !== stale)) return cached.token;
    const ch = this.challenge!;
    const realm = ch.params.realm ?? "";
    const p = fetchToken({
      dispatcher: this.agent,
      registry: this.registry,
      realm,
      service: ch.params.service,
      scopes: mergeScopes(scopes),
      credential: this.credential,
      sendCredentials: this.mayUseRealm(realm),
      userAgent: this.userAgent,
      signal: this.deadline.signal,
      onDebug: this.onDebug,
    });
    this.pendingTokens.set(key, p);
    try {
      const t = await p;
      this.stats.tokenFetches++;
      this.tokens.set(key, t);
      return t.token;
    } finally {
      this.pendingTokens.delete(key);
    }
  }

  /** The Authorization header for a request, when the registry's scheme is known. */
  private async authorization(scopes: string[]): Promise<string | undefined> {
    if (this.credential?.registryToken) return `Bearer ${this.credential.registryToken}`;
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === "basic") return this.credential?.username !== undefined ? basicAuthorization(this.credential) : undefined;
    if (ch.scheme === "bearer") return `Bearer ${await this.token(scopes)}`;
    return undefined;
  }

  // ---- requests -----------------------------------------------------------------------------

  private resolveUrl(path: string): URL {
    return path.startsWith("http://") || path.startsWith("https://") ? new URL(path) : new URL(path, this.origin);
  }

  /**
   * A failure while talking to the registry (also while reading a response body) → a
   * GadgetError: the deadline's error once it has passed, else the network error.
   */
  networkFailure(e: unknown): GadgetError {
    if (this.deadline.signal.aborted) return markExhausted(this.deadline.signal.reason as GadgetError);
    return networkError(this.registry, e, this.plainHttp);
  }

  /**
   * Send a request with auth and retries. HTTP error statuses are returned (the caller maps
   * them); connection failures throw a GadgetError after the retries. Every request (token
   * fetches included) ends when the overall deadline passes; the response body too.
   */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    try {
      return await this.send(req);
    } catch (e) {
      if (this.deadline.signal.aborted) throw this.networkFailure(e);
      throw e;
    }
  }

  private async send(req: RegistryRequest): Promise<RegistryResponse> {
    if (this.closed) throw new GadgetError({ what: "registry client", which: this.registry, why: "used after close" });
    const scopes = [...(req.scopes ?? [])];
    const canRetry = req.retry ?? replayable(req.body);
    const follow = req.followRedirects ?? (req.method === "GET" || req.method === "HEAD");
    let url = this.resolveUrl(req.path);
    let attempt = 0;
    let authRetried = false;
    let redirects = 0;
    let withAuth = true;
    for (;;) {
      if (this.deadline.signal.aborted) throw this.networkFailure(undefined);
      // a TLS registry is never followed to plain HTTP (upload locations, redirects)
      if (isDowngrade(this.originUrl, url)) throw downgradeError(this.registry, url);
      const headers: Record<string, string> = { "user-agent": this.userAgent, ...(req.headers ?? {}) };
      const ownOrigin = sameOrigin(url, this.originUrl);
      if (withAuth && ownOrigin) {
        const a = await this.authorization(scopes);
        if (a) headers.authorization = a;
      }
      let res: Dispatcher.ResponseData;
      this.stats.requests++;
      try {
        res = await this.agent.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: req.method,
          headers,
          body: req.body as Dispatcher.DispatchOptions["body"],
          signal: this.deadline.signal,
        });
      } catch (e) {
        this.onDebug?.(`${req.method} ${url.origin}${url.pathname} → ${(e as { code?: string }).code ?? (e as Error).message}`);
        if (canRetry && attempt < this.retry.retries && isRetryableNetworkError(e)) {
          attempt++;
          this.stats.retries++;
          await sleep(this.backoff(attempt), this.deadline.signal);
          continue;
        }
        const err = this.networkFailure(e);
        throw canRetry && isRetryableNetworkError(e) ? markExhausted(err) : err;
      }
      const status = res.statusCode;
      this.onDebug?.(`${req.method} ${url.origin}${url.pathname} → ${status}`);
      const out: RegistryResponse = { status, headers: res.headers as RegistryResponse["headers"], body: res.body, url: url.toString() };

      if (status === 401 && ownOrigin && !authRetried && replayable(req.body)) {
        const ch = parseChallenge(res.headers["www-authenticate"]);
        const hadAuth = headers.authorization !== undefined;
        const changed = !this.challenge || this.challenge.scheme !== ch?.scheme || this.challenge.params.realm !== ch?.params.realm;
        const retryBearer = ch?.scheme === "bearer";
        const retryBasic = ch?.scheme === "basic" && this.credential?.username !== undefined && (!hadAuth || changed);
        if (ch) this.challenge = ch;
        if (retryBearer || retryBasic) {
          await drain(res);
          authRetried = true;
          if (retryBearer) {
            const extra = ch!.params.scope ? ch!.params.scope.split(" ") : [];
            for (const s of extra) if (!scopes.includes(s)) scopes.push(s);
            const sent = headers.authorization?.startsWith("Bearer ") ? headers.authorization.slice(7) : null;
            await this.token(scopes, sent);
          }
          continue;
        }
        return out;
      }
      if (follow && status >= 300 && status < 400 && res.headers.location && redirects < 5) {
        await drain(res);
        const next = new URL(String(header(out, "location")), url);
        // credentials never follow a redirect to blob storage
        withAuth = false;
        url = next;
        redirects++;
        continue;
      }
      if (canRetry && RETRY_STATUS.has(status) && attempt < this.retry.retries) {
        const wait = retryAfterMs(header(out, "retry-after"));
        await drain(res);
        attempt++;
        this.stats.retries++;
        await sleep(Math.min(wait ?? this.backoff(attempt), this.retry.maxDelayMs), this.deadline.signal);
        continue;
      }
      return out;
    }
  }

  private backoff(attempt: number): number {
    const d = this.retry.baseDelayMs * 2 ** (attempt - 1);
    return Math.min(this.retry.maxDelayMs, d * (0.75 + Math.random() * 0.5));
  }

  /**
   * GET /v2/: is the registry there, and does it take our credentials? Throws a GadgetError for
   * a wrong password (401) or an unreachable registry.
   */
  async ping(): Promise<{ status: number; scheme: string | undefined }> {
    const res = await this.request({ method: "GET", path: "/v2/" });
    const text = await readBodyCapped(res.body, MAX_ERROR_BODY).then(
      (b) => b.bytes.toString("utf8"),
      (e: unknown) => {
        throw this.networkFailure(e);
      },
    );
    if (res.status === 200) return { status: 200, scheme: this.challenge?.scheme };
    const { httpError } = await import("./errors.js");
    if (res.status === 401) {
      throw new GadgetError({
        what: "authenticating to registry",
        which: this.registry,
        why: this.credential ? "invalid username or password (401 unauthorized)" : "authentication required (401 unauthorized)",
        hint: this.credential ? undefined : `log in with: gadget login ${this.registry}`,
        code: "UNAUTHORIZED",
      });
    }
    throw httpError("contacting registry", this.registry, res.status, text, this.registry);
  }
}
