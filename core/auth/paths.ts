/**
 * Which auth file (DESIGN §8): `--authfile` > `REGISTRY_AUTH_FILE` > the default
 * (`/var/lib/ig/config.json` as root, `~/.ig/config.json` otherwise); when reading and the
 * default does not exist, docker's `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface AuthFileOptions {
  authfile?: string;
  env?: NodeJS.ProcessEnv;
  /** For tests: the uid and home to assume (default: this process's). */
  uid?: number;
  home?: string;
}

export interface AuthFileChoice {
  path: string;
  /** Where the choice came from. */
  origin: "flag" | "env" | "default" | "docker";
}

export function defaultAuthFile(opts: AuthFileOptions = {}): string {
  const env = opts.env ?? process.env;
  const uid = opts.uid ?? process.getuid?.() ?? 1000;
  if (uid === 0) return "/var/lib/ig/config.json";
  return join(opts.home ?? (env.HOME || homedir()), ".ig", "config.json");
}

export function dockerConfigFile(opts: AuthFileOptions = {}): string {
  const env = opts.env ?? process.env;
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  return join(opts.home ?? (env.HOME || homedir()), ".docker", "config.json");
}

/** The file login/logout write. */
export function authFileForWrite(opts: AuthFileOptions = {}): AuthFileChoice {
  const env = opts.env ?? process.env;
  if (opts.authfile) return { path: opts.authfile, origin: "flag" };
  if (env.REGISTRY_AUTH_FILE) return { path: env.REGISTRY_AUTH_FILE, origin: "env" };
  return { path: defaultAuthFile(opts), origin: "default" };
}

/** The file pull/push read credentials from. */
export function authFileForRead(opts: AuthFileOptions = {}, exists: (p: string) => boolean = existsSync): AuthFileChoice {
  const w = authFileForWrite(opts);
  if (w.origin !== "default") return w;
  if (exists(w.path)) return w;
  return { path: dockerConfigFile(opts), origin: "docker" };
}
