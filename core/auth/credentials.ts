/**
 * Credentials for a registry from the auth file: `credHelpers[host]` first, then an `auths`
 * entry, then `credsStore` — and saving/removing them (login/logout) the same way.
 */
import { GadgetError } from "../errors.js";
import { authFileForRead, authFileForWrite, type AuthFileOptions } from "./paths.js";
import { decodeEntry, encodeAuth, findAuthKey, findCredHelper, keyForRegistry, readAuthConfig, writeAuthConfig, type AuthConfig } from "./docker-config.js";
import { helperErase, helperGet, helperStore } from "./helper.js";
import type { Credential } from "./credential.js";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { withFileLock } from "../store/lock.js";
import { symlinkTarget } from "../store/atomic.js";

/**
 * Read-modify-write of the auth file under an exclusive flock on the folder of the file really
 * written (a symlink's target; no extra file), so concurrent logins never drop each other's entries.
 */
async function withAuthFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const dir = dirname(await symlinkTarget(path));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withFileLock(dir, fn, { directory: true });
}

export type { Credential } from "./credential.js";

export async function getCredential(registry: string, opts: AuthFileOptions = {}): Promise<Credential | undefined> {
  const env = opts.env ?? process.env;
  const choice = authFileForRead(opts);
  const cfg = await readAuthConfig(choice.path, { mustExist: choice.origin === "flag" });
  if (!cfg) return undefined;
  return credentialFromConfig(cfg, registry, choice.path, env);
}

export async function credentialFromConfig(cfg: AuthConfig, registry: string, path: string, env: NodeJS.ProcessEnv = process.env): Promise<Credential | undefined> {
  const helper = findCredHelper(cfg, registry);
  if (helper) return helperGet(helper, keyForRegistry(registry), env);
  const key = findAuthKey(cfg, registry);
  if (key !== undefined) {
    const c = decodeEntry(cfg.auths![key]!, path, key);
    if (c) return c;
  }
  if (typeof cfg.credsStore === "string" && cfg.credsStore) return helperGet(cfg.credsStore, keyForRegistry(registry), env);
  return undefined;
}

/** Store a verified login. Returns the file written (or the helper used). */
export async function saveCredential(registry: string, cred: Credential, opts: AuthFileOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const { path } = authFileForWrite(opts);
  return withAuthFileLock(path, () => saveLocked(path, registry, cred, env));
}

async function saveLocked(path: string, registry: string, cred: Credential, env: NodeJS.ProcessEnv): Promise<string> {
  const cfg = (await readAuthConfig(path)) ?? {};
  const key = keyForRegistry(registry);
  const helper = findCredHelper(cfg, registry) ?? (typeof cfg.credsStore === "string" && cfg.credsStore ? cfg.credsStore : undefined);
  cfg.auths ??= {};
  const old = findAuthKey(cfg, registry);
  if (old !== undefined && old !== key) delete cfg.auths[old];
  if (helper) {
    await helperStore(helper, key, cred, env);
    // docker keeps an empty placeholder so `auths` lists the registry
    cfg.auths[key] = {};
    await writeAuthConfig(path, cfg);
    return `docker-credential-${helper}`;
  }
  const entry: Record<string, unknown> = {};
  if (cred.identityToken) entry.identitytoken = cred.identityToken;
  else entry.auth = encodeAuth(cred.username ?? "", cred.password ?? "");
  cfg.auths[key] = { ...(cfg.auths[key] ?? {}), ...entry };
  if (cred.identityToken) delete cfg.auths[key]!.auth;
  await writeAuthConfig(path, cfg);
  return path;
}

/** Remove a login. Throws `not logged into <registry>` when there was none. */
export async function removeCredential(registry: string, opts: AuthFileOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const { path } = authFileForWrite(opts);
  return withAuthFileLock(path, () => removeLocked(path, registry, env));
}

async function removeLocked(path: string, registry: string, env: NodeJS.ProcessEnv): Promise<void> {
  const cfg = await readAuthConfig(path);
  const key = cfg ? findAuthKey(cfg, registry) : undefined;
  const helper = cfg ? (findCredHelper(cfg, registry) ?? (typeof cfg.credsStore === "string" && cfg.credsStore ? cfg.credsStore : undefined)) : undefined;
  let removed = false;
  if (helper) removed = await helperErase(helper, keyForRegistry(registry), env);
  if (cfg && key !== undefined) {
    delete cfg.auths![key];
    await writeAuthConfig(path, cfg);
    removed = true;
  }
  if (!removed) throw notLoggedIn(registry);
}

/** Remove every login in the auth file (and erase them from helpers). */
export async function removeAllCredentials(opts: AuthFileOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  const { path } = authFileForWrite(opts);
  return withAuthFileLock(path, () => removeAllLocked(path, env));
}

async function removeAllLocked(path: string, env: NodeJS.ProcessEnv): Promise<void> {
  const cfg = await readAuthConfig(path);
  if (!cfg) return;
  for (const key of Object.keys(cfg.auths ?? {})) {
    const helper = findCredHelper(cfg, key) ?? (typeof cfg.credsStore === "string" && cfg.credsStore ? cfg.credsStore : undefined);
    if (helper) await helperErase(helper, key, env).catch(() => false);
  }
  cfg.auths = {};
  await writeAuthConfig(path, cfg);
}

export function notLoggedIn(registry: string): GadgetError {
  return new GadgetError({ what: `not logged into ${registry}`, code: "NOT_LOGGED_IN" });
}
