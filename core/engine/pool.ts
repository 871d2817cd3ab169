/**
 * The worker pool for CPU-heavy JS (DESIGN §7): hashing big files runs on tinypool workers so
 * the main thread stays responsive (watch mode, progress). Loaded only when used.
 */
import { fileURLToPath } from "node:url";
import { stat } from "node:fs/promises";
import { hashFile, type Digest } from "../oci/digest.js";

type Pool = { run(task: unknown, opts?: { name?: string }): Promise<unknown>; destroy(): Promise<void> };

let pool: Promise<Pool | null> | undefined;

function workerUrl(): URL | null {
  // Workers need compiled JS: from TS sources (tests) the work runs inline instead.
  if (import.meta.url.endsWith(".ts")) return null;
  return new URL("./pool-worker.js", import.meta.url);
}

export function getPool(): Promise<Pool | null> {
  pool ??= (async () => {
    const url = workerUrl();
    if (!url) return null;
    const { Tinypool } = await import("tinypool");
    const { availableParallelism } = await import("node:os");
    return new Tinypool({ filename: fileURLToPath(url), maxThreads: Math.max(1, Math.min(4, availableParallelism())), idleTimeout: 1000, execArgv: process.execArgv.filter((a) => !a.startsWith("--input-type") && a !== "-e" && a !== "--eval") }) as unknown as Pool;
  })();
  return pool;
}

/** Files at least this big are hashed on a worker; smaller ones inline (a round trip costs more). */
export const POOL_THRESHOLD = 8 * 1024 * 1024;

/** sha256 + size of a file: big files on a worker of the pool, small ones (or without a pool) inline. */
export async function hashFileOffThread(path: string, knownSize?: number): Promise<{ digest: Digest; size: number }> {
  const size = knownSize ?? (await stat(path)).size;
  if (size >= POOL_THRESHOLD) {
    const p = await getPool();
    if (p) return (await p.run({ path }, { name: "hashFile" })) as { digest: Digest; size: number };
  }
  return hashFile(path);
}

export async function closePool(): Promise<void> {
  if (!pool) return;
  const p = await pool;
  pool = undefined;
  await p?.destroy();
}
