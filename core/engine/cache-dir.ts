/**
 * Where a project's cache lives: `<projectRoot>/.gadget/`, or GADGET_CACHE_DIR when set (a CI
 * cache restores that one folder; relative values are relative to the project). Keys name files
 * relative to the project, so entries stay valid when the checkout is at another path.
 */
import { join, resolve } from "node:path";

export const CACHE_DIR_ENV = "GADGET_CACHE_DIR";

export function cacheRoot(projectRoot: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const dir = env[CACHE_DIR_ENV];
  return dir ? resolve(projectRoot, dir) : join(projectRoot, ".gadget");
}
