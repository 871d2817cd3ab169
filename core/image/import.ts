/**
 * `image import`: an OCI-layout tar (ours, ig's, skopeo's `oci-archive:`, gzip-compressed or not)
 * into the local store (DESIGN §9). The archive is read once, as a stream: each blob is hashed
 * while it is staged in the store's own `.tmp/` directory and rejected on the spot if its bytes do
 * not match the digest its path names. When the whole archive has been read, oci-layout and
 * index.json are checked, the graph of every imported tag is walked (every referenced blob must be
 * present, with the size its descriptor says), and only then — under the index lock, in one
 * update — are the staged blobs renamed into blobs/ and the tags added. Any failure leaves the
 * store as it was: same index.json, no new blobs, no temp files.
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, open, readFile, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { writevAll } from "../io.js";
import { forEachLimit } from "../limit.js";
import { GadgetError, describeSystemError, isGadgetError, systemErrorCode, type ErrorCode } from "../errors.js";
import { digestAlgorithm, digestHex, isDigest, type Digest } from "../oci/digest.js";
import { Annotation } from "../oci/media-types.js";
import { MAX_GRAPH_DEPTH, MAX_MANIFEST_BYTES, parseIndex, type Descriptor } from "../oci/model.js";
import { walkGraph } from "../oci/walk.js";
import { formatReference, isSignatureTag, isValidTag, parseReference } from "../oci/reference.js";
import { LayoutStore, TEMP_DIR, refNameOf } from "../store/layout-store.js";
import { ensureDir } from "../store/temp-dir.js";
import { releaseTemp, trackTemp } from "../store/atomic.js";
import { fileMatches } from "../store/hash-file.js";
import { GzipBombError, GzipDataError, gunzipBounded, sniffGzip, type GunzipLimits } from "../tar/gzip.js";
import { TarFormatError, readTar, type TarEntry, type TarReadLimits } from "../tar/reader.js";
import type { TransferProgress } from "./export.js";

export interface ImportLimits extends TarReadLimits, GunzipLimits {
  /** Largest index.json accepted (default 4 MiB, as manifests). */
  maxIndexBytes?: number;
}

export interface ImportOptions {
  storeDir: string;
  /** Source tar; "-" reads stdin (or `stdin` when given). */
  file: string;
  onWarning?: (msg: string) => void;
  onProgress?: (e: unknown) => void;
  /** Where "-" reads from (default process.stdin). */
  stdin?: Readable;
  limits?: ImportLimits;
}

export interface ImportedImage {
  reference: string;
  digest: string;
}

export interface ImportResult {
  /** Imported tags, signature tags left out (as ig prints them). */
  images: ImportedImage[];
  /** Imported signature tags (`sha256-<hex>.sig`, …). */
  signatures: ImportedImage[];
}

const MAX_LAYOUT_BYTES = 64 * 1024;
const MAX_DEPTH = MAX_GRAPH_DEPTH;

interface StagedBlob {
  size: number;
  /** Staged file, or undefined when the store already had this (verified) blob. */
  file?: string;
}

interface PlannedTag {
  name: string;
  /** Position in the archive's index.json. */
  position: number;
  desc: Descriptor;
  signature: boolean;
}

class ImportFailure extends GadgetError {}

type FailFn = (which: string | undefined, why: string, hint?: string, code?: ErrorCode) => never;

/**
 * Import every tagged image of an OCI-layout archive into the store. Nothing is added to
 * index.json until every referenced blob has been read and verified.
 */
