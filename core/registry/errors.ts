/** Registry failures → one-line GadgetErrors naming the registry/reference, with the obvious fix. */
import { GadgetError } from "../errors.js";

/** distribution's error body: {"errors":[{"code","message","detail"}]} → "code: message; …" */
export function describeErrorBody(text: string): string | undefined {
  try {
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const parts = (doc.errors ?? []).map((e) => [e.code?.toLowerCase().replace(/_/g, " "), e.message].filter(Boolean).join(": "));
    if (parts.length > 0) return parts.join("; ");
  } catch {
    /* not JSON */
  }
  const t = text.trim().split("\n")[0] ?? "";
  return t ? t.slice(0, 200) : undefined;
}

const TLS_VERIFY_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

const RETRYABLE_NET = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_REQ_RETRY",
]);

/** The first error code along the cause chain (undici and stream errors wrap the socket's). */
function codeOf(e: unknown): string | undefined {
  for (let err = e as { code?: unknown; cause?: unknown } | undefined, depth = 0; err && depth < 5; err = err.cause as typeof err, depth++) {
    if (typeof err.code === "string") return err.code;
  }
  return undefined;
}

/** Errors the client already retried to exhaustion (callers should not retry them again). */
const exhausted = new WeakSet<object>();
export function markExhausted<T>(e: T): T {
  if (typeof e === "object" && e !== null) exhausted.add(e);
  return e;
}
export function isExhausted(e: unknown): boolean {
  return typeof e === "object" && e !== null && exhausted.has(e);
}

/** Worth another try of a whole blob transfer (re-reading the source)? */
export function isTransientTransferError(e: unknown): boolean {
  if (isExhausted(e)) return false;
  if (e instanceof GadgetError) return e.code === "NETWORK" || /^HTTP_(408|429|5\d\d)$/.test(e.code ?? "");
  const c = codeOf(e);
  return c !== undefined && (RETRYABLE_NET.has(c) || c === "ERR_STREAM_PREMATURE_CLOSE");
}

export function isRetryableNetworkError(e: unknown): boolean {
  if (e instanceof GadgetError) return e.code === "NETWORK";
  const c = codeOf(e);
  return c !== undefined && RETRYABLE_NET.has(c);
}


/** A connection-level failure → GadgetError with a hint (--cert-dir, --insecure-registries). */
export function networkError(registry: string, e: unknown, plainHttp: boolean): GadgetError {
  if (e instanceof GadgetError) return e;
  const c = codeOf(e) ?? "";
  const msg = (e as Error)?.message ?? String(e);
  if (TLS_VERIFY_CODES.has(c) || /self[- ]signed|unable to verify|unable to get local issuer/i.test(msg)) {
    return new GadgetError({
      what: "TLS verification failed",
      which: registry,
      why: msg,
      hint: `pass the registry's CA with --cert-dir DIR (a folder holding ca.crt)${plainHttp ? "" : `, or use --insecure-registries ${registry} for a plain-HTTP registry`}`,
      code: "TLS",
      cause: e,
    });
  }
  if (c.startsWith("ERR_SSL") || c === "EPROTO" || /wrong version number|SSL routines/i.test(msg)) {
    return new GadgetError({
      what: "TLS handshake failed",
      which: registry,
      why: msg,
      hint: `if ${registry} serves plain HTTP, pass --insecure-registries ${registry}`,
      code: "TLS",
      cause: e,
    });
  }
  if (c === "UND_ERR_HEADERS_TIMEOUT" || c === "UND_ERR_BODY_TIMEOUT" || c === "UND_ERR_CONNECT_TIMEOUT") {
    const why = `the registry stopped answering (${c === "UND_ERR_BODY_TIMEOUT" ? "no data" : c === "UND_ERR_CONNECT_TIMEOUT" ? "no connection" : "no answer"} within the idle timeout)`;
    return new GadgetError({ what: "cannot reach registry", which: registry, why, hint: "the idle timeout is 30 s, or --timeout / GADGET_REGISTRY_TIMEOUT when shorter", code: "NETWORK", cause: e });
  }
  const reset = c === "ECONNRESET" || c === "UND_ERR_SOCKET";
  const why = c === "ECONNREFUSED" ? "connection refused" : reset ? `connection reset (${msg})` : c ? `${c}: ${msg}` : msg;
  const hint = reset && !plainHttp ? "if the registry requires a client certificate, put client.cert and client.key in --cert-dir DIR" : undefined;
  return new GadgetError({ what: "cannot reach registry", which: registry, why, hint, code: "NETWORK", cause: e });
}

export function httpError(what: string, which: string, status: number, bodyText: string, registry: string): GadgetError {
  const detail = describeErrorBody(bodyText);
  if (status === 401) {
    return new GadgetError({ what, which, why: `unauthorized (401)${detail ? `: ${detail}` : ""}`, hint: `log in with: gadget login ${registry}`, code: "UNAUTHORIZED" });
  }
  if (status === 403) {
    return new GadgetError({ what, which, why: `access denied (403)${detail ? `: ${detail}` : ""}`, hint: `check that your login for ${registry} may access this repository`, code: "DENIED" });
  }
  if (status === 404) {
    return new GadgetError({ what, which, why: `not found${detail ? ` (${detail})` : ""}`, code: "NOT_FOUND" });
  }
  if (status === 400 && /HTTP request to an HTTPS server/i.test(bodyText)) {
    return new GadgetError({ what, which, why: "the registry speaks HTTPS", hint: `remove ${registry} from --insecure-registries`, code: "PLAIN_HTTP_TO_HTTPS" });
  }
  if (status === 400 && /DIGEST_INVALID/.test(bodyText)) {
    // a push sends store blobs without hashing them again: the registry's check is the one that counts
    return new GadgetError({ what, which, why: `the registry found the bytes do not match the digest${detail ? ` (${detail})` : ""}`, hint: "the local copy may be damaged: run gadget image fsck", code: "DIGEST_MISMATCH" });
  }
  return new GadgetError({ what, which, why: `HTTP ${status}${detail ? `: ${detail}` : ""}`, code: `HTTP_${status}` });
}
