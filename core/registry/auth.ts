/**
 * Registry auth as a layer. The registry's challenge (WWW-Authenticate on a 401) picks an
 * Authenticator; the client asks it for each request's Authorization header (for that request's
 * token scopes) and tells it when a header was refused. Schemes: basic (the login's user and
 * password), bearer (a token from the token server, fetched with the password, anonymously, or
 * with an identity token's refresh grant), and a registry token the login holds (sent as is).
 * A new scheme is one entry in SCHEMES.
 */
import type { Dispatcher } from "undici";
import type { Credential } from "../auth/credential.js";
import type { Challenge } from "./challenge.js";
import { mergeScopes } from "./scope.js";
import { basicAuthorization, fetchToken, type TokenResult } from "./token.js";

/** What authenticators may use: the login, a way to reach the token server, and its policy. */
export interface AuthContext {
  registry: string;
  credential: Credential | undefined;
  dispatcher: Dispatcher;
  userAgent: string;
  /** The client's overall deadline. */
  signal: AbortSignal;
  /** May credentials travel to this token realm? (see RegistryClient: https, or plain HTTP where they cannot leave) */
  mayUseRealm(realm: string): boolean;
  onDebug?: (line: string) => void;
  /** Counts token fetches (tests, benchmarks). */
  onTokenFetch?: () => void;
}

export interface Authenticator {
  /** The Authorization header for a request that needs these scopes (undefined: send none). */
  header(scopes: string[]): Promise<string | undefined>;
  /**
   * A request sent with `sent` was refused (401) with this challenge: prepare a better header
   * (fetch a new token…). Returns whether sending the request again can succeed.
   */
  refused(scopes: string[], sent: string | undefined, challenge: Challenge): Promise<boolean>;
}

/** Basic: the login's user and password on every request to the registry. */
class BasicAuthenticator implements Authenticator {
  constructor(private readonly ctx: AuthContext) {}
  async header(): Promise<string | undefined> {
    return this.ctx.credential?.username !== undefined ? basicAuthorization(this.ctx.credential) : undefined;
  }
  async refused(_scopes: string[], sent: string | undefined): Promise<boolean> {
    // worth one try only when nothing was sent yet and there is something to send
    return sent === undefined && this.ctx.credential?.username !== undefined;
  }
}

/**
 * Bearer: tokens from the challenge's realm for each set of scopes, cached until shortly before
 * they expire; a token for more scopes serves a request for fewer (a push's pull,push token serves
 * its HEADs). Concurrent requests for one scope set share one fetch.
 */
class BearerAuthenticator implements Authenticator {
  private readonly tokens = new Map<string, TokenResult & { scopes: string[] }>();
  private readonly pending = new Map<string, Promise<TokenResult>>();
  constructor(
    private challenge: Challenge,
    private readonly ctx: AuthContext,
  ) {}

  async header(scopes: string[]): Promise<string | undefined> {
    return `Bearer ${await this.token(mergeScopes(scopes))}`;
  }

  async refused(scopes: string[], sent: string | undefined, challenge: Challenge): Promise<boolean> {
    this.challenge = challenge;
    const extra = challenge.params.scope ? challenge.params.scope.split(" ") : [];
    const wanted = mergeScopes([...scopes, ...extra]);
    const stale = sent?.startsWith("Bearer ") ? sent.slice(7) : undefined;
    for (const [k, t] of this.tokens) if (t.token === stale) this.tokens.delete(k);
    await this.token(wanted);
    if (extra.length > 0) for (const s of extra) if (!scopes.includes(s)) scopes.push(s);
    return true;
  }

  private cached(scopes: string[]): string | undefined {
    const now = Date.now();
    const exact = this.tokens.get(scopes.join(" "));
    if (exact && exact.expiresAt > now) return exact.token;
    for (const t of this.tokens.values()) if (t.expiresAt > now && covers(t.scopes, scopes)) return t.token;
    return undefined;
  }

  private async token(scopes: string[]): Promise<string> {
    const key = scopes.join(" ");
    const inFlight = this.pending.get(key);
    if (inFlight) return (await inFlight).token;
    const hit = this.cached(scopes);
    if (hit) return hit;
    const realm = this.challenge.params.realm ?? "";
    const p = fetchToken({
      dispatcher: this.ctx.dispatcher,
      registry: this.ctx.registry,
      realm,
      service: this.challenge.params.service,
      scopes,
      credential: this.ctx.credential,
      sendCredentials: this.ctx.mayUseRealm(realm),
      userAgent: this.ctx.userAgent,
      signal: this.ctx.signal,
      onDebug: this.ctx.onDebug,
    });
    this.pending.set(key, p);
    try {
      const t = await p;
      this.ctx.onTokenFetch?.();
      this.tokens.set(key, { ...t, scopes });
      return t.token;
    } finally {
      this.pending.delete(key);
    }
  }
}

/** A registry token the login holds (docker's `registrytoken`): sent as a bearer token, whatever the challenge. */
class RegistryTokenAuthenticator implements Authenticator {
  constructor(private readonly token: string) {}
  async header(): Promise<string> {
    return `Bearer ${this.token}`;
  }
  async refused(): Promise<boolean> {
    return false;
  }
}

/** Does a token for `have` (merged scopes) cover every scope of `want`? */
export function covers(have: string[], want: string[]): boolean {
  const actions = new Map<string, Set<string>>();
  for (const s of have) {
    const i = s.lastIndexOf(":");
    actions.set(s.slice(0, i), new Set(s.slice(i + 1).split(",")));
  }
  return want.every((s) => {
    const i = s.lastIndexOf(":");
    const got = actions.get(s.slice(0, i));
    return got !== undefined && (got.has("*") || s.slice(i + 1).split(",").every((a) => got.has(a)));
  });
}

/** The schemes gadget speaks, by the challenge's scheme name. */
const SCHEMES: Record<string, (challenge: Challenge, ctx: AuthContext) => Authenticator> = {
  basic: (_ch, ctx) => new BasicAuthenticator(ctx),
  bearer: (ch, ctx) => new BearerAuthenticator(ch, ctx),
};

/** The authenticator for a registry's challenge (undefined: a scheme gadget does not speak). */
export function authenticatorFor(challenge: Challenge, ctx: AuthContext): Authenticator | undefined {
  if (ctx.credential?.registryToken) return new RegistryTokenAuthenticator(ctx.credential.registryToken);
  return SCHEMES[challenge.scheme]?.(challenge, ctx);
}

/** Before any challenge is known: a registry token is sent from the first request; nothing else is. */
export function initialAuthenticator(ctx: AuthContext): Authenticator | undefined {
  return ctx.credential?.registryToken ? new RegistryTokenAuthenticator(ctx.credential.registryToken) : undefined;
}
