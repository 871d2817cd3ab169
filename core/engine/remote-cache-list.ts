/**
 * `gadget cache ls --remote` and `gadget cache prune --remote --older-than DUR`: the entries of a
 * remote step cache (tags `step-sha256-<key>`), and deleting old ones by manifest digest together
 * with their signatures (`sha256-<manifest hex>.sig`). The registry must allow deletes.
 */
import type { Digest } from "../oci/digest.js";
import type { RemoteRepository } from "../registry/repository.js";
import { cosignSignatureTag } from "../sign/constants.js";
import { decodeConfig, decodeManifest, embeddedBytes, EntryRejected, keyOfTag } from "./remote-cache-entry.js";

export interface RemoteEntryInfo {
  key: string;
  tag: string;
  digest: Digest;
  /** "clang@3"; "?" when the entry cannot be read. */
  stage: string;
  outputs: string[];
  /** Bytes of the entry's layers. */
  size: number;
  /** RFC 3339, from the manifest's org.opencontainers.image.created. */
  created?: string;
  /** Why the entry is unusable (another key, corrupt), if it is. */
  problem?: string;
}

async function mapLimit<T, R>(items: T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function describe(repo: RemoteRepository, tag: string, key: string): Promise<RemoteEntryInfo> {
  const { descriptor, bytes } = await repo.fetchManifest(tag);
  const base = { key, tag, digest: descriptor.digest as Digest };
  let m;
  try {
    m = decodeManifest(bytes, key);
  } catch (e) {
    if (e instanceof EntryRejected) return { ...base, stage: "?", outputs: [], size: 0, problem: e.kind === "another-key" ? "entry for another key" : "corrupt entry" };
    throw e;
  }
  const size = m.layers.reduce((n, l) => n + l.size, 0);
  try {
    let configBytes = embeddedBytes(m.config);
    if (!configBytes) {
      const { readAll } = await import("../oci/content.js");
      configBytes = await readAll(await repo.fetch(m.config), Math.max(1, m.config.size));
    }
    const cfg = decodeConfig(configBytes, key, m.layers);
    return { ...base, stage: `${cfg.stage.name}@${cfg.stage.version}`, outputs: cfg.outputs.map((o) => o.name), size, ...(m.created ? { created: m.created } : {}) };
  } catch (e) {
    if (e instanceof EntryRejected) return { ...base, stage: "?", outputs: [], size, ...(m.created ? { created: m.created } : {}), problem: e.kind === "another-key" ? "entry for another key" : "corrupt entry" };
    throw e;
  }
}

/** Every entry of the repository, oldest first. */
export async function listRemoteEntries(repo: RemoteRepository): Promise<RemoteEntryInfo[]> {
  const tags = (await repo.tags()).map((t) => ({ tag: t, key: keyOfTag(t) })).filter((x): x is { tag: string; key: string } => x.key !== undefined);
  const entries = await mapLimit(tags, 4, (x) => describe(repo, x.tag, x.key));
  return entries.sort((a, b) => (a.created ?? "").localeCompare(b.created ?? "") || a.key.localeCompare(b.key));
}

/** Whether an entry created at `created` is older than `olderThanMs` at `now` (unknown age: old). */
export function isOlder(created: string | undefined, olderThanMs: number, now: number): boolean {
  const t = created ? Date.parse(created) : Number.NaN;
  if (Number.isNaN(t)) return true;
  return t <= now - olderThanMs;
}

export interface PruneResult {
  removed: RemoteEntryInfo[];
  kept: number;
  signaturesRemoved: number;
}

/** Delete entries older than `olderThanMs` (by manifest digest), and their signatures. */
export async function pruneRemoteEntries(repo: RemoteRepository, olderThanMs: number, now = Date.now()): Promise<PruneResult> {
  const entries = await listRemoteEntries(repo);
  const old = entries.filter((e) => isOlder(e.created, olderThanMs, now));
  let signaturesRemoved = 0;
  const deleted = new Set<string>();
  for (const e of old) {
    if (!deleted.has(e.digest)) {
      await repo.deleteManifest(e.digest);
      deleted.add(e.digest);
    }
    try {
      const sig = await repo.resolve(cosignSignatureTag(e.digest));
      if (!deleted.has(sig.digest)) {
        await repo.deleteManifest(sig.digest as Digest);
        deleted.add(sig.digest);
        signaturesRemoved++;
      }
    } catch (err) {
      if ((err as { code?: string }).code !== "NOT_FOUND") throw err;
    }
  }
  return { removed: old, kept: entries.length - old.length, signaturesRemoved };
}
