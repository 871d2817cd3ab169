/**
 * `image fsck`: checks a store against the OCI layout rules and what gadget promises — every
 * referenced blob present with the right size and digest, manifests and indexes parse — and
 * finds garbage (unreachable blobs, temp files left by killed writers). `repair` removes the
 * garbage and moves corrupt blobs aside to `.corrupt/` (a pull or import then fetches them
 * again); it never deletes referenced content. When a referenced index or manifest fails
 * verification, what it references is unknown: no blob is then swept as unreachable.
 */
import { lstat, readdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { digestAlgorithm, digestHex, hashFile, type Digest } from "../oci/digest.js";
import { MAX_GRAPH_DEPTH, MAX_MANIFEST_BYTES, nodeKind, type Descriptor } from "../oci/model.js";
import { walkGraph, type GraphNode } from "../oci/walk.js";
import type { GadgetError } from "../errors.js";
import { acquireFileLock, withFileLock } from "./lock.js";
import { LayoutStore, LOCK_FILE, TEMP_DIR, WRITERS_LOCK, refNameOf } from "./layout-store.js";
import { classifyTemps, ensureDir, tempDirProblem } from "./temp-dir.js";
import { fileMatches } from "./hash-file.js";
import { sweep } from "./prune.js";

/** Where `fsck --repair` moves corrupt blobs (outside blobs/, so OCI tools never see them). */
export const CORRUPT_DIR = ".corrupt";

export interface FsckFinding {
  kind: "problem" | "garbage";
  message: string;
}

export interface FsckReport {
  store: string;
  problems: string[];
  garbage: string[];
  repaired: string[];
  /** Things fsck saw and deliberately left alone (e.g. files in .tmp that are not gadget's). */
  notes: string[];
  checkedBlobs: number;
}

const emptyReport = (store: string): FsckReport => ({ store, problems: [], garbage: [], repaired: [], notes: [], checkedBlobs: 0 });


export async function fsck(root: string, opts: { repair?: boolean } = {}): Promise<FsckReport> {
  const report = emptyReport(root);
  let store: LayoutStore;
  try {
    store = await LayoutStore.open(root, { create: false });
  } catch (e) {
    report.problems.push((e as Error).message);
    return report;
  }
  let found = await examine(store, root, report);
  if (found.failed) return report;
  if (report.problems.length > 0) {
    // a concurrent rm may have untagged and collected between our index read and the blob reads:
    // problems count only if they are still there in a consistent view (under the index lock)
    const again = emptyReport(root);
    const second = await withFileLock(join(root, LOCK_FILE), () => examine(store, root, again)).catch(() => undefined);
    if (second) {
      found = second;
      Object.assign(report, again);
      if (found.failed) return report;
    }
  }

  const { unreachable, temps, corrupt } = found;
  if (opts.repair && found.unsafeTemp) {
    // the writers lock lives in .tmp: taking it would go wherever an unsafe .tmp points
    report.problems.push(`repair skipped: fix ${TEMP_DIR} first`);
    return report;
  }
  if (opts.repair && (unreachable.length > 0 || temps.length > 0 || corrupt.length > 0)) {
    // Writers hold the writers lock shared while they may add blobs not yet in index.json.
    let writers;
    try {
      writers = await acquireFileLock(join(await store.tempDir(), WRITERS_LOCK), { timeoutSeconds: 0 });
    } catch {
      report.problems.push("repair skipped: another gadget process is writing to the store; run fsck --repair again when it finishes");
      return report;
    }
    try {
      await withFileLock(join(root, LOCK_FILE), async () => {
        // corrupt blobs go aside, still corrupt now that no writer runs (one may have healed it)
        for (const { desc, from } of corrupt) {
          if (await fileMatches(store.blobPath(desc.digest), desc.digest, desc.size)) continue;
          const name = await moveAside(store, desc.digest);
          report.repaired.push(`moved corrupt blob ${desc.digest} aside to ${CORRUPT_DIR}/${name} (referenced by ${from}): pull or import the image again to restore it`);
        }
        // the same sweep as `gadget image prune` (reachability re-checked under the lock: a writer may have tagged since)
        const swept = await sweep(store);
        for (const it of swept.items) {
          if (it.kind === "temp") report.repaired.push(`removed stale temp file ${it.name}`);
          else report.repaired.push(`removed unreachable ${it.kind === "blob" ? "blob" : it.kind} ${it.name}`);
        }
        report.notes.push(...swept.notes);
      });
    } finally {
      await writers.close();
    }
    report.garbage = [];
  }
  return report;
}

/** Move a blob to `.corrupt/<algo>-<hex>.<ms>` (kept for inspection; a pull then fetches a good copy). */
async function moveAside(store: LayoutStore, digest: Digest): Promise<string> {
  const dir = join(store.root, CORRUPT_DIR);
  await ensureDir(dir);
  const name = `${digestAlgorithm(digest)}-${digestHex(digest)}.${Date.now()}`;
  await rename(store.blobPath(digest), join(dir, name));
  return name;
}

/** May this node have children (an index, a manifest, or an untyped small blob)? */
function mayHaveChildren(d: Descriptor): boolean {
  return nodeKind(d.mediaType) !== "blob" || (!d.mediaType && d.size <= MAX_MANIFEST_BYTES);
}

interface Examined {
  unreachable: Digest[];
  /** Stale temp entries (ours, writer gone). */
  temps: string[];
  /** Referenced blobs that are there but fail verification (wrong size or digest). */
  corrupt: { desc: Descriptor; from: string }[];
  failed: boolean;
  /** `.tmp` is a symlink, not a folder, or someone else's. */
  unsafeTemp: boolean;
}

async function examine(store: LayoutStore, root: string, report: FsckReport): Promise<Examined> {
  let entries: Descriptor[];
  try {
    entries = await store.entries();
  } catch (e) {
    report.problems.push((e as Error).message);
    return { unreachable: [], temps: [], corrupt: [], failed: true, unsafeTemp: false };
  }

  const reachable = new Set<Digest>();
  const verified = new Map<Digest, boolean>();
  const corrupt: Examined["corrupt"] = [];
  /** Referenced nodes whose children are unknown: "digest (from)". */
  const unknownBelow: string[] = [];
  const verifyBlob = async (d: Descriptor, from: string): Promise<boolean> => {
    const known = verified.get(d.digest);
    if (known !== undefined) return known;
    const path = store.blobPath(d.digest);
    let ok = false;
    try {
      const { digest, size } = await hashFile(path, digestAlgorithm(d.digest));
      report.checkedBlobs++;
      if (size !== d.size) report.problems.push(`size mismatch: blob ${d.digest} is ${size} bytes, ${from} says ${d.size}`);
      else if (digest !== d.digest) report.problems.push(`corrupt blob: ${d.digest} hashes to ${digest}`);
      else ok = true;
      if (!ok) corrupt.push({ desc: d, from });
    } catch {
      report.problems.push(`missing blob: ${d.digest} (referenced by ${from})`);
    }
    verified.set(d.digest, ok);
    return ok;
  };

  for (const e of entries) {
    const owner = refNameOf(e) ? `tag ${refNameOf(e)}` : "index.json";
    const from = (parent: GraphNode | undefined) => (parent ? `${parent.kind} ${parent.desc.digest}` : owner);
    await walkGraph(store, [e], {
      read: (d) => store.fetchBytes(d),
      async enter(d, _depth, parent) {
        reachable.add(d.digest);
        if (await verifyBlob(d, from(parent))) return true;
        if (mayHaveChildren(d)) unknownBelow.push(`${d.digest} (${from(parent)})`);
        return false;
      },
      unreadable(d, err, _depth, parent) {
        const kind = nodeKind(d.mediaType) === "blob" ? "manifest" : nodeKind(d.mediaType);
        if ((err as GadgetError).code === "TOO_LARGE") report.problems.push(`unreadable ${kind}: ${d.digest} (${from(parent)}) is ${d.size} bytes, larger than the ${MAX_MANIFEST_BYTES}-byte limit`);
        else report.problems.push(`unparseable ${kind}: ${(err as Error).message}`);
        unknownBelow.push(`${d.digest} (${from(parent)})`);
      },
    }).catch((err: unknown) => {
      // a cycle or nesting deeper than the walker takes: what is below is unknown
      const code = (err as GadgetError).code;
      const which = (err as GadgetError).which ?? "";
      report.problems.push(code === "CYCLE" ? `cycle: ${which} reaches itself` : code === "TOO_DEEP" ? `too deep: ${which} nested more than ${MAX_GRAPH_DEPTH} levels` : (err as Error).message);
      unknownBelow.push(`${which} (${owner})`);
    });
  }

  // garbage: blobs nothing reaches (unless what some node references is unknown), temp files
  const unreachable: Digest[] = [];
  const notReached: Digest[] = [];
  for (const d of await store.listBlobs()) if (!reachable.has(d)) notReached.push(d);
  if (notReached.length > 0 && unknownBelow.length > 0) {
    report.notes.push(
      `kept ${notReached.length} blob(s) no tag reaches: ${unknownBelow.join(", ")} failed verification, so what it references is unknown and they may be its children; pull or import that image again, then run fsck --repair`,
    );
  } else {
    for (const d of notReached) {
      unreachable.push(d);
      const size = await stat(store.blobPath(d)).then((s) => s.size).catch(() => 0);
      report.garbage.push(`unreachable blob: ${d} (${size} bytes)`);
    }
  }
  for (const algo of ["sha256", "sha512"]) {
    const names = await readdir(join(root, "blobs", algo)).catch(() => [] as string[]);
    for (const n of names) if (!/^[a-f0-9]+$/.test(n)) report.garbage.push(`stray file: blobs/${algo}/${n}`);
  }
  // .tmp: lstat'ed, never followed; only our own temp names whose writer is gone are garbage
  const tmpDir = join(root, TEMP_DIR);
  const tmpStat = await lstat(tmpDir).catch(() => undefined);
  const unsafe = tmpStat ? tempDirProblem(tmpStat) : undefined;
  let temps: string[] = [];
  if (unsafe) report.problems.push(`unsafe temp folder ${TEMP_DIR}: ${unsafe}; gadget will not use it (remove it)`);
  else if (tmpStat) {
    const c = await classifyTemps(tmpDir, [WRITERS_LOCK]);
    temps = c.stale;
    for (const t of c.stale) report.garbage.push(`stale temp file: ${TEMP_DIR}/${t}`);
    for (const t of c.foreign) report.notes.push(`${TEMP_DIR}/${t} is not a gadget temp file: left alone`);
  }
  const aside = await readdir(join(root, CORRUPT_DIR)).catch(() => [] as string[]);
  if (aside.length > 0) report.notes.push(`${aside.length} corrupt blob(s) set aside in ${CORRUPT_DIR}/ (delete them when no longer needed)`);

  return { unreachable, temps, corrupt, failed: false, unsafeTemp: unsafe !== undefined };
}
