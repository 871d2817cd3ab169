/**
 * `image export`: the named images (and their child manifests, signature tags and referrers) as
 * an OCI image layout in a deterministic USTAR tar (DESIGN §9) — the format ig's `image export`
 * writes: regular files only, sorted paths, blobs 0444 and the rest 0644, uid/gid 0 "root",
 * mtime 0, index.json entries sorted by digest. Blobs are streamed from the store and
 * digest-verified on the way; the file is written to a temp name and renamed.
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { open, realpath, rename, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import type { Writable } from "node:stream";
import { GadgetError, describeSystemError, systemErrorCode, type ErrorCode } from "../errors.js";
import { digestAlgorithm, digestHex, digestMismatch, sizeMismatch, type Digest } from "../oci/digest.js";
import { encodeIndex, compareGoStrings } from "../oci/gojson.js";
import { Annotation, MediaType } from "../oci/media-types.js";
import type { Descriptor, Index } from "../oci/model.js";
import { walkGraph } from "../oci/walk.js";
import { formatReference, isSignatureTag, parseReference } from "../oci/reference.js";
import { releaseTemp, sweepDeadTemps, tempPath } from "../store/atomic.js";
import { LayoutStore, refNameOf } from "../store/layout-store.js";
import { TarWriter, fileSink, streamSink, type TarSink } from "../tar/writer.js";

export interface ExportOptions {
  storeDir: string;
  /** Image references (normalized as ig does); each needs a tag. */
  references: string[];
  /** Destination tar; "-" writes to stdout (or `stdout` when given). */
  file: string;
  onProgress?: (e: unknown) => void;
  /** Where "-" writes (default process.stdout). */
  stdout?: Writable;
}

export interface ExportedImage {
  reference: string;
  digest: string;
}

export interface ExportResult {
  file: string;
  images: ExportedImage[];
  /** The signature tags written along (`sha256-<hex>.sig`, `sha256-<hex>`), sorted. */
  signatures: string[];
}

/** Progress events of export and import (bytes of archive written or read). */
export interface TransferProgress {
  phase: "export" | "import";
  bytes: number;
  /** Total bytes when known. */
  total?: number;
  /** The entry being written or read. */
  entry?: string;
  done?: boolean;
}

export const LAYOUT_JSON = '{"imageLayoutVersion":"1.0.0"}';
export const BLOB_MODE = 0o444;
export const FILE_MODE = 0o644;

interface PlannedBlob {
  desc: Descriptor;
  /** Bytes from the descriptor's `data` when the store has no file for it (the empty config). */
  inline?: Buffer;
}

export interface ExportPlan {
  index: Index;
  blobs: PlannedBlob[];
  images: ExportedImage[];
  /** Signature tags that go along (sorted). */
  signatures: string[];
  totalBytes: number;
}

function exportError(which: string, why: string, hint?: string, cause?: unknown, code?: ErrorCode): GadgetError {
  return new GadgetError({ what: "exporting images", which, why, hint, cause, code });
}

