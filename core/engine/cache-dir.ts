/**
 * Where a project's cache lives: `<projectRoot>/.gadget/`, or GADGET_CACHE_DIR when set (a CI
 * cache restores that one folder; relative values are relative to the project). Keys name files
 * relative to the project, so entries stay valid when the checkout is at another path.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const CACHE_DIR_ENV = "GADGET_CACHE_DIR";

export function cacheRoot(projectRoot: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const dir = env[CACHE_DIR_ENV];
  return dir ? resolve(projectRoot, dir) : join(projectRoot, ".gadget");
}

/**
 * The stages' persistent folders (ctx.cacheDir) for a build outside a project (`gadget image
 * build`, which writes nothing into the gadget's folder, as ig): `<GADGET_CACHE_DIR>/stages` when
 * set, else `$XDG_CACHE_HOME/gadget/stages`, else `~/.cache/gadget/stages`.
 */
export function userStageCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const dir = env[CACHE_DIR_ENV];
  if (dir) return join(resolve(dir), "stages");
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache"), "gadget", "stages");
}