export async function importImages(opts: ImportOptions): Promise<ImportResult> {
  const label = opts.file === "-" ? "stdin" : opts.file;
  const fail: FailFn = (which, why, hint, code) => {
    throw new ImportFailure({ what: "importing images", which: which ? `${label}: ${which}` : label, why, hint, code: code ?? "INVALID_ARCHIVE" });
  };
  const progress = opts.onProgress as ((e: TransferProgress) => void) | undefined;
  const limits = opts.limits ?? {};

  // check the input first: a missing file must not create or touch anything
  let input: AsyncIterable<Uint8Array> | undefined;
  let total: number | undefined;
  if (opts.file === "-") {
    input = opts.stdin ?? process.stdin;
  } else {
    try {
      const st = await stat(opts.file);
      if (st.isDirectory()) fail(undefined, "is a directory, not a tar file", undefined, "EISDIR");
      total = st.size;
    } catch (e) {
      if (isGadgetError(e)) throw e;
      fail(undefined, describeSystemError(e), undefined, systemErrorCode(e));
    }
  }

  const store = await LayoutStore.open(opts.storeDir);
  const tmpRoot = join(store.root, TEMP_DIR);
  const tmpExisted = await stat(tmpRoot).then(
    () => true,
    () => false,
  );
  let staging: string | undefined;
  try {
    // a writer: fsck --repair must not delete our staging dir while we run (the name carries our
    // pid, so a later cleanup knows when its writer is gone)
    const tmpDir = await store.holdWriterLock();
    staging = await mkdtemp(join(tmpDir, `import-${process.pid}-`));
    trackTemp(staging);
  } catch (e) {
    if (isGadgetError(e)) throw e;
    throw new GadgetError({ what: "importing images", which: store.root, why: describeSystemError(e), cause: e });
  }

  try {
    // opened only now, so every early failure above leaves no open file behind
    input ??= createReadStream(opts.file, { highWaterMark: 1 << 20 });
    const source = input;
    // ---- read the archive: stage and verify blobs, keep oci-layout and index.json ----------
    let readBytes = 0;
    let lastEntry: string | undefined;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        readBytes += chunk.byteLength;
        progress?.({ phase: "import", bytes: readBytes, total, entry: lastEntry });
        yield chunk;
      }
    }
    const sniffed = await sniffGzip(counted());
    const tarBytes = sniffed.gzip ? gunzipBounded(sniffed.source, limits) : sniffed.source;

    const stager = new Stager(staging!, store, fail);
    const staged = stager.staged;
    let layoutBytes: Buffer | undefined;
    let indexBytes: Buffer | undefined;
    const maxIndex = limits.maxIndexBytes ?? MAX_MANIFEST_BYTES;

    const readSmall = async (entry: TarEntry, body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> => {
      if (entry.size > limit) fail(entry.path, `${what} is ${entry.size} bytes, more than the ${limit}-byte limit`);
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(Buffer.from(c));
      return Buffer.concat(parts);
    };

    const onEntry = async (entry: TarEntry, body: AsyncIterable<Buffer>): Promise<void> => {
      lastEntry = entry.path;
      if (entry.type === "directory") return;
      if (entry.path === "oci-layout") {
        const bytes = await readSmall(entry, body, MAX_LAYOUT_BYTES, "oci-layout");
        if (layoutBytes && !layoutBytes.equals(bytes)) fail(entry.path, "duplicate entry with different content");
        layoutBytes = bytes;
        return;
      }
      if (entry.path === "index.json") {
        const bytes = await readSmall(entry, body, maxIndex, "index.json");
        if (indexBytes && !indexBytes.equals(bytes)) fail(entry.path, "duplicate entry with different content");
        indexBytes = bytes;
        return;
      }
      if (entry.path === "blobs" || entry.path.startsWith("blobs/")) {
        const m = /^blobs\/(sha256|sha512)\/([^/]+)$/.exec(entry.path);
        const digest = m ? `${m[1]}:${m[2]}` : "";
        if (!m || !isDigest(digest)) fail(entry.path, "not a valid blob path (expected blobs/sha256/<64 lowercase hex>)");
        await stager.add(entry, digest as Digest, body);
        return;
      }
      // other files (e.g. a README) are not part of the layout: ignored
    };

    try {
      await readTar(tarBytes, onEntry, limits);
    } catch (e) {
      if (e instanceof ImportFailure) throw e;
      if (e instanceof TarFormatError) fail(e.entry, e.reason, e.entry === undefined && e.offset === 0 ? "the input must be a tar (or tar.gz) of an OCI image layout" : undefined);
      if (e instanceof GzipBombError) fail(lastEntry, e.message, "decompress it yourself if you trust it, then import the .tar", "GZIP_BOMB");
      if (e instanceof GzipDataError) fail(lastEntry, e.message);
      if (isGadgetError(e)) throw e;
      const code = systemErrorCode(e);
      // the store's filesystem refused a write (full, quota, read-only): name the store, not the archive
      if (code === "ENOSPC" || code === "EDQUOT" || code === "EROFS") throw new GadgetError({ what: "importing images", which: store.root, why: describeSystemError(e), cause: e, code });
      fail(lastEntry, describeSystemError(e), undefined, code);
    }

    // ---- check the layout ------------------------------------------------------------------
    if (!layoutBytes) fail("oci-layout", "missing: this is not an OCI image layout archive", "create archives with `gadget image export` or `skopeo copy … oci-archive:FILE`");
    let version: unknown;
    try {
      version = (JSON.parse(layoutBytes.toString("utf8")) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      fail("oci-layout", "not valid JSON");
    }
    if (version !== "1.0.0") fail("oci-layout", `unsupported imageLayoutVersion ${JSON.stringify(version)} (expected "1.0.0")`);
    if (!indexBytes) fail("index.json", "missing: this is not an OCI image layout archive");
    let entries: Descriptor[];
    try {
      entries = parseIndex(indexBytes, "index.json").manifests;
    } catch (e) {
      const g = e as GadgetError;
      fail(g.which ?? "index.json", g.why ?? g.message);
    }

    // ---- names -----------------------------------------------------------------------------
    const stem = stemOf(opts.file);
    const tags: PlannedTag[] = [];
    const untaggedCandidates: Descriptor[] = [];
    entries.forEach((d, i) => {
      const raw = refNameOf(d);
      if (raw === undefined || raw === "") {
        untaggedCandidates.push(d);
        return;
      }
      const where = `index.json manifests[${i}]`;
      const { name, signature, warning } = usableName(raw, stem, where, fail);
      if (warning) opts.onWarning?.(warning);
      const prior = tags.find((t) => t.name === name);
      if (prior) {
        if (prior.desc.digest !== d.digest) fail(where, `ref name ${JSON.stringify(name)} appears twice, for ${prior.desc.digest} and ${d.digest}`);
        return;
      }
      const desc = signature ? d : { ...d, annotations: { ...(d.annotations ?? {}), [Annotation.RefName]: name } };
      tags.push({ name, desc, signature, position: i });
    });
    if (tags.length === 0) {
      fail("index.json", "lists no tagged image (no org.opencontainers.image.ref.name annotation): nothing to import", "tag the images when creating the archive");
    }

    // ---- walk and verify every imported graph ------------------------------------------------
    const needed = new Map<Digest, StagedBlob>();
    const manifests = new Set<Digest>();
    const readNode = async (d: Descriptor, blob: StagedBlob): Promise<Buffer> => {
      if (blob.file) return readFileSync(blob.file); // small (≤ 4 MiB), ours, in the page cache
      return store.fetchBytes(d);
    };
    const where = (d: Descriptor) => `blobs/${digestAlgorithm(d.digest)}/${digestHex(d.digest)}`;
    /** Walk one imported graph (`root` named `from` in errors): every node staged or intact in the store. */
    const walk = (root: Descriptor, from: string): Promise<void> =>
      walkGraph(store, [root], {
        maxDepth: MAX_DEPTH,
        concurrency: 1,
        read: (d) => readNode(d, needed.get(d.digest)!),
        async enter(d, _depth, parent) {
          const at = parent ? where(parent.desc) : from;
          const known = needed.get(d.digest);
          if (known) {
            if (known.size !== d.size) fail(at, `${d.digest} is ${known.size} bytes, but a descriptor says ${d.size}`);
            return false;
          }
          let blob = staged.get(d.digest);
          if (blob) {
            if (blob.size !== d.size) fail(at, `${d.digest} is ${blob.size} bytes in the archive, but the descriptor says ${d.size}`);
          } else if (await store.exists(d)) {
            blob = { size: d.size };
          } else {
            fail(at, `references ${d.digest}, which is not in the archive (${where(d)} is missing)`, undefined, "MISSING_BLOB");
          }
          needed.set(d.digest, blob!);
          return true;
        },
        unreadable(d, e, _depth, parent) {
          const g = e as GadgetError;
          if (g.code === "TOO_LARGE") fail(parent ? where(parent.desc) : from, `manifest ${d.digest} of ${d.size} bytes is larger than the ${MAX_MANIFEST_BYTES}-byte limit`);
          if (e instanceof ImportFailure || !(e instanceof GadgetError)) throw e;
          fail(g.which === undefined || g.which === d.digest ? where(d) : g.which, g.why ?? g.message);
        },
        leave(node) {
          if (node.kind !== "blob") manifests.add(node.desc.digest);
        },
      }).catch((e: unknown) => {
        const g = e as GadgetError;
        if (g instanceof GadgetError && (g.code === "CYCLE" || g.code === "TOO_DEEP")) fail(from, `${g.why} at ${g.which}`);
        throw e;
      });
    for (const t of tags) await walk(t.desc, `index.json manifests[${t.position}] (${t.name})`);

    // untagged entries that are OCI referrers (subject) of an imported manifest come along
    const untagged: Descriptor[] = [];
    for (let round = 0; round < MAX_DEPTH; round++) {
      let added = false;
      for (const d of untaggedCandidates) {
        if (untagged.includes(d) || needed.has(d.digest) || d.size > MAX_MANIFEST_BYTES) continue;
        const blob = staged.get(d.digest);
        if (!blob?.file || blob.size !== d.size) continue;
        let subject: unknown;
        try {
          subject = (JSON.parse((await readFile(blob.file)).toString("utf8")) as { subject?: { digest?: unknown } }).subject?.digest;
        } catch {
          continue;
        }
        if (typeof subject === "string" && manifests.has(subject as Digest)) {
          await walk(d, `index.json manifests[${entries.indexOf(d)}]`);
          untagged.push(d);
          added = true;
        }
      }
      if (!added) break;
    }

    // ---- commit: flush staged blobs to disk, rename them into blobs/, one index update -----
    // (fsync'd together at the end rather than one by one while reading: the kernel batches them)
    await syncAll([...needed.values()].flatMap((b) => (b.file ? [b.file] : [])));
    const renamed: string[] = [];
    try {
      await store.updateIndex(async (current) => {
        const present = new Map<Digest, number | undefined>([...needed.keys()].map((d) => [d, storedSize(store, d)]));
        // the store's copies are trusted only when intact (hashed once per process): a corrupt
        // blob of the right size is replaced by the archive's
        const intact = new Map<Digest, boolean>();
        for (const [digest, blob] of needed) intact.set(digest, present.get(digest) === blob.size && (await fileMatches(store.blobPath(digest), digest, blob.size)));
        for (const [digest, blob] of needed) {
          if (!blob.file && !intact.get(digest)) {
            fail(`blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`, "the store's copy of this blob disappeared or is corrupt, and the archive does not have it", "run the import again; `gadget image fsck` checks the store");
          }
        }
        const moves = [...needed].filter(([digest, blob]) => blob.file && !intact.get(digest));
        for (const algo of new Set(moves.map(([d]) => digestAlgorithm(d)))) await ensureDir(join(store.root, "blobs", algo));
        await forEachLimit(moves, 16, async ([digest, blob]) => {
          const final = store.blobPath(digest);
          await rename(blob.file!, final);
          if (present.get(digest) === undefined) renamed.push(final);
        });
        const out = current.slice();
        for (const t of tags) {
          const i = out.findIndex((e) => refNameOf(e) === t.name);
          if (i >= 0) out[i] = t.desc;
          else out.push(t.desc);
        }
        for (const u of untagged) if (!out.some((e) => e.digest === u.digest)) out.push(u);
        return { entries: out, result: undefined };
      });
    } catch (e) {
      for (const f of renamed) await unlink(f).catch(() => {});
      if (isGadgetError(e)) throw e;
      throw new GadgetError({ what: "importing images", which: store.root, why: describeSystemError(e), cause: e, code: systemErrorCode(e) });
    }
    progress?.({ phase: "import", bytes: readBytes, total, done: true });
    return {
      images: tags.filter((t) => !t.signature).map((t) => ({ reference: t.name, digest: t.desc.digest })),
      signatures: tags.filter((t) => t.signature).map((t) => ({ reference: t.name, digest: t.desc.digest })),
    };
  } finally {
    if (input && typeof (input as Readable).destroy === "function" && opts.file !== "-") (input as Readable).destroy();
    await rm(staging!, { recursive: true, force: true }).catch(() => {});
    releaseTemp(staging!);
    if (!tmpExisted) await rmdir(tmpRoot).catch(() => {});
  }
}