export function blobPathInLayout(digest: Digest): string {
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

const SIG_TAG_RE = /^sha256-([a-f0-9]{64})(\.(sig|att|sbom))?$/;

/** Work out what goes into the archive: index entries, blobs (sorted), totals. */
export async function planExport(store: LayoutStore, references: string[]): Promise<ExportPlan> {
  const entries = await store.entries();
  const tagged = new Map<string, Descriptor>();
  const images: ExportedImage[] = [];

  for (const input of references) {
    const ref = parseReference(input);
    if (!ref.tag) {
      throw exportError(JSON.stringify(input), "an exported image needs a tag, not only a digest", "export it by name, e.g. NAME:TAG");
    }
    const name = formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
    if (tagged.has(name)) continue;
    const entry = entries.find((e) => refNameOf(e) === name);
    if (!entry) {
      throw new GadgetError({ what: "exporting images", which: JSON.stringify(input), why: "not found in the local store", hint: "`gadget image list` shows the images in the store", code: "NOT_FOUND" });
    }
    if (ref.digest && entry.digest !== ref.digest) {
      throw exportError(JSON.stringify(input), `the tag points at ${entry.digest}, not ${ref.digest}`);
    }
    tagged.set(name, withRefName(entry, name));
    images.push({ reference: name, digest: entry.digest });
  }

  const nodes = new Map<Digest, PlannedBlob>();
  const manifests = new Set<Digest>();
  const untagged = new Map<Digest, Descriptor>();

  const seen = new Set<Digest>();
  /** Plan one image (or signature) and what it references; `owner` names it in errors. */
  const walk = (root: Descriptor, owner: string): Promise<void> =>
    walkGraph(store, [root], {
      read: async (desc) => readVerified(store, desc),
      enter(desc) {
        if (seen.has(desc.digest)) return false;
        seen.add(desc.digest);
        if (desc.digest.startsWith("sha512:")) throw exportError(owner, `${desc.digest}: sha512 blobs do not fit a USTAR path; only sha256 is exported`);
        const st = statSync(store.blobPath(desc.digest), { throwIfNoEntry: false });
        if (st !== undefined && st.isFile() && st.size === desc.size) {
          nodes.set(desc.digest, { desc });
          return true;
        }
        const inline = desc.data ? Buffer.from(desc.data, "base64") : undefined;
        if (inline && inline.length === desc.size && `sha256:${createHash("sha256").update(inline).digest("hex")}` === desc.digest) {
          nodes.set(desc.digest, { desc, inline });
          return false;
        }
        throw exportError(
          owner,
          st !== undefined ? `blob ${desc.digest} in the store does not have the ${desc.size} bytes its descriptor says` : `blob ${desc.digest} is missing from the store`,
          "run `gadget image fsck`, then pull or build the image again",
          undefined,
          "NOT_FOUND",
        );
      },
      leave(node) {
        if (node.kind === "blob") return;
        manifests.add(node.desc.digest);
        if (node.kind === "index") for (const child of node.children) if (!untagged.has(child.digest)) untagged.set(child.digest, child);
      },
    }).catch((e: unknown) => {
      // the walker's own refusals, named by the image being exported
      const g = e as GadgetError;
      if (g instanceof GadgetError && (g.code === "CYCLE" || g.code === "TOO_DEEP")) throw exportError(owner, `${g.why} at ${g.which}`);
      throw e;
    });

  await Promise.all([...tagged].map(([name, desc]) => walk(desc, name)));

  // signature tags (cosign's sha256-<hex>.sig) of anything exported, then OCI referrers
  for (let round = 0; round < 8; round++) {
    let added = false;
    for (const e of entries) {
      const name = refNameOf(e);
      if (!name || tagged.has(name) || !isSignatureTag(name)) continue;
      const m = SIG_TAG_RE.exec(name);
      if (m && manifests.has(`sha256:${m[1]}` as Digest)) {
        tagged.set(name, e);
        await walk(e, name);
        added = true;
      }
    }
    const candidates = entries.filter((e) => {
      const name = refNameOf(e);
      return name ? !tagged.has(name) : !untagged.has(e.digest) && !manifests.has(e.digest);
    });
    for (const r of await store.referrersOf(candidates, manifests)) {
      const name = refNameOf(r);
      if (name) tagged.set(name, r);
      else untagged.set(r.digest, r);
      await walk(r, name ?? r.digest);
      added = true;
    }
    if (!added) break;
  }

  const taggedDigests = new Set([...tagged.values()].map((d) => d.digest));
  const indexEntries = [...tagged.values(), ...[...untagged.values()].filter((d) => !taggedDigests.has(d.digest))];
  indexEntries.sort((a, b) => compareGoStrings(a.digest, b.digest) || compareGoStrings(refNameOf(a) ?? "", refNameOf(b) ?? ""));

  const blobs = [...nodes.values()].sort((a, b) => compareGoStrings(a.desc.digest, b.desc.digest));
  // the top-level mediaType as oras v2.6's oci.Store writes a new layout's index.json (ig's export)
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: indexEntries };
  const totalBytes = blobs.reduce((n, b) => n + b.desc.size, 0);
  const signatures = [...tagged.keys()].filter((n) => isSignatureTag(n)).sort();
  return { index, blobs, images, signatures, totalBytes };
}

function withRefName(d: Descriptor, name: string): Descriptor {
  return { ...d, annotations: { ...(d.annotations ?? {}), [Annotation.RefName]: name } };
}

/** Blobs up to this size are read whole (one read, one hash); larger ones are streamed. */
const SMALL_BLOB = 4 * 1024 * 1024;

/** Read a (small) store blob whole and check its size and digest. */
async function readVerified(store: LayoutStore, desc: Descriptor): Promise<Buffer> {
  let bytes: Buffer;
  try {
    // synchronous on purpose: a small read from the page cache costs less than the four
    // thread-pool round trips (open, fstat, read, close) of the promise API
    bytes = readFileSync(store.blobPath(desc.digest));
  } catch (e) {
    throw exportError(desc.digest, `reading the blob from ${store.root}: ${describeSystemError(e)}`, undefined, e);
  }
  if (bytes.length !== desc.size) throw sizeMismatch(`${desc.digest} in ${store.root}`, desc.size, String(bytes.length));
  const got = `${digestAlgorithm(desc.digest)}:${createHash(digestAlgorithm(desc.digest)).update(bytes).digest("hex")}`;
  if (got !== desc.digest) throw digestMismatch(`${desc.digest} in ${store.root}`, desc.digest, got);
  return bytes;
}

