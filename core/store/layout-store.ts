/**
 * The local store: an OCI image layout 1.0.0 directory (DESIGN §5), readable by ig, skopeo
 * and umoci. Blobs land by verified temp-file + rename (mode 0444); index.json is replaced
 * atomically under ig's flock on index.json.lock, re-read inside the lock so concurrent
 * writers never lose each other's tags.
 */
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { open, readFile, readdir, rename, stat, unlink, chmod } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GadgetError, describeSystemError, systemErrorCode } from "../errors.js";
import { digestHex, isDigest, VerifyingStream, type Digest } from "../oci/digest.js";
import { isVerified, readAll, type Content, type Target, type TransferIo } from "../oci/content.js";
import { encodeIndex } from "../oci/gojson.js";
import { Annotation, MediaType } from "../oci/media-types.js";
import { KEEP_GRAPH_DEPTH, MAX_MANIFEST_BYTES, parseIndex, type Descriptor, type Index } from "../oci/model.js";
import { classify, walkGraph } from "../oci/walk.js";
import { formatReference, parseReference, type Reference } from "../oci/reference.js";
import { releaseTemp, tempPath, writeFileAtomic } from "./atomic.js";
import { classifyTemps, ensureDir, openTempDir, removeTemps } from "./temp-dir.js";
import { fileMatches } from "./hash-file.js";
import { acquireFileLock, withFileLock } from "./lock.js";
import type { FileHandle } from "node:fs/promises";

/** Blobs at least this big are read and written in CHUNK-sized pieces. */
const LARGE_BLOB = 1024 * 1024;
const CHUNK = 1024 * 1024;

/** Counts the bytes of a stream that is verified elsewhere. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

export const LAYOUT_FILE = "oci-layout";
export const INDEX_FILE = "index.json";
export const LOCK_FILE = "index.json.lock";
export const TEMP_DIR = ".tmp";
/** Writers hold a shared flock on this while they may add unreferenced blobs; `fsck --repair` needs it exclusively to delete them. */
export const WRITERS_LOCK = "writers.lock";

type IndexUpdate<T> = (entries: Descriptor[]) => Promise<{ entries: Descriptor[]; result: T }> | { entries: Descriptor[]; result: T };
interface PendingIndexUpdate {
  fn: IndexUpdate<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}
/** Per store root: the index updates waiting for the next write, and the write in progress. */
const indexBatches = new Map<string, PendingIndexUpdate[]>();
const indexWrites = new Map<string, Promise<void>>();

/** One shared writer lock per store root per process, held until the process ends (or releaseWriterLock). */
const writerLocks = new Map<string, Promise<FileHandle>>();

export async function releaseWriterLock(root: string): Promise<void> {
  const p = writerLocks.get(root);
  writerLocks.delete(root);
  if (p) await (await p.catch(() => undefined))?.close();
}
const LAYOUT_JSON = '{"imageLayoutVersion":"1.0.0"}';
/** index.json and oci-layout (explicit: the umask does not decide who may write the store). */
const FILE_MODE = 0o644;

export interface OpenOptions {
  /** Create the layout when missing (default true). */
  create?: boolean;
}

export function storeError(root: string, why: string, hint?: string, cause?: unknown): GadgetError {
  return new GadgetError({ what: "opening OCI store", which: root, why, hint, cause, code: "STORE" });
}