/** Blobs up to this size are hashed in memory and written in one call. */
const SMALL_BLOB = 1024 * 1024;

/**
 * The staging area: each blob entry is hashed while it is written to the store's `.tmp/` and
 * refused on the spot when its bytes do not match the digest its path names. Small blobs are
 * written in one call, large ones streamed with backpressure.
 */
class Stager {
  readonly staged = new Map<Digest, StagedBlob>();

  constructor(
    private readonly dir: string,
    private readonly store: LayoutStore,
    private readonly fail: FailFn,
  ) {}

  async add(entry: TarEntry, digest: Digest, body: AsyncIterable<Buffer>): Promise<void> {
    const algo = digestAlgorithm(digest);
    const hash = createHash(algo);
    const check = () => {
      const got = `${algo}:${hash.digest("hex")}`;
      if (got !== digest) this.fail(entry.path, `content does not match its digest (got ${got})`, "the archive is corrupt or was tampered with", "DIGEST_MISMATCH");
    };
    const prior = this.staged.get(digest);
    // already staged (a duplicate entry) or already in the store, intact: verify only, write nothing
    if (prior || (storedSize(this.store, digest) === entry.size && (await fileMatches(this.store.blobPath(digest), digest, entry.size)))) {
      for await (const c of body) hash.update(c);
      check();
      if (!prior) this.staged.set(digest, { size: entry.size });
      return;
    }
    const file = join(this.dir, `${algo}-${digestHex(digest)}`);
    if (entry.size <= SMALL_BLOB) {
      const parts: Buffer[] = [];
      for await (const c of body) {
        hash.update(c);
        parts.push(c);
      }
      check();
      // synchronous on purpose: writing a small file to the page cache costs less than the
      // thread-pool round trips (open, write, close) of the promise API
      writeFileSync(file, parts.length === 1 ? parts[0]! : Buffer.concat(parts), { flag: "wx", mode: 0o444 });
      this.staged.set(digest, { size: entry.size, file });
      return;
    }
    const fh = await open(file, "wx", 0o444);
    try {
      let batch: Buffer[] = [];
      let batchBytes = 0;
      for await (const c of body) {
        hash.update(c);
        batch.push(c);
        batchBytes += c.length;
        if (batchBytes >= 1 << 20) {
          await writevAll(fh, batch);
          batch = [];
          batchBytes = 0;
        }
      }
      if (batch.length > 0) await writevAll(fh, batch);
      check();
    } catch (e) {
      await fh.close().catch(() => {});
      await unlink(file).catch(() => {});
      throw e;
    }
    await fh.close();
    this.staged.set(digest, { size: entry.size, file });
  }

}

