/**
 * The docker config / containers auth.json format: `auths` (`auth` = base64 user:pass,
 * `identitytoken`, `registrytoken`), `credHelpers`, `credsStore`. Unknown keys are preserved
 * on write. Writes are atomic, mode 0600, the folder created 0700.
 */
import { chmod, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { GadgetError, describeSystemError } from "../errors.js";
import { symlinkTarget, writeFileAtomic } from "../store/atomic.js";
import type { Credential } from "./credential.js";

export interface AuthEntry {
  auth?: string;
  identitytoken?: string;
  registrytoken?: string;
  username?: string;
  password?: string;
  [k: string]: unknown;
}

export interface AuthConfig {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [k: string]: unknown;
}

export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";
const DOCKER_HUB_ALIASES = ["docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_KEY];

/** docker's ConvertToHostname: drop the scheme and any path. */
export function keyToHost(key: string): string {
  let s = key.trim();
  s = s.replace(/^https?:\/\//i, "");
  const i = s.indexOf("/");
  return (i >= 0 ? s.slice(0, i) : s).toLowerCase();
}

export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.includes(registry) || DOCKER_HUB_ALIASES.map(keyToHost).includes(keyToHost(registry));
}

/** The host names a registry may be stored under (docker.io ↔ index.docker.io …). */
export function hostAliases(registry: string): string[] {
  const h = keyToHost(registry);
  if (isDockerHub(h)) return ["index.docker.io", "docker.io", "registry-1.docker.io"];
  return [h];
}

/** The key login writes (docker writes Docker Hub as https://index.docker.io/v1/). */
export function keyForRegistry(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_KEY : keyToHost(registry);
}

export async function readAuthConfig(path: string, opts: { mustExist?: boolean } = {}): Promise<AuthConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" && !opts.mustExist) return undefined;
    throw new GadgetError({ what: "reading auth file", which: path, why: describeSystemError(e), code: "AUTH_CONFIG", cause: e });
  }
  if (text.trim() === "") return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new GadgetError({ what: "reading auth file", which: path, why: `not valid JSON: ${(e as Error).message}`, hint: "fix or remove the file", code: "AUTH_CONFIG" });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new GadgetError({ what: "reading auth file", which: path, why: "expected a JSON object", code: "AUTH_CONFIG" });
  }
  const cfg = doc as AuthConfig;
  if (cfg.auths !== undefined && (typeof cfg.auths !== "object" || cfg.auths === null || Array.isArray(cfg.auths))) {
    throw new GadgetError({ what: "reading auth file", which: `${path}: auths`, why: "expected an object of registries", code: "AUTH_CONFIG" });
  }
  return cfg;
}

/**
 * Write the file atomically, mode 0600. A symlinked auth file (dotfile managers) is updated
 * through the link: the temp file goes next to the link's target, which is replaced — the link
 * stays, as with the docker CLI.
 */
export async function writeAuthConfig(path: string, cfg: AuthConfig): Promise<void> {
  try {
    const target = await symlinkTarget(path);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await writeFileAtomic(target, JSON.stringify(cfg, null, "\t") + "\n", { mode: 0o600 });
    await chmod(target, 0o600);
  } catch (e) {
    throw new GadgetError({ what: "writing auth file", which: path, why: describeSystemError(e), code: "AUTH_CONFIG", cause: e });
  }
}

/** The `auths` key matching a registry (any scheme/path form), if present. */
export function findAuthKey(cfg: AuthConfig, registry: string): string | undefined {
  const aliases = hostAliases(registry);
  const keys = Object.keys(cfg.auths ?? {});
  const exact = keys.find((k) => k === keyForRegistry(registry) || k === registry);
  if (exact) return exact;
  return keys.find((k) => aliases.includes(keyToHost(k)));
}

/** The credential helper configured for one registry (`credHelpers`). */
export function findCredHelper(cfg: AuthConfig, registry: string): string | undefined {
  const aliases = hostAliases(registry);
  for (const [k, v] of Object.entries(cfg.credHelpers ?? {})) {
    if (typeof v === "string" && v && aliases.includes(keyToHost(k))) return v;
  }
  return undefined;
}

export function decodeEntry(entry: AuthEntry, source: string, which: string): Credential | undefined {
  const c: Credential = { source };
  if (typeof entry.auth === "string" && entry.auth !== "") {
    let decoded: string;
    try {
      decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    } catch {
      decoded = "";
    }
    const i = decoded.indexOf(":");
    if (i < 0) throw new GadgetError({ what: "reading auth file", which: `${source}: auths.${which}.auth`, why: "not base64 of user:password", code: "AUTH_CONFIG" });
    c.username = decoded.slice(0, i);
    c.password = decoded.slice(i + 1);
  } else if (typeof entry.username === "string") {
    c.username = entry.username;
    if (typeof entry.password === "string") c.password = entry.password;
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken) c.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === "string" && entry.registrytoken) c.registryToken = entry.registrytoken;
  if (!c.username && !c.password && !c.identityToken && !c.registryToken) return undefined;
  return c;
}

export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, "utf8").toString("base64");
}