export class LayoutStore implements Target {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  static async open(root: string, opts: OpenOptions = {}): Promise<LayoutStore> {
    const store = new LayoutStore(root);
    let layout: string | undefined;
    try {
      layout = await readFile(join(root, LAYOUT_FILE), "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") throw storeError(root, describeSystemError(e), undefined, e);
    }
    if (layout === undefined) {
      if (opts.create === false) throw storeError(root, "not an OCI layout (no oci-layout file)");
      try {
        // ig creates its store folders 0700 (pkg/oci/local_oci_store.go: os.MkdirAll(…, 0o700))
        await ensureDir(root, 0o700);
        await ensureDir(join(root, "blobs", "sha256"));
        await writeFileAtomic(join(root, LAYOUT_FILE), LAYOUT_JSON, { fsync: false, mode: FILE_MODE });
      } catch (e) {
        throw storeError(root, describeSystemError(e), "pass a writable directory with --oci-store or GADGET_OCI_STORE", e);
      }
    } else {
      let version: unknown;
      try {
        version = (JSON.parse(layout) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch {
        throw storeError(root, "oci-layout is not valid JSON");
      }
      if (version !== "1.0.0") throw storeError(root, `unsupported imageLayoutVersion ${JSON.stringify(version)} in oci-layout`);
    }
    return store;
  }

  // ---- blobs ------------------------------------------------------------------------------

  blobPath(digest: Digest): string {
    const algo = digest.slice(0, digest.indexOf(":"));
    return join(this.root, "blobs", algo, digestHex(digest));
  }

  /**
   * Is the blob here, complete and intact? Asked by writers deciding whether to copy, so it
   * first declares this process a writer (the shared writers lock): from then on `remove` and
   * `fsck --repair` do not delete blobs this process may be counting on. (A read-only store
   * just answers.) A file of the right size is also hashed (once per process, see fileMatches):
   * a corrupt blob is "not here", so pull, import and build write a good copy over it.
   */
  async exists(desc: Descriptor): Promise<boolean> {
    await this.holdWriterLock().catch(() => undefined);
    if (!isDigest(desc.digest)) return false;
    return fileMatches(this.blobPath(desc.digest), desc.digest, desc.size);
  }

  /**
   * exists(), and for an index or manifest, the same for everything below it. A pull asks this
   * before skipping a present node: a store repaired by `fsck --repair` (a corrupt layer moved
   * aside) has a root whose children are missing, and copying skips a present node's subtree.
   */
  async existsWithGraph(desc: Descriptor, seen = new Map<Digest, Promise<boolean>>()): Promise<boolean> {
    const known = seen.get(desc.digest);
    if (known) return known;
    const p = (async () => {
      let complete = true;
      await walkGraph(this, [desc], {
        enter: async (d) => {
        if (complete && (await this.exists(d))) return true;
        complete = false;
        return false;
      },
        unreadable: () => {
          complete = false;
        },
      }).catch(() => (complete = false));
      return complete;
    })();
    seen.set(desc.digest, p);
    return p;
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  /**
   * A stream of the blob that errors if the bytes on disk do not match the descriptor. Large
   * blobs are read in 1 MiB chunks (fewer syscalls and stream turns on a push). With
   * `io.unverified` (the consumer checks the digest itself: a registry on commit) the bytes are
   * only counted, and a size that does not match the descriptor is the error.
   */
  async fetch(desc: Descriptor, io: TransferIo = {}): Promise<Readable> {
    if (!io.unverified) return this.streamBlob(desc, new VerifyingStream(desc.digest, desc.size, desc.digest), io);
    const count = new ByteCounter();
    count._flush = (cb) => cb(count.bytes === desc.size ? null : new GadgetError({ what: "reading blob", which: desc.digest, why: `size mismatch: expected ${desc.size} bytes, found ${count.bytes}`, hint: "run gadget image fsck", code: "SIZE_MISMATCH" }));
    return this.streamBlob(desc, count, io);
  }

  /** The blob's file piped through `check` (which sees every error: it is what the consumer reads). */
  private async streamBlob(desc: Descriptor, check: Transform, io: TransferIo): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    try {
      await stat(path);
    } catch {
      throw new GadgetError({ what: "reading blob", which: desc.digest, why: "not found in the store", code: "NOT_FOUND" });
    }
    const src = createReadStream(path, { highWaterMark: desc.size >= LARGE_BLOB ? CHUNK : 64 * 1024, ...(io.signal ? { signal: io.signal } : {}) });
    src.on("error", (e) => check.destroy(e));
    check.on("error", () => {}); // the consumer sees it; never an unhandled 'error' event
    return src.pipe(check);
  }

  /** Read a (small) blob fully and verify it. */
  async fetchBytes(desc: Descriptor, limit = MAX_MANIFEST_BYTES): Promise<Buffer> {
    if (desc.size > limit) {
      throw new GadgetError({ what: "reading blob", which: desc.digest, why: `${desc.size} bytes is larger than the ${limit}-byte limit` });
    }
    return readAll(await this.fetch(desc), limit);
  }

  /** Read a blob by digest alone (size taken from disk), verifying the digest. */
  async readBlob(digest: Digest, limit = MAX_MANIFEST_BYTES): Promise<Buffer> {
    let size: number;
    try {
      size = (await stat(this.blobPath(digest))).size;
    } catch {
      throw new GadgetError({ what: "reading blob", which: digest, why: "not found in the store", code: "NOT_FOUND" });
    }
    return this.fetchBytes({ mediaType: "", digest, size }, limit);
  }

  /**
   * Declare this process a writer: hold the store's shared writers lock (until the process ends)
   * so `fsck --repair` leaves our temp files and not-yet-tagged blobs alone. Anything that writes
   * into `.tmp/` or `blobs/` outside `push` must call this first. Returns the temp dir.
   */
  async holdWriterLock(): Promise<string> {
    const tmpDir = await this.tempDir();
    if (!writerLocks.has(this.root)) {
      const lock = this.removeStaleTemp(tmpDir).then(() => acquireFileLock(join(tmpDir, WRITERS_LOCK), { shared: true, timeoutSeconds: 600 }));
      writerLocks.set(this.root, lock);
      lock.catch(() => writerLocks.delete(this.root));
    }
    await writerLocks.get(this.root);
    return tmpDir;
  }

  /** `<root>/.tmp`, created 0700 when missing; refused when it is a symlink or another user's (see temp-dir.ts). */
  async tempDir(): Promise<string> {
    return openTempDir(join(this.root, TEMP_DIR));
  }

  /**
   * Store content under desc.digest: the one blob-write path (build, pull, import, signatures).
   * The bytes are written to a temp file, fsync'ed, and renamed into blobs/ only when digest and
   * size match: a bad blob never enters. A stream its producer already verifies (a registry
   * download, `isVerified`) is not hashed a second time, only counted; large blobs are written in
   * 1 MiB chunks that overlap the download.
   */
  async push(desc: Descriptor, content: Content, io: TransferIo = {}): Promise<void> {
    if (!isDigest(desc.digest)) throw new GadgetError({ what: "writing blob", which: String(desc.digest), why: "invalid digest" });
    if (await this.exists(desc)) {
      if (content instanceof Readable) content.destroy();
      return;
    }
    const final = this.blobPath(desc.digest);
    const tmpDir = await this.holdWriterLock();
    const tmp = tempPath(tmpDir, "blob");
    let out: WriteStream | undefined;
    try {
      const source = content instanceof Uint8Array ? Readable.from([Buffer.from(content.buffer, content.byteOffset, content.byteLength)]) : content instanceof Readable ? content : Readable.from(content);
      // the producer checks the digest of a verified stream; a count catches a short one
      const check = isVerified(content) ? new ByteCounter() : new VerifyingStream(desc.digest, desc.size, desc.digest);
      out = createWriteStream(tmp, { flags: "wx", mode: 0o644, highWaterMark: desc.size >= LARGE_BLOB ? 2 * CHUNK : 64 * 1024 });
      await pipeline(source, check, out, io.signal ? { signal: io.signal } : {});
      if (check instanceof ByteCounter && check.bytes !== desc.size) {
        throw new GadgetError({ what: "content verification failed", which: desc.digest, why: `size mismatch: expected ${desc.size} bytes, got ${check.bytes}`, code: "SIZE_MISMATCH" });
      }
      const fh = await open(tmp, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(tmp, 0o444);
      await ensureDir(dirname(final));
      await rename(tmp, final);
    } catch (e) {
      // the file may still be opening or writing when the source fails: unlink it once closed
      if (out && !out.closed) {
        out.destroy();
        await new Promise<void>((r) => {
          const t = setTimeout(r, 5000);
          out!.once("close", () => (clearTimeout(t), r()));
        });
      }
      await unlink(tmp).catch(() => {});
      if (e instanceof GadgetError) throw e;
      if (io.signal?.aborted) throw new GadgetError({ what: "interrupted", which: desc.digest, why: "the transfer was cancelled", code: "ABORTED", cause: e });
      const code = systemErrorCode(e);
      // a failure of the source (a broken download) is the source's error; the store's own are named
      if (!code && !(e as NodeJS.ErrnoException)?.syscall) throw e;
      throw new GadgetError({ what: "writing blob", which: `${desc.digest} in ${this.root}`, why: describeSystemError(e), cause: e, code });
    } finally {
      releaseTemp(tmp);
    }
  }

  async deleteBlob(digest: Digest): Promise<void> {
    await unlink(this.blobPath(digest)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  }

  async listBlobs(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const algo of ["sha256", "sha512"]) {
      let names: string[] = [];
      try {
        names = await readdir(join(this.root, "blobs", algo));
      } catch {
        continue;
      }
      for (const n of names) {
        const d = `${algo}:${n}`;
        if (isDigest(d)) out.push(d);
      }
    }
    return out;
  }

  // ---- index.json ---------------------------------------------------------------------------

  async readIndex(): Promise<Index> {
    let text: string;
    try {
      text = await readFile(join(this.root, INDEX_FILE), "utf8");
    } catch (e) {
      // a new store's index.json carries the top-level mediaType, as oras v2.6 writes it (ig)
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
      throw storeError(this.root, `reading index.json: ${describeSystemError(e)}`, undefined, e);
    }
    try {
      return parseIndex(text, "index.json");
    } catch (e) {
      throw storeError(this.root, `index.json is corrupt: ${(e as Error).message}`, "run `gadget image fsck` or restore index.json", e);
    }
  }

  async entries(): Promise<Descriptor[]> {
    return (await this.readIndex()).manifests;
  }

  /**
   * Read-modify-write index.json under the exclusive lock. `fn` gets the freshly re-read
   * entries and returns the new list (or mutates in place); the result is written atomically.
   */
  /**
   * Change index.json under its lock: `fn` gets the current entries and returns the new ones.
   * Updates this process asks for while one is being written are applied together, in order,
   * under one lock and one write (a 100-gadget build tags 100 images: a handful of writes, not
   * 100 lock-spawn-write-fsync rounds). Each caller still sees the entries the previous update
   * left; one that throws changes nothing and gets its error; a failed write fails them all.
   */
  updateIndex<T>(fn: IndexUpdate<T>): Promise<T> {
    let batch = indexBatches.get(this.root);
    if (!batch) {
      batch = [];
      indexBatches.set(this.root, batch);
      const queued = batch;
      // the next turn: updates asked for in this one join the batch
      const start = (indexWrites.get(this.root) ?? Promise.resolve()).then(() => new Promise<void>((r) => setImmediate(r)));
      const written = start.then(() => {
        indexBatches.delete(this.root); // later updates start the next batch
        return this.applyIndexUpdates(queued);
      });
      indexWrites.set(this.root, written.catch(() => {}));
    }
    return new Promise<T>((resolve, reject) => batch.push({ fn: fn as IndexUpdate<unknown>, resolve: resolve as (v: unknown) => void, reject }));
  }

  private async applyIndexUpdates(queued: PendingIndexUpdate[]): Promise<void> {
    const settled: (() => void)[] = [];
    try {
      await withFileLock(join(this.root, LOCK_FILE), async () => {
        const index = await this.readIndex();
        let entries = index.manifests.slice();
        for (const u of queued) {
          try {
            const r = await u.fn(entries.slice());
            entries = r.entries;
            settled.push(() => u.resolve(r.result));
          } catch (e) {
            u.reject(e);
          }
        }
        if (!sameEntries(index.manifests, entries)) {
          const out: Index = { schemaVersion: 2, manifests: entries };
          if (index.mediaType) out.mediaType = index.mediaType;
          if (index.annotations) out.annotations = index.annotations;
          try {
            await writeFileAtomic(join(this.root, INDEX_FILE), encodeIndex(out), { tempDir: await this.tempDir(), mode: FILE_MODE });
          } catch (e) {
            throw new GadgetError({ what: "writing index.json", which: this.root, why: describeSystemError(e), cause: e, code: systemErrorCode(e) });
          }
        }
      });
    } catch (e) {
      // the lock or the write failed: no update of this batch happened
      for (const u of queued) u.reject(e);
      return;
    }
    for (const done of settled) done();
  }

  // ---- references ---------------------------------------------------------------------------

  /** Resolve a user reference (normalized as ig does) or a stored ref name to its descriptor. */
  async resolve(reference: string): Promise<Descriptor> {
    return resolveIn(await this.entries(), reference, this);
  }

  /** Tag desc as reference (normalized). Replaces an existing tag of that name. */
  async tag(desc: Descriptor, reference: string, annotations?: Record<string, string>): Promise<void> {
    const ref = parseReference(reference);
    if (!ref.tag) throw new GadgetError({ what: "tagging image", which: reference, why: "the destination needs a tag, not only a digest" });
    const name = formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
    await this.tagExact(desc, name, annotations);
  }

  /** Tag with a ref name stored verbatim (e.g. a signature tag `sha256-<hex>.sig`). */
  async tagExact(desc: Descriptor, refName: string, annotations?: Record<string, string>): Promise<void> {
    const entry = tagEntry(desc, refName, annotations);
    // Re-tagging with the same entry (a no-op rebuild) needs no lock and no write.
    const current = (await this.entries()).find((e) => refNameOf(e) === refName);
    if (current && sameDescriptor(current, entry)) return;
    await this.updateIndex((entries) => ({ entries: withEntry(entries, entry), result: undefined }));
  }

  /**
   * `image tag SOURCE REFERENCE`: resolve the source and write the tag in one step under the
   * index lock, as a declared writer — a concurrent `rm` either finishes first (the source is
   * then "not found") or sees the new tag and keeps the blobs. The source's annotations are
   * kept, except its ref name. Returns the source's descriptor.
   */
  async tagReference(source: string, reference: string): Promise<Descriptor> {
    const ref = parseReference(reference);
    // a tag, or (as ig does) a digest-only name — only the source's own digest, never a name that points at other content
    const name = ref.tag ? formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag }) : formatReference(ref);
    await this.holdWriterLock();
    return this.updateIndex(async (entries) => {
      const desc = await resolveIn(entries, source, this);
      if (!ref.tag && ref.digest !== desc.digest) {
        throw new GadgetError({ what: "tagging image", which: reference, why: `the destination names ${ref.digest} but ${source} is ${desc.digest}`, hint: "give the destination a tag (repo:tag), or the source's own digest", code: "DIGEST_MISMATCH" });
      }
      const annotations = { ...(desc.annotations ?? {}) };
      delete annotations[Annotation.RefName];
      return { entries: withEntry(entries, tagEntry(desc, name, annotations)), result: desc };
    });
  }