/** Size of a blob file in the store, or undefined when there is none (a cheap synchronous stat). */
function storedSize(store: LayoutStore, digest: Digest): number | undefined {
  const st = statSync(store.blobPath(digest), { throwIfNoEntry: false });
  return st?.isFile() ? st.size : undefined;
}

/** fsync files, several at once. */
async function syncAll(files: string[], concurrency = 16): Promise<void> {
  await forEachLimit(files, concurrency, async (f) => {
    const fh = await open(f, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/** A repository name from the archive's file name, for bare tags (`latest` → `<stem>:latest`). */
export function stemOf(file: string): string {
  if (file === "-") return "imported";
  const base = basename(file).replace(/(\.tar\.gz|\.tgz|\.tar|\.oci|\.gz)$/i, "");
  const clean = base
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/[._-]{2,}/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return clean || "imported";
}

/**
 * The name a ref name from an archive is stored under. Full references are normalized as ig
 * does; cosign signature tags stay verbatim; a bare tag (what skopeo and other OCI tools write)
 * becomes `<archive name>:<tag>` with a warning, so the image is visible in `image list`.
 */
export function usableName(
  raw: string,
  stem: string,
  where: string,
  fail: (which: string | undefined, why: string, hint?: string) => never,
): { name: string; signature: boolean; warning?: string } {
  if (isSignatureTag(raw) && !raw.includes("/")) return { name: raw, signature: true };
  const bare = !raw.includes("/") && !raw.includes(":") && !raw.includes("@");
  if (bare) {
    if (!isValidTag(raw)) fail(where, `ref name ${JSON.stringify(raw)} is neither a tag nor an image reference`);
    let name: string;
    try {
      const ref = parseReference(`${stem}:${raw}`);
      name = formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag! });
    } catch {
      fail(where, `ref name ${JSON.stringify(raw)} is a bare tag and no usable image name could be made for it`);
    }
    return { name: name!, signature: false, warning: `ref name ${JSON.stringify(raw)} in the archive is a bare tag; imported as ${name!} (rename it with \`gadget image tag\`)` };
  }
  let ref;
  try {
    ref = parseReference(raw);
  } catch (e) {
    fail(where, `ref name ${JSON.stringify(raw)} is not a valid image reference: ${(e as GadgetError).why ?? (e as Error).message}`);
  }
  if (!ref!.tag) fail(where, `ref name ${JSON.stringify(raw)} has a digest but no tag`);
  const name = formatReference({ registry: ref!.registry, repository: ref!.repository, tag: ref!.tag });
  if (name !== raw) return { name, signature: false, warning: `ref name ${JSON.stringify(raw)} in the archive is not a full reference; imported as ${name}` };
  return { name, signature: false };
}
