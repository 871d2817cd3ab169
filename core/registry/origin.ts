/**
 * Where a registry's credentials may go: only to its exact origin — scheme, host and port.
 * `URL.host` alone is not enough: `https://reg` and `http://reg` (and https:443 / http:80) have
 * the same `.host`, so a TLS-terminating proxy answering `Location: http://reg/…` would get the
 * Authorization header in clear text. A TLS registry is never followed to plain HTTP at all.
 */
import { GadgetError } from "../errors.js";

/** Same scheme, host and port (default ports made explicit by URL). */
export function sameOrigin(a: URL, b: URL): boolean {
  return a.protocol === b.protocol && a.hostname === b.hostname && a.port === b.port;
}

/** https → http: a TLS registry sending the client to plain HTTP (an upload Location or a redirect). */
export function isDowngrade(registryOrigin: URL, target: URL): boolean {
  return registryOrigin.protocol === "https:" && target.protocol !== "https:";
}

export function downgradeError(registry: string, target: URL): GadgetError {
  return new GadgetError({
    what: "refusing plain HTTP",
    which: registry,
    why: `the registry speaks HTTPS but sent the client to ${target.protocol}//${target.host}${target.pathname} (credentials and content would travel in clear text)`,
    hint: `if ${registry} really serves plain HTTP, pass --insecure-registries ${registry}`,
    code: "DOWNGRADE",
  });
}