  /** Remove one tag; the content stays. */
  async untag(reference: string): Promise<void> {
    const name = normalizedName(reference);
    await this.updateIndex((entries) => {
      const next = entries.filter((e) => refNameOf(e) !== name);
      if (next.length === entries.length) throw notFound(reference);
      return { entries: next, result: undefined };
    });
  }

  // ---- graph --------------------------------------------------------------------------------

  /** Kind of the node a descriptor points at (media type, or sniffed when missing). */
  /** Every digest reachable from the roots (including the roots). Missing or unreadable nodes end their branch. */
  async reachable(roots: Descriptor[]): Promise<Map<Digest, Descriptor>> {
    const seen = new Map<Digest, Descriptor>();
    await walkGraph(this, roots, {
      maxDepth: KEEP_GRAPH_DEPTH,
      enter: (d) => {
        seen.set(d.digest, d);
        return true;
      },
      unreadable: () => {},
    });
    return seen;
  }

  /** Manifests in the index whose `subject` is one of the given digests (OCI 1.1 referrers). */
  async referrersOf(entries: Descriptor[], subjects: Set<Digest>): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const e of entries) {
      const { kind } = await classify(e, () => this.fetchBytes(e)).catch(() => ({ kind: "blob" as const }));
      if (kind === "blob") continue;
      try {
        const doc = JSON.parse((await this.fetchBytes(e)).toString("utf8")) as { subject?: { digest?: string } };
        if (doc.subject?.digest && subjects.has(doc.subject.digest as Digest)) out.push(e);
      } catch {
        /* unreadable: not a referrer */
      }
    }
    return out;
  }

  /**
   * ig's `image remove`: untag when another tag shares the digest; otherwise drop the tag, the
   * image's referrers, and every blob the image reached that nothing else still reaches.
   * Signature tags (`sha256-<hex>.sig`) survive. Returns the number of blobs deleted.
   */
  async removeImage(reference: string): Promise<{ untagged: boolean; deletedBlobs: number }> {
    const name = normalizedName(reference);
    return this.updateIndex<{ untagged: boolean; deletedBlobs: number }>(async (entries) => {
      const target = entries.find((e) => refNameOf(e) === name);
      if (!target) throw notFound(reference);
      const sharing = entries.some((e) => e !== target && e.digest === target.digest && refNameOf(e) !== undefined && refNameOf(e) !== name);
      if (sharing) return { entries: entries.filter((e) => e !== target), result: { untagged: true, deletedBlobs: 0 } };

      const doomed = await this.reachable([target]);
      const manifestDigests = new Set(doomed.keys());
      const referrers = await this.referrersOf(entries.filter((e) => e.digest !== target.digest), manifestDigests);
      // the referrers-tag index (`sha256-<hex>`, for registries without the referrers API) goes
      // with the image like the referrers it lists; the legacy `sha256-<hex>.sig` tag stays (ig's rule)
      const referrersTag = `sha256-${digestHex(target.digest)}`;
      for (const e of entries) if (refNameOf(e) === referrersTag && !referrers.includes(e)) referrers.push(e);
      for (const [d, desc] of await this.reachable(referrers)) doomed.set(d, desc);

      const referrerDigests = new Set(referrers.map((r) => r.digest));
      const remaining = entries.filter((e) => {
        if (e.digest === target.digest) return false;
        if (referrerDigests.has(e.digest)) return false;
        // untagged entries for the image's own child manifests (as oras/ig stores keep them) go too
        if (refNameOf(e) === undefined && doomed.has(e.digest)) return false;
        return true;
      });
      const kept = await this.reachable(remaining);
      let deleted = 0;
      // Blobs go only when no writer is active: a concurrent pull/import/build may have found
      // one of them present and be about to tag an image that needs it. Otherwise they stay as
      // garbage for `fsck --repair` (the untag is what the user asked for).
      const gc = await this.tryExclusiveWriters();
      if (gc) {
        try {
          for (const d of doomed.keys()) {
            if (kept.has(d)) continue;
            if (await this.hasBlob(d)) {
              await this.deleteBlob(d);
              deleted++;
            }
          }
        } finally {
          await gc.close();
        }
      }
      return { entries: remaining, result: { untagged: false, deletedBlobs: deleted } };
    });
  }

  /**
   * The writers lock exclusively, without waiting (undefined when another process is writing).
   * This process's own shared hold is dropped first (it is re-taken by the next write).
   */
  async tryExclusiveWriters(): Promise<FileHandle | undefined> {
    await releaseWriterLock(this.root);
    try {
      return await acquireFileLock(join(await this.tempDir(), WRITERS_LOCK), { timeoutSeconds: 0 });
    } catch {
      return undefined;
    }
  }

  /**
   * Startup cleanup: temp files and staging dirs left in `.tmp/` by killed writers — only
   * gadget's own temp names whose writer process is gone (anything else there is left alone).
   * Only when no writer is active (the writers lock, exclusively, without waiting) and under the
   * index lock (index saves stage there too) — the same rule as `fsck --repair`. Returns the
   * number removed.
   */
  async removeStaleTemp(tmpDir?: string): Promise<number> {
    const dir = tmpDir ?? (await this.tempDir());
    if ((await classifyTemps(dir, [WRITERS_LOCK])).stale.length === 0) return 0;
    const writers = await acquireFileLock(join(dir, WRITERS_LOCK), { timeoutSeconds: 0 }).catch(() => undefined);
    if (!writers) return 0;
    try {
      // never wait for the index lock here (this process may hold it): busy → a later writer cleans up
      return await withFileLock(join(this.root, LOCK_FILE), async () => removeTemps(dir, (await classifyTemps(dir, [WRITERS_LOCK])).stale), { timeoutSeconds: 0 });
    } catch {
      return 0;
    } finally {
      await writers.close();
    }
  }
}

