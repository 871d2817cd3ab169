/**
 * Check results cached by (object digest, kernel digest, loader digest, params): an unchanged
 * gadget re-checked against an unchanged kernel is answered from here, with no load and no boot.
 * One JSON file per entry, written atomically (temp file + rename).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { CheckResult } from "./types.js";

const CACHE_VERSION = 1;

/** `$GADGET_CHECK_CACHE`, else `$XDG_CACHE_HOME/gadget/check`, else `~/.cache/gadget/check`. */
export function defaultCheckCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GADGET_CHECK_CACHE) return env.GADGET_CHECK_CACHE;
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(base, "gadget", "check");
}

export interface CacheKeyParts {
  objectDigest: string;
  kernelDigest: string;
  loaderDigest: string;
  params?: Record<string, string>;
}

export function cacheKey(k: CacheKeyParts): string {
  const params = Object.entries(k.params ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const text = JSON.stringify({ v: CACHE_VERSION, o: k.objectDigest, k: k.kernelDigest, l: k.loaderDigest, p: params });
  return createHash("sha256").update(text).digest("hex");
}

type Cached = Pick<CheckResult, "status" | "reason" | "prepared" | "programs">;

export async function readCached(dir: string, key: string): Promise<Cached | undefined> {
  try {
    const v = JSON.parse(await readFile(join(dir, `${key}.json`), "utf8")) as Cached & { v?: number };
    if (v.v !== CACHE_VERSION || !Array.isArray(v.programs) || (v.status !== "loaded" && v.status !== "refused")) return undefined;
    return { status: v.status, reason: v.reason, prepared: v.prepared, programs: v.programs };
  } catch {
    return undefined; // missing or unreadable: a miss, never an error
  }
}

export async function writeCached(dir: string, key: string, r: CheckResult): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entry = { v: CACHE_VERSION, status: r.status, reason: r.reason, prepared: r.prepared, programs: r.programs };
  const tmp = join(dir, `.${key}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(entry));
    await rename(tmp, join(dir, `${key}.json`));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
