/**
 * The worker pool for CPU-heavy JS (DESIGN §7): hashing big files and gzip run on tinypool
 * workers so the main thread stays responsive (watch mode, progress). Loaded only when used.
 */
import { fileURLToPath } from "node:url";

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

/** sha256 of a file computed on a worker; null when no pool is available. */
export async function hashFileOnPool(path: string): Promise<string | null> {
  const p = await getPool();
  if (!p) return null;
  return (await p.run({ path }, { name: "hashFile" })) as string;
}

/** gzip on a worker (level 9 by default); inline when no pool is available. */
export async function gzipOnPool(data: Uint8Array, level = 9): Promise<Uint8Array> {
  const p = await getPool();
  if (!p) {
    const { gzipSync } = await import("node:zlib");
    return gzipSync(data, { level });
  }
  return (await p.run({ data, level }, { name: "gzip" })) as Uint8Array;
}

export async function closePool(): Promise<void> {
  if (!pool) return;
  const p = await pool;
  pool = undefined;
  await p?.destroy();
}
