/**
 * The step cache's size (DESIGN §7): how big .gadget/ is, and pruning it — entries older than a
 * duration, then the least recently used (an action's mtime is its last use) until the outputs
 * they reference fit a size. Output files (cas/) no remaining entry references are removed with
 * them. After a run that stored new outputs the default bound applies (GADGET_CACHE_MAX_SIZE,
 * default 2 GB); `gadget cache prune` does it on demand.
 */
import { readdir, readFile, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { GadgetError } from "../errors.js";

export const DEFAULT_CACHE_MAX_BYTES = 2e9;
/** Output files nothing references are kept this long (a concurrent run may be about to reference them). */
const ORPHAN_GRACE_MS = 10 * 60 * 1000;

export interface CacheUsage {
  /** Bytes under .gadget/ that the cache holds (outputs, entries, manifests, bookkeeping). */
  bytes: number;
  /** Action entries (one per step key and set of discovered inputs). */
  entries: number;
}

export interface PruneOptions {
  /** Keep at most this many bytes (least recently used entries go first). */
  maxBytes?: number;
  /** Remove entries not used for this long. */
  olderThanMs?: number;
  now?: number;
}

export interface PruneResult {
  removedEntries: number;
  removedFiles: number;
  freedBytes: number;
  before: CacheUsage;
  after: CacheUsage;
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4 };

/** `500M`, `2G`, `1.5GiB`, `800kB`, `1048576` → bytes (k/M/G/T decimal, Ki/Mi/Gi/Ti binary). */
export function parseSize(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s);
  if (!m) return undefined;
  const unit = UNITS[m[2]!.toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** `30m`, `12h`, `7d`, `2w`, `1d12h` → milliseconds. */
export function parseDuration(s: string): number | undefined {
  const t = s.trim();
  if (!/^(\d+(\.\d+)?[smhdw])+$/.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return ms;
}

/** The size bound after a run: GADGET_CACHE_MAX_SIZE (e.g. `500M`; `0` = none) or 2 GB. */
export function cacheLimit(env: Record<string, string | undefined>): number | undefined {
  const v = env.GADGET_CACHE_MAX_SIZE;
  if (v === undefined || v === "") return DEFAULT_CACHE_MAX_BYTES;
  const n = parseSize(v);
  if (n === undefined) throw new GadgetError({ what: "invalid environment", which: "GADGET_CACHE_MAX_SIZE", why: `${JSON.stringify(v)} is not a size`, hint: "use e.g. 500M, 2G or 1GiB (0: no bound)", code: "USAGE" });
  return n === 0 ? undefined : n;
}

interface FileInfo {
  path: string;
  size: number;
  mtimeMs: number;
}

async function listFiles(dir: string): Promise<FileInfo[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: FileInfo[] = [];
  await Promise.all(
    names.map(async (n) => {
      const path = join(dir, n);
      try {
        const st = await stat(path);
        if (st.isFile()) out.push({ path, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        /* removed meanwhile */
      }
    }),
  );
  return out;
}

const TOP_FILES = ["fingerprints.json", "tools.json", "steps.json", "gadgetfile.json"];

/** How much .gadget/ holds. */
export async function cacheUsage(root: string): Promise<CacheUsage> {
  const [cas, actions, manifests, top] = await Promise.all([listFiles(join(root, "cas")), listFiles(join(root, "actions")), listFiles(join(root, "manifests")), Promise.all(TOP_FILES.map((f) => stat(join(root, f)).then((s) => s.size, () => 0)))]);
  const sum = (xs: FileInfo[]) => xs.reduce((a, f) => a + f.size, 0);
  return { bytes: sum(cas) + sum(actions) + sum(manifests) + top.reduce((a, b) => a + b, 0), entries: actions.length };
}

interface Entry extends FileInfo {
  key?: string;
  outputs: string[];
}

async function readEntry(f: FileInfo): Promise<Entry> {
  try {
    const e = JSON.parse(await readFile(f.path, "utf8")) as { key?: string; outputs?: Record<string, { digest?: string }> };
    const outputs = Object.values(e.outputs ?? {}).map((o) => String(o.digest ?? "").slice(7)).filter(Boolean);
    return { ...f, ...(typeof e.key === "string" ? { key: e.key } : {}), outputs };
  } catch {
    return { ...f, outputs: [] }; // unreadable: goes first
  }
}

/** Remove old and least recently used entries and the outputs only they referenced. */
export async function pruneCache(root: string, o: PruneOptions = {}): Promise<PruneResult> {
  const now = o.now ?? Date.now();
  const before = await cacheUsage(root);
  const [casFiles, actionFiles, manifestFiles] = await Promise.all([listFiles(join(root, "cas")), listFiles(join(root, "actions")), listFiles(join(root, "manifests"))]);
  const entries = await Promise.all(actionFiles.filter((f) => f.path.endsWith(".json")).map(readEntry));
  const blobSize = new Map(casFiles.filter((f) => /[a-f0-9]{64}$/.test(f.path)).map((f) => [f.path.slice(-64), f]));
  const refs = new Map<string, number>();
  for (const e of entries) for (const d of e.outputs) refs.set(d, (refs.get(d) ?? 0) + 1);

  const removed = new Set<Entry>();
  const drop = (e: Entry) => {
    removed.add(e);
    for (const d of e.outputs) refs.set(d, (refs.get(d) ?? 1) - 1);
  };
  if (o.olderThanMs !== undefined) for (const e of entries) if (now - e.mtimeMs > o.olderThanMs) drop(e);
  if (o.maxBytes !== undefined) {
    const fixed = before.bytes - [...blobSize.values()].reduce((a, f) => a + f.size, 0) - entries.reduce((a, e) => a + e.size, 0);
    let total = fixed;
    for (const e of entries) if (!removed.has(e)) total += e.size;
    for (const [d, f] of blobSize) if ((refs.get(d) ?? 0) > 0) total += f.size;
    const lru = entries.filter((e) => !removed.has(e)).sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const e of lru) {
      if (total <= o.maxBytes) break;
      drop(e);
      total -= e.size;
      for (const d of new Set(e.outputs)) if ((refs.get(d) ?? 0) <= 0) total -= blobSize.get(d)?.size ?? 0;
    }
  }

  let removedFiles = 0;
  for (const e of removed) {
    await unlink(e.path).then(() => removedFiles++, () => {});
  }
  const freedOutputs = new Set<string>();
  for (const e of removed) for (const d of e.outputs) freedOutputs.add(d);
  for (const [d, f] of blobSize) {
    if ((refs.get(d) ?? 0) > 0) continue;
    // Outputs of removed entries go now; outputs nothing ever referenced (a crashed run) after a grace period.
    if (!freedOutputs.has(d) && now - f.mtimeMs < ORPHAN_GRACE_MS) continue;
    await rm(f.path, { force: true }).then(() => removedFiles++, () => {});
  }
  // Manifests whose entries are all gone.
  const live = new Set(entries.filter((e) => !removed.has(e) && e.key).map((e) => e.key!));
  for (const m of manifestFiles) {
    const k1 = /([a-f0-9]{64})\.json$/.exec(m.path)?.[1];
    if (k1 && !live.has(k1) && now - m.mtimeMs > ORPHAN_GRACE_MS) await unlink(m.path).then(() => removedFiles++, () => {});
  }
  const after = await cacheUsage(root);
  return { removedEntries: removed.size, removedFiles, freedBytes: Math.max(0, before.bytes - after.bytes), before, after };
}

/** After a run: prune to the bound when the cache is over it. */
export async function enforceCacheLimit(root: string, env: Record<string, string | undefined>): Promise<PruneResult | undefined> {
  const max = cacheLimit(env);
  if (max === undefined) return undefined;
  const usage = await cacheUsage(root);
  if (usage.bytes <= max) return undefined;
  return pruneCache(root, { maxBytes: max });
}