/** The index.json entry tagging desc as refName. */
function tagEntry(desc: Descriptor, refName: string, annotations?: Record<string, string>): Descriptor {
  const entry: Descriptor = {
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: desc.size,
    annotations: { ...(annotations ?? {}), [Annotation.RefName]: refName },
  };
  if (desc.platform) entry.platform = desc.platform;
  if (desc.artifactType) entry.artifactType = desc.artifactType;
  return entry;
}

/** entries with `entry` replacing the one of the same ref name, or added. */
function withEntry(entries: Descriptor[], entry: Descriptor): Descriptor[] {
  const name = refNameOf(entry);
  const i = entries.findIndex((e) => refNameOf(e) === name);
  if (i >= 0) entries[i] = entry;
  else entries.push(entry);
  return entries;
}

export function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[Annotation.RefName];
}

function notFound(reference: string): GadgetError {
  return new GadgetError({ what: "resolving image", which: JSON.stringify(reference), why: "not found", hint: "`gadget image list` shows the images in the store", code: "NOT_FOUND" });
}

/** The stored ref name for a user reference (normalized; bare signature tags verbatim). */
function normalizedName(reference: string): string {
  if (/^sha256-[a-f0-9]{64}(\.\w+)?$/.test(reference)) return reference;
  const ref = parseReference(reference);
  return formatReference(ref);
}

