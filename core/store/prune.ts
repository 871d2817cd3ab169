/**
 * `gadget image prune`: remove what no tag reaches — unreachable blobs and stale temp files of
 * killed writers — under the store's locks (the writers lock exclusively: no gadget process may
 * be between writing a blob and tagging it; the index lock: no tag changes meanwhile). Indexes go
 * before the manifests they list and manifests before their blobs, so an interrupted prune never
 * leaves a node whose children are gone. When a referenced index or manifest cannot be read, what
 * it references is unknown and no blob is removed. `fsck --repair` removes garbage with the same
 * sweep; `gadget run` uses sweepBlobs for the blobs its rebuilds replaced.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { GadgetError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { KEEP_GRAPH_DEPTH, MAX_MANIFEST_BYTES, nodeKind, sniffKind, type Descriptor } from "../oci/model.js";
import { walkGraph } from "../oci/walk.js";
import { fileMatches } from "./hash-file.js";
import { LayoutStore, LOCK_FILE, TEMP_DIR, WRITERS_LOCK } from "./layout-store.js";
import { withFileLock } from "./lock.js";
import { classifyTemps, removeTemps } from "./temp-dir.js";

export interface PruneItem {
  kind: "index" | "manifest" | "blob" | "temp";
  /** A digest, or `.tmp/<name>` for a temp file. */
  name: string;
  bytes: number;
}

export interface PruneReport {
  store: string;
  dryRun: boolean;
  /** Removed (or, on a dry run, what would be). Indexes first, then manifests, blobs, temp files. */
  items: PruneItem[];
  freed: number;
  notes: string[];
}

export const BUSY_NOTE = "another gadget process is writing to the store: prune removes nothing while it runs";

/** Every digest the roots reach, and the referenced nodes that could not be read (then "unreachable" means nothing). */
export async function reachFrom(store: LayoutStore, roots: Descriptor[]): Promise<{ reached: Set<Digest>; unknown: string[] }> {
  const reached = new Set<Digest>();
  const unknown: string[] = [];
  await walkGraph(store, roots, {
    maxDepth: KEEP_GRAPH_DEPTH,
    read: (d) => store.fetchBytes(d),
    async enter(d) {
      reached.add(d.digest);
      const mayHaveChildren = nodeKind(d.mediaType) !== "blob" || (!d.mediaType && d.size <= MAX_MANIFEST_BYTES);
      if (!mayHaveChildren) return true;
      if (await fileMatches(store.blobPath(d.digest), d.digest, d.size)) return true;
      unknown.push(d.digest);
      return false;
    },
    unreadable(d) {
      unknown.push(d.digest);
    },
  }).catch((err: unknown) => unknown.push(String((err as GadgetError).which ?? (err as Error).message)));
  return { reached, unknown };
}

async function sizeOf(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

/** index / manifest / blob, by sniffing small blobs (unreachable ones have no descriptor). */
async function kindOf(store: LayoutStore, digest: Digest, size: number): Promise<PruneItem["kind"]> {
  if (size > MAX_MANIFEST_BYTES) return "blob";
  try {
    return sniffKind(await store.readBlob(digest));
  } catch {
    return "blob";
  }
}

const ORDER: Record<PruneItem["kind"], number> = { index: 0, manifest: 1, blob: 2, temp: 3 };

/**
 * The garbage sweep itself; the caller holds the writers lock exclusively and the index lock.
 * `only`: consider just these digests (a run's replaced images), else every blob in the store.
 */
export async function sweep(store: LayoutStore, opts: { dryRun?: boolean; only?: Iterable<Digest>; temps?: boolean } = {}): Promise<{ items: PruneItem[]; notes: string[] }> {
  const notes: string[] = [];
  const { reached, unknown } = await reachFrom(store, await store.entries());
  const candidates = opts.only ? [...new Set(opts.only)] : await store.listBlobs();
  const items: PruneItem[] = [];
  const unreachable: Digest[] = [];
  for (const d of candidates) if (!reached.has(d) && (await store.hasBlob(d))) unreachable.push(d);
  if (unreachable.length > 0 && unknown.length > 0) {
    notes.push(`kept ${unreachable.length} blob(s) no tag reaches: ${unknown.join(", ")} could not be read, so what it references is unknown (run \`gadget image fsck\`)`);
  } else {
    for (const d of unreachable) {
      const bytes = await sizeOf(store.blobPath(d));
      items.push({ kind: await kindOf(store, d, bytes), name: d, bytes });
    }
  }
  items.sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (opts.temps !== false) {
    const tmpDir = join(store.root, TEMP_DIR);
    const stale = (await classifyTemps(tmpDir, [WRITERS_LOCK]).catch(() => ({ stale: [] as string[] }))).stale;
    for (const t of stale) items.push({ kind: "temp", name: `${TEMP_DIR}/${t}`, bytes: await sizeOf(join(tmpDir, t)) });
  }
  if (!opts.dryRun) {
    for (const it of items) {
      if (it.kind === "temp") await removeTemps(join(store.root, TEMP_DIR), [it.name.slice(TEMP_DIR.length + 1)]);
      else await store.deleteBlob(it.name as Digest);
    }
  }
  return { items, notes };
}

/**
 * Run `fn` with the writers lock held exclusively (no wait) and the index lock; undefined when
 * another gadget process is writing.
 */
export async function withExclusiveStore<T>(store: LayoutStore, fn: () => Promise<T>): Promise<T | undefined> {
  const writers = await store.tryExclusiveWriters();
  if (!writers) return undefined;
  try {
    return await withFileLock(join(store.root, LOCK_FILE), fn);
  } finally {
    await writers.close();
  }
}

export async function prune(root: string, opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
  const store = await LayoutStore.open(root, { create: false });
  const dryRun = Boolean(opts.dryRun);
  const done = await withExclusiveStore(store, () => sweep(store, { dryRun }));
  let result = done;
  const notes: string[] = [];
  if (!result) {
    if (!dryRun) {
      throw new GadgetError({ what: "pruning the store", which: root, why: "another gadget process is writing to the store", hint: "run `gadget image prune` again when it finishes", code: "STORE" });
    }
    // a dry run still reports (without the locks: the answer may be stale by the time it prints)
    result = await sweep(store, { dryRun: true });
    notes.push(BUSY_NOTE);
  }
  notes.push(...result.notes);
  return { store: root, dryRun, items: result.items, freed: result.items.reduce((n, i) => n + i.bytes, 0), notes };
}
