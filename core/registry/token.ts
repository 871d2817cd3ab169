/**
 * The docker/OCI token flow: `GET realm?service=…&scope=…` (basic auth, or anonymous) or, with
 * an identity token, the OAuth2 `POST realm` refresh-token grant. Tokens are cached per scope set
 * until shortly before they expire.
 */
import type { Dispatcher } from "undici";
import { GadgetError } from "../errors.js";
import type { Credential } from "../auth/credential.js";
import { MAX_TOKEN_BODY, readBodyCapped } from "./body.js";
import { describeErrorBody } from "./errors.js";

export interface TokenResult {
  token: string;
  /** epoch ms */
  expiresAt: number;
}

const MIN_LIFETIME_S = 60;

export function basicAuthorization(c: Credential): string {
  return `Basic ${Buffer.from(`${c.username ?? ""}:${c.password ?? ""}`, "utf8").toString("base64")}`;
}

export async function fetchToken(args: {
  dispatcher: Dispatcher;
  registry: string;
  realm: string;
  service?: string;
  scopes: string[];
  credential?: Credential;
  /** May credentials travel to this realm? (false: an http realm for a TLS registry) */
  sendCredentials: boolean;
  userAgent: string;
  /** Aborts the request and the body read (the client's overall deadline). */
  signal?: AbortSignal;
  onDebug?: (line: string) => void;
}): Promise<TokenResult> {
  let url: URL;
  try {
    url = new URL(args.realm);
  } catch {
    throw new GadgetError({ what: "authenticating to registry", which: args.registry, why: `invalid token realm ${JSON.stringify(args.realm)}`, code: "AUTH" });
  }
  const cred = args.sendCredentials ? args.credential : undefined;
  const headers: Record<string, string> = { "user-agent": args.userAgent, accept: "application/json" };
  let method: "GET" | "POST" = "GET";
  let body: string | undefined;
  if (cred?.identityToken) {
    method = "POST";
    const form = new URLSearchParams();
    form.set("grant_type", "refresh_token");
    form.set("refresh_token", cred.identityToken);
    form.set("client_id", "gadget");
    if (args.service) form.set("service", args.service);
    if (args.scopes.length > 0) form.set("scope", args.scopes.join(" "));
    body = form.toString();
    headers["content-type"] = "application/x-www-form-urlencoded";
  } else {
    if (args.service) url.searchParams.set("service", args.service);
    for (const s of args.scopes) url.searchParams.append("scope", s);
    if (cred?.username) headers.authorization = basicAuthorization(cred);
  }
  let res: Dispatcher.ResponseData;
  try {
    res = await args.dispatcher.request({ origin: url.origin, path: url.pathname + url.search, method, headers, body, ...(args.signal ? { signal: args.signal } : {}) });
  } catch (e) {
    throw new GadgetError({ what: "authenticating to registry", which: args.registry, why: `token server ${url.origin}: ${(e as Error).message}`, code: "NETWORK", cause: e });
  }
  let answer: { bytes: Buffer; truncated: boolean };
  try {
    answer = await readBodyCapped(res.body, MAX_TOKEN_BODY);
  } catch (e) {
    throw new GadgetError({ what: "authenticating to registry", which: args.registry, why: `token server ${url.origin}: ${(e as Error).message}`, code: "NETWORK", cause: e });
  }
  if (answer.truncated) {
    throw new GadgetError({ what: "authenticating to registry", which: args.registry, why: `the token server's answer is larger than ${MAX_TOKEN_BODY / 1024 / 1024} MiB (${url.origin}${url.pathname})`, code: "AUTH" });
  }
  const text = answer.bytes.toString("utf8");
  args.onDebug?.(`${method} ${url.origin}${url.pathname} (token, scopes: ${args.scopes.join(" ") || "none"}) → ${res.statusCode}`);
  if ((res.statusCode === 401 || res.statusCode === 403) && args.credential && !args.sendCredentials) {
    throw new GadgetError({
      what: "authenticating to registry",
      which: args.registry,
      why: `credentials withheld: the token realm ${url.origin} is plain HTTP on another host (${res.statusCode} without them)`,
      hint: "the registry must name an https token realm (or one on its own host)",
      code: "UNAUTHORIZED",
    });
  }
  if (res.statusCode === 401 || res.statusCode === 403) {
    throw new GadgetError({
      what: "authenticating to registry",
      which: args.registry,
      why: `${cred ? "invalid username or password" : "authentication required"} (${res.statusCode})`,
      hint: `log in with: gadget login ${args.registry}`,
      code: "UNAUTHORIZED",
    });
  }
  if (res.statusCode !== 200) {
    throw new GadgetError({ what: "authenticating to registry", which: args.registry, why: `token server answered HTTP ${res.statusCode}${describeErrorBody(text) ? `: ${describeErrorBody(text)}` : ""}`, code: "AUTH" });
  }
  let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new GadgetError({ what: "authenticating to registry", which: args.registry, why: "token server did not answer JSON", code: "AUTH" });
  }
  const token = typeof doc.access_token === "string" && doc.access_token ? doc.access_token : typeof doc.token === "string" ? doc.token : "";
  if (!token) throw new GadgetError({ what: "authenticating to registry", which: args.registry, why: "token server answered without a token", code: "AUTH" });
  const lifetime = typeof doc.expires_in === "number" && doc.expires_in > 0 ? Math.max(doc.expires_in, MIN_LIFETIME_S) : MIN_LIFETIME_S;
  const issued = typeof doc.issued_at === "string" ? Date.parse(doc.issued_at) : NaN;
  const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
  // refresh 10 s early
  return { token, expiresAt: start + lifetime * 1000 - 10_000 };
}