export async function resolveIn(entries: Descriptor[], reference: string, store: LayoutStore): Promise<Descriptor> {
  if (/^sha256-[a-f0-9]{64}(\.\w+)?$/.test(reference)) {
    const e = entries.find((x) => refNameOf(x) === reference);
    if (e) return e;
    throw notFound(reference);
  }
  const ref: Reference = parseReference(reference);
  if (ref.digest) {
    const byEntry = entries.find((e) => e.digest === ref.digest);
    if (byEntry) return byEntry;
    if (await store.hasBlob(ref.digest)) {
      const bytes = await store.readBlob(ref.digest);
      const kind = (await classify({ mediaType: "", digest: ref.digest, size: bytes.byteLength }, async () => bytes)).kind;
      const mediaType = kind === "index" ? "application/vnd.oci.image.index.v1+json" : kind === "manifest" ? "application/vnd.oci.image.manifest.v1+json" : "application/octet-stream";
      return { mediaType, digest: ref.digest, size: bytes.byteLength };
    }
    throw notFound(reference);
  }
  const name = formatReference(ref);
  const e = entries.find((x) => refNameOf(x) === name);
  if (!e) throw notFound(reference);
  return e;
}

function sameDescriptor(a: Descriptor, b: Descriptor): boolean {
  return encodeIndex({ schemaVersion: 2, manifests: [a] }).equals(encodeIndex({ schemaVersion: 2, manifests: [b] }));
}

function sameEntries(a: Descriptor[], b: Descriptor[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