/** Stream a store blob, hashing it; the digest is checked when the last byte has passed. */
async function* verifiedBlob(store: LayoutStore, desc: Descriptor): AsyncGenerator<Buffer> {
  const hash = createHash(digestAlgorithm(desc.digest));
  const stream = createReadStream(store.blobPath(desc.digest), { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      yield chunk;
    }
  } finally {
    stream.destroy();
  }
  const got = `${digestAlgorithm(desc.digest)}:${hash.digest("hex")}`;
  if (got !== desc.digest) throw digestMismatch(`${desc.digest} in ${store.root}`, desc.digest, got);
}

/** Write the planned archive to a sink. */
export async function writeExport(store: LayoutStore, plan: ExportPlan, sink: TarSink, onProgress?: (e: TransferProgress) => void): Promise<number> {
  const tw = new TarWriter(sink);
  const total = plan.totalBytes;
  let bytes = 0;
  for (const b of plan.blobs) {
    const path = blobPathInLayout(b.desc.digest);
    const tick = (n: number) => {
      bytes += n;
      onProgress?.({ phase: "export", bytes, total, entry: path });
    };
    const content = b.inline ?? (b.desc.size <= SMALL_BLOB ? await readVerified(store, b.desc) : verifiedBlob(store, b.desc));
    await tw.addFile(path, b.desc.size, content, { mode: BLOB_MODE }, tick);
  }
  const indexBytes = encodeIndex(plan.index);
  await tw.addFile("index.json", indexBytes.length, indexBytes, { mode: FILE_MODE });
  const layout = Buffer.from(LAYOUT_JSON);
  await tw.addFile("oci-layout", layout.length, layout, { mode: FILE_MODE });
  await tw.finish();
  onProgress?.({ phase: "export", bytes, total, done: true });
  return tw.bytes;
}

/** Export images from the store at `storeDir` to a tar file (or stdout for "-"). */
export async function exportImages(opts: ExportOptions): Promise<ExportResult> {
  if (opts.references.length === 0) {
    throw new GadgetError({ what: "exporting images", why: "no image given", hint: "usage: gadget image export IMAGE [IMAGE…] FILE", exitCode: 2, code: "USAGE" });
  }
  if (!opts.file) throw new GadgetError({ what: "exporting images", why: "no destination file given", exitCode: 2, code: "USAGE" });
  const store = await LayoutStore.open(opts.storeDir, { create: false });
  const plan = await planExport(store, opts.references);
  const progress = opts.onProgress as ((e: TransferProgress) => void) | undefined;

  if (opts.file === "-") {
    const out = opts.stdout ?? process.stdout;
    try {
      await writeExport(store, plan, streamSink(out), progress);
    } catch (e) {
      throw wrapWriteError(e, "stdout");
    }
    return { file: "-", images: plan.images, signatures: plan.signatures };
  }

  const target = resolve(opts.file);
  await refuseInsideStore(target, store.root, opts.file);
  const tmp = tempPath(dirname(target), `.${basename(target)}`);
  let fh;
  try {
    fh = await open(tmp, "wx", FILE_MODE);
  } catch (e) {
    releaseTemp(tmp);
    throw exportError(opts.file, describeSystemError(e), "check that the destination directory exists and is writable", e, systemErrorCode(e));
  }
  try {
    try {
      await writeExport(store, plan, fileSink(fh), progress);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw wrapWriteError(e, opts.file);
  } finally {
    releaseTemp(tmp);
  }
  // temp files of exports to this same file that were killed mid-write
  await sweepDeadTemps(dirname(target), `.${basename(target)}`).catch(() => 0);
  return { file: opts.file, images: plan.images, signatures: plan.signatures };
}

/** The path with its folder's symlinks and `..` resolved (as far as the folders exist). */
async function realLocation(path: string): Promise<string> {
  const dir = dirname(path);
  if (dir === path) return path;
  try {
    return join(await realpath(dir), basename(path));
  } catch {
    return join(await realLocation(dir), basename(path));
  }
}

/** An archive written into the store would replace its files (`export IMG $STORE/index.json` drops every tag). */
async function refuseInsideStore(target: string, storeRoot: string, which: string): Promise<void> {
  const store = await realpath(storeRoot).catch(() => resolve(storeRoot));
  const dest = await realLocation(target);
  if (dest === store || dest.startsWith(store.endsWith(sep) ? store : store + sep)) {
    throw exportError(which, `the destination is inside the OCI store ${storeRoot}: writing there would damage the store`, "write the archive somewhere outside the store");
  }
}

function wrapWriteError(e: unknown, which: string): GadgetError {
  if (e instanceof GadgetError) return e;
  return exportError(which, describeSystemError(e), undefined, e, systemErrorCode(e));
}
