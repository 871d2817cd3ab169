/**
 * Where the remote step cache is, and how it may be used: `--remote-cache REF` beats
 * GADGET_REMOTE_CACHE beats the gadgetfile's `cache: { remote, readOnly, publicKeys, signKey }`;
 * `off` (from any of them) disables it. Read-only: `--remote-cache-read-only`,
 * GADGET_REMOTE_CACHE_READ_ONLY=1 or the gadgetfile's `readOnly`. Pure: no I/O.
 */
import { GadgetError } from "../errors.js";
import { parseReference } from "../oci/reference.js";
import { parseDuration } from "../duration.js";
import type { CacheSettings } from "../types.js";

export const REMOTE_CACHE_ENV = "GADGET_REMOTE_CACHE";
export const READ_ONLY_ENV = "GADGET_REMOTE_CACHE_READ_ONLY";
export const TIMEOUT_ENV = "GADGET_REMOTE_CACHE_TIMEOUT";
export const INLINE_ENV = "GADGET_REMOTE_CACHE_INLINE";
export const DEFAULT_IDLE_MS = 5000;

export interface RemoteCacheSettings {
  /** registry/repository, as written (normalized as ig does). */
  reference: string;
  registry: string;
  repository: string;
  readOnly: boolean;
  /** Public keys (PEM text or paths relative to `baseDir`): when set, only signed entries are used. */
  publicKeys?: string[];
  /** The writer's signing key (a path relative to `baseDir`, `env://VAR`, as sign targets take). */
  signKey?: string;
  /** Where relative key paths are relative to (the gadgetfile's folder). */
  baseDir: string;
  /** Idle timeout per request (GADGET_REMOTE_CACHE_TIMEOUT, default 5 s). */
  idleMs: number;
  /** Embed small blobs in the manifest (GADGET_REMOTE_CACHE_INLINE=0 turns it off). */
  inline: boolean;
  /** Where the reference came from, for messages. */
  source: "--remote-cache" | typeof REMOTE_CACHE_ENV | "gadgetfile";
}

export interface RemoteCacheInputs {
  flag?: string;
  flagReadOnly?: boolean;
  env: Readonly<Record<string, string | undefined>>;
  gadgetfile?: CacheSettings;
  /** The gadgetfile's folder. */
  baseDir: string;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

/** A `registry/repository` reference without tag or digest. */
export function parseCacheReference(text: string, which: string): { reference: string; registry: string; repository: string } {
  let ref;
  try {
    ref = parseReference(text);
  } catch (e) {
    throw new GadgetError({ what: "invalid remote cache", which, why: (e as Error).message, hint: "e.g. --remote-cache ghcr.io/acme/gadget-cache", exitCode: 2, code: "USAGE" });
  }
  if (ref.tag !== undefined && text.slice(text.lastIndexOf("/")).includes(":")) {
    throw new GadgetError({ what: "invalid remote cache", which, why: `${JSON.stringify(text)} names a tag: the cache is a repository (entries are tagged by step key)`, hint: `use ${text.slice(0, text.lastIndexOf(":"))}`, exitCode: 2, code: "USAGE" });
  }
  if (ref.digest) throw new GadgetError({ what: "invalid remote cache", which, why: `${JSON.stringify(text)} names a digest: the cache is a repository`, exitCode: 2, code: "USAGE" });
  return { reference: `${ref.registry}/${ref.repository}`, registry: ref.registry, repository: ref.repository };
}

/** The remote cache settings of a run, or undefined when there is none (or it is `off`). */
export function resolveRemoteCache(i: RemoteCacheInputs): RemoteCacheSettings | undefined {
  const fromEnv = i.env[REMOTE_CACHE_ENV];
  const [text, source]: [string | undefined, RemoteCacheSettings["source"]] =
    i.flag !== undefined ? [i.flag, "--remote-cache" as const] : fromEnv !== undefined && fromEnv !== "" ? [fromEnv, REMOTE_CACHE_ENV] : [i.gadgetfile?.remote, "gadgetfile" as const];
  if (text === undefined || text === "" || text === "off") return undefined;
  const which = source === "gadgetfile" ? "gadgetfile: cache.remote" : source;
  const ref = parseCacheReference(text, which);
  let idleMs = DEFAULT_IDLE_MS;
  const t = i.env[TIMEOUT_ENV];
  if (t !== undefined && t !== "") {
    const ms = parseDuration(t);
    if (ms === undefined || ms <= 0) throw new GadgetError({ what: "invalid usage", which: TIMEOUT_ENV, why: `${JSON.stringify(t)} is not a duration`, hint: "e.g. 5s or 500ms", exitCode: 2, code: "USAGE" });
    idleMs = ms;
  }
  const readOnly = i.flagReadOnly === true || truthy(i.env[READ_ONLY_ENV]) || i.gadgetfile?.readOnly === true;
  const g = i.gadgetfile;
  return {
    ...ref,
    readOnly,
    ...(g?.publicKeys && g.publicKeys.length > 0 ? { publicKeys: g.publicKeys } : {}),
    ...(g?.signKey ? { signKey: g.signKey } : {}),
    baseDir: i.baseDir,
    idleMs,
    inline: i.env[INLINE_ENV] !== "0",
    source,
  };
}
