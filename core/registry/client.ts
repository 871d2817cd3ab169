/**
 * An OCI distribution client for one registry, on undici: TLS from --cert-dir, plain HTTP for
 * insecure registries, auth through the authenticator the registry's challenge picks (auth.ts),
 * retries as a wrapper around each exchange (retry.ts), redirects followed without credentials,
 * credentials only to the registry's own origin, an overall deadline, bounded sockets. `close()`
 * ends the keep-alive sockets so the process exits promptly.
 */
import type { Readable } from "node:stream";
import type { Agent, Dispatcher } from "undici";
import { loadAgentClass } from "./undici.js";
import { GadgetError } from "../errors.js";
import type { Credential } from "../auth/credential.js";
import { isEmptyCredential } from "../auth/credential.js";
import { parseChallenge, type Challenge } from "./challenge.js";
import { MAX_ERROR_BODY, drain, readBodyCapped } from "./body.js";
import { markExhausted, networkError } from "./errors.js";
import { downgradeError, isDowngrade, sameOrigin } from "./origin.js";
import { deadlineError, registryTimeouts, type RegistryTimeouts } from "./timeouts.js";
import { loadTlsMaterial } from "./tls.js";
import { authenticatorFor, initialAuthenticator, type AuthContext, type Authenticator } from "./auth.js";
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from "./retry.js";
import { packageVersion } from "../version.js";

export type { RetryPolicy };

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
  /** Aborts this request (and its body) at once, besides the client's overall deadline. */
  signal?: AbortSignal;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData["body"];
  /** The final URL (after redirects). */
  url: string;
}


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

/** A transfer stopped by its caller (Ctrl-C, SIGTERM): not a network failure, never retried. */
function interrupted(registry: string): GadgetError {
  return markExhausted(new GadgetError({ what: "interrupted", which: registry, why: "the transfer was cancelled", code: "ABORTED" }));
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
  /** The challenge the registry answered with, and the authenticator it picked. */
  private challenge: Challenge | undefined;
  private auth: Authenticator | undefined;
  private readonly authContext: AuthContext;
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
    this.authContext = {
      registry: this.registry,
      credential: this.credential,
      dispatcher: agent,
      userAgent: this.userAgent,
      signal: this.deadline.signal,
      mayUseRealm: (realm) => this.mayUseRealm(realm),
      ...(this.onDebug ? { onDebug: this.onDebug } : {}),
      onTokenFetch: () => void this.stats.tokenFetches++,
    };
    this.auth = initialAuthenticator(this.authContext);
    // an interrupt ends every request the way the deadline does, with the interrupt's reason
    const stop = opts.signal;
    if (stop?.aborted) this.deadline.abort(stop.reason);
    else stop?.addEventListener("abort", () => this.deadline.abort(stop.reason), { once: true });
  }

  static async create(opts: RegistryClientOptions): Promise<RegistryClient> {
    const Agent = await loadAgentClass();
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

  private send(req: RegistryRequest): Promise<RegistryResponse> {
    if (this.closed) throw new GadgetError({ what: "registry client", which: this.registry, why: "used after close" });
    const scopes = [...(req.scopes ?? [])];
    return withRetries(() => this.exchange(req, scopes), {
      policy: this.retry,
      enabled: req.retry ?? replayable(req.body),
      signal: this.deadline.signal,
      onRetry: () => void this.stats.retries++,
      fail: (e, exhausted) => (req.signal?.aborted ? interrupted(this.registry) : exhausted ? markExhausted(this.networkFailure(e)) : this.networkFailure(e)),
    });
  }

  /**
   * One exchange: the request with the authenticator's header, again once after a 401 when the
   * challenge makes a better header possible, and along redirects (without credentials).
   * Connection errors are thrown as they are (withRetries decides).
   */
  private async exchange(req: RegistryRequest, scopes: string[]): Promise<RegistryResponse> {
    const follow = req.followRedirects ?? (req.method === "GET" || req.method === "HEAD");
    let url = this.resolveUrl(req.path);
    let authRetried = false;
    let redirects = 0;
    let withAuth = true;
    for (;;) {
      if (this.deadline.signal.aborted) throw this.networkFailure(undefined);
      if (req.signal?.aborted) throw interrupted(this.registry);
      // a TLS registry is never followed to plain HTTP (upload locations, redirects)
      if (isDowngrade(this.originUrl, url)) throw downgradeError(this.registry, url);
      const headers: Record<string, string> = { "user-agent": this.userAgent, ...(req.headers ?? {}) };
      // credentials only to the registry's exact origin (scheme, host, port)
      const ownOrigin = sameOrigin(url, this.originUrl);
      if (withAuth && ownOrigin && this.auth) {
        const a = await this.auth.header(scopes);
        if (a) headers.authorization = a;
      }
      this.stats.requests++;
      let res: Dispatcher.ResponseData;
      try {
        res = await this.agent.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: req.method,
          headers,
          body: req.body as Dispatcher.DispatchOptions["body"],
          signal: req.signal ? AbortSignal.any([this.deadline.signal, req.signal]) : this.deadline.signal,
        });
      } catch (e) {
        this.onDebug?.(`${req.method} ${url.origin}${url.pathname} → ${(e as { code?: string }).code ?? (e as Error).message}`);
        throw e;
      }
      const status = res.statusCode;
      this.onDebug?.(`${req.method} ${url.origin}${url.pathname} → ${status}`);
      const out: RegistryResponse = { status, headers: res.headers as RegistryResponse["headers"], body: res.body, url: url.toString() };

      if (status === 401 && ownOrigin && !authRetried && replayable(req.body) && (await this.authenticate(res.headers["www-authenticate"], scopes, headers.authorization))) {
        await drain(res);
        authRetried = true;
        continue;
      }
      if (follow && status >= 300 && status < 400 && res.headers.location && redirects < 5) {
        await drain(res);
        url = new URL(String(header(out, "location")), url);
        // credentials never follow a redirect to blob storage
        withAuth = false;
        redirects++;
        continue;
      }
      return out;
    }
  }

  /**
   * A 401: learn the challenge (a new or changed one picks a new authenticator) and prepare a
   * better header. Returns whether sending the request again can succeed.
   */
  private async authenticate(wwwAuthenticate: string | string[] | undefined, scopes: string[], sent: string | undefined): Promise<boolean> {
    const ch = parseChallenge(wwwAuthenticate);
    if (!ch) return false;
    const changed = !this.challenge || this.challenge.scheme !== ch.scheme || this.challenge.params.realm !== ch.params.realm;
    this.challenge = ch;
    if (changed || !this.auth) {
      this.auth = authenticatorFor(ch, this.authContext);
      return this.auth !== undefined && (await this.auth.header(scopes)) !== undefined;
    }
    return this.auth.refused(scopes, sent, ch);
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
