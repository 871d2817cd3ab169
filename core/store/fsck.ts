/**
 * `image fsck`: checks a store against the OCI layout rules and what gadget promises — every
 * referenced blob present with the right size and digest, manifests and indexes parse — and
 * finds garbage (unreachable blobs, temp files left by killed writers). `repair` removes the
 * garbage only; it never touches referenced content.
 */
import { lstat, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { digestAlgorithm, digestHex, type Digest } from "../oci/digest.js";
import { MAX_MANIFEST_BYTES, successors, sniffKind, nodeKind, type Descriptor } from "../oci/model.js";
import { acquireFileLock, withFileLock } from "./lock.js";
import { LayoutStore, LOCK_FILE, TEMP_DIR, WRITERS_LOCK, refNameOf } from "./layout-store.js";
import { classifyTemps, removeTemps, tempDirProblem } from "./temp-dir.js";

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

async function hashFile(path: string, algo: "sha256" | "sha512"): Promise<{ digest: Digest; size: number }> {
  const h = createHash(algo);
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `${algo}:${h.digest("hex")}`, size };
}

export async function fsck(root: string, opts: { repair?: boolean } = {}): Promise<FsckReport> {
  const report = emptyReport(root);
  let store: LayoutStore;
  try {
    store = await LayoutStore.open(root, { create: false });
  } catch (e) {
    report.problems.push((e as Error).message);
    return report;
  }
  let { unreachable, temps, failed, unsafeTemp } = await examine(store, root, report);
  if (failed) return report;
  if (report.problems.length > 0) {
    // a concurrent rm may have untagged and collected between our index read and the blob reads:
    // problems count only if they are still there in a consistent view (under the index lock)
    const again = emptyReport(root);
    const second = await withFileLock(join(root, LOCK_FILE), () => examine(store, root, again)).catch(() => undefined);
    if (second) {
      ({ unreachable, temps, failed, unsafeTemp } = second);
      Object.assign(report, again);
      if (failed) return report;
    }
  }

  if (opts.repair && unsafeTemp) {
    // the writers lock lives in .tmp: taking it would go wherever an unsafe .tmp points
    report.problems.push(`repair skipped: fix ${TEMP_DIR} first`);
    return report;
  }
  if (opts.repair && (unreachable.length > 0 || temps.length > 0)) {
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
        // re-check reachability under the lock: a writer may have tagged since
        const fresh = await store.reachable(await store.entries());
        for (const d of unreachable) {
          if (fresh.has(d)) continue;
          await store.deleteBlob(d);
          report.repaired.push(`removed unreachable blob ${d}`);
        }
        // only our own temp names whose writer is gone (re-checked now that we hold the locks)
        const stale = new Set((await classifyTemps(join(root, TEMP_DIR), [WRITERS_LOCK])).stale);
        for (const t of temps) {
          if (!stale.has(t)) continue;
          await removeTemps(join(root, TEMP_DIR), [t]);
          report.repaired.push(`removed stale temp file ${TEMP_DIR}/${t}`);
        }
      });
    } finally {
      await writers.close();
    }
    report.garbage = [];
  }
  void digestHex;
  return report;
}


interface Examined {
  unreachable: Digest[];
  /** Stale temp entries (ours, writer gone). */
  temps: string[];
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
    return { unreachable: [], temps: [], failed: true, unsafeTemp: false };
  }

  const reachable = new Set<Digest>();
  const verified = new Map<Digest, boolean>();
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
    } catch {
      report.problems.push(`missing blob: ${d.digest} (referenced by ${from})`);
    }
    verified.set(d.digest, ok);
    return ok;
  };

  const walk = async (d: Descriptor, from: string, depth: number, path: Digest[]): Promise<void> => {
    if (path.includes(d.digest)) {
      report.problems.push(`cycle: ${d.digest} reaches itself`);
      return;
    }
    if (depth > 16) {
      report.problems.push(`too deep: ${d.digest} nested more than 16 levels`);
      return;
    }
    reachable.add(d.digest);
    if (!(await verifyBlob(d, from))) return;
    let kind = nodeKind(d.mediaType);
    if (kind === "blob" && (d.mediaType || d.size > MAX_MANIFEST_BYTES)) return;
    if (kind !== "blob" && d.size > MAX_MANIFEST_BYTES) {
      report.problems.push(`unreadable ${kind}: ${d.digest} (${from}) is ${d.size} bytes, larger than the ${MAX_MANIFEST_BYTES}-byte limit`);
      return;
    }
    const bytes = await store.fetchBytes(d).catch(() => undefined);
    if (!bytes) return;
    if (kind === "blob") kind = sniffKind(bytes);
    if (kind === "blob") return;
    let children: Descriptor[];
    try {
      children = successors(kind, bytes, d.digest);
    } catch (e) {
      report.problems.push(`unparseable ${kind}: ${(e as Error).message}`);
      return;
    }
    for (const c of children) await walk(c, `${kind} ${d.digest}`, depth + 1, [...path, d.digest]);
  };

  for (const e of entries) await walk(e, refNameOf(e) ? `tag ${refNameOf(e)}` : "index.json", 0, []);

  // garbage: blobs nothing reaches, temp files
  const unreachable: Digest[] = [];
  for (const d of await store.listBlobs()) {
    if (!reachable.has(d)) {
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

  return { unreachable, temps, failed: false, unsafeTemp: unsafe !== undefined };
}