/**
 * The local store: an OCI image layout 1.0.0 directory (DESIGN §5), readable by ig, skopeo
 * and umoci. Blobs land by verified temp-file + rename (mode 0444); index.json is replaced
 * atomically under ig's flock on index.json.lock, re-read inside the lock so concurrent
 * writers never lose each other's tags.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, readdir, rename, stat, unlink, chmod, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GadgetError, describeSystemError, systemErrorCode } from "../errors.js";
import { digestHex, isDigest, VerifyingStream, type Digest } from "../oci/digest.js";
import type { Content, Target } from "../oci/content.js";
import { readAll } from "../oci/content.js";
import { encodeIndex } from "../oci/gojson.js";
import { Annotation, MediaType } from "../oci/media-types.js";
import { MAX_MANIFEST_BYTES, nodeKind, parseIndex, sniffKind, successors, type Descriptor, type Index } from "../oci/model.js";
import { formatReference, parseReference, type Reference } from "../oci/reference.js";
import { tempName, writeFileAtomic } from "./atomic.js";
import { acquireFileLock, withFileLock } from "./lock.js";
import type { FileHandle } from "node:fs/promises";

export const LAYOUT_FILE = "oci-layout";
export const INDEX_FILE = "index.json";
export const LOCK_FILE = "index.json.lock";
export const TEMP_DIR = ".tmp";
/** Writers hold a shared flock on this while they may add unreferenced blobs; `fsck --repair` needs it exclusively to delete them. */
export const WRITERS_LOCK = "writers.lock";

/** One shared writer lock per store root per process, held until the process ends (or releaseWriterLock). */
const writerLocks = new Map<string, Promise<FileHandle>>();

export async function releaseWriterLock(root: string): Promise<void> {
  const p = writerLocks.get(root);
  writerLocks.delete(root);
  if (p) await (await p.catch(() => undefined))?.close();
}
const LAYOUT_JSON = '{"imageLayoutVersion":"1.0.0"}';

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
        await mkdir(root, { recursive: true, mode: 0o700 });
        await mkdir(join(root, "blobs", "sha256"), { recursive: true });
        await writeFileAtomic(join(root, LAYOUT_FILE), LAYOUT_JSON, { fsync: false });
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
   * Is the blob here, complete? Asked by writers deciding whether to copy, so it first declares
   * this process a writer (the shared writers lock): from then on `remove` and `fsck --repair`
   * do not delete blobs this process may be counting on. (A read-only store just answers.)
   */
  async exists(desc: Descriptor): Promise<boolean> {
    await this.holdWriterLock().catch(() => undefined);
    try {
      const st = await stat(this.blobPath(desc.digest));
      return st.isFile() && st.size === desc.size;
    } catch {
      return false;
    }
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  /** A stream of the blob that errors if the bytes on disk do not match the descriptor. */
  async fetch(desc: Descriptor): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    try {
      await stat(path);
    } catch {
      throw new GadgetError({ what: "reading blob", which: desc.digest, why: "not found in the store", code: "NOT_FOUND" });
    }
    const verify = new VerifyingStream(desc.digest, desc.size, desc.digest);
    const src = createReadStream(path);
    src.on("error", (e) => verify.destroy(e));
    return src.pipe(verify);
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

  async tempDir(): Promise<string> {
    const dir = join(this.root, TEMP_DIR);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Store content under desc.digest. The bytes are hashed while written to a temp file and the
   * file is renamed into blobs/ only when digest and size match: a bad blob never enters.
   */
  async push(desc: Descriptor, content: Content): Promise<void> {
    if (!isDigest(desc.digest)) throw new GadgetError({ what: "writing blob", which: String(desc.digest), why: "invalid digest" });
    if (await this.exists(desc)) {
      if (content instanceof Readable) content.destroy();
      return;
    }
    const final = this.blobPath(desc.digest);
    const tmpDir = await this.holdWriterLock();
    const tmp = join(tmpDir, tempName("blob"));
    try {
      const fh = await open(tmp, "wx", 0o644);
      try {
        const verify = new VerifyingStream(desc.digest, desc.size, desc.digest);
        const source = content instanceof Uint8Array ? Readable.from([Buffer.from(content.buffer, content.byteOffset, content.byteLength)]) : Readable.from(content as AsyncIterable<Uint8Array>);
        await pipeline(source, verify, async (chunks: AsyncIterable<Buffer>) => {
          for await (const chunk of chunks) await fh.write(chunk);
        });
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(tmp, 0o444);
      await mkdir(join(final, ".."), { recursive: true });
      await rename(tmp, final);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      if (e instanceof GadgetError) throw e;
      throw new GadgetError({ what: "writing blob", which: `${desc.digest} in ${this.root}`, why: describeSystemError(e), cause: e, code: systemErrorCode(e) });
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
  async updateIndex<T>(fn: (entries: Descriptor[]) => Promise<{ entries: Descriptor[]; result: T }> | { entries: Descriptor[]; result: T }): Promise<T> {
    return withFileLock(join(this.root, LOCK_FILE), async () => {
      const index = await this.readIndex();
      const { entries, result } = await fn(index.manifests.slice());
      if (!sameEntries(index.manifests, entries)) {
        const out: Index = { schemaVersion: 2, manifests: entries };
        if (index.mediaType) out.mediaType = index.mediaType;
        if (index.annotations) out.annotations = index.annotations;
        try {
          await writeFileAtomic(join(this.root, INDEX_FILE), encodeIndex(out), { tempDir: await this.tempDir() });
        } catch (e) {
          throw new GadgetError({ what: "writing index.json", which: this.root, why: describeSystemError(e), cause: e, code: systemErrorCode(e) });
        }
      }
      return result;
    });
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
    const entry: Descriptor = {
      mediaType: desc.mediaType,
      digest: desc.digest,
      size: desc.size,
      annotations: { ...(annotations ?? {}), [Annotation.RefName]: refName },
    };
    if (desc.platform) entry.platform = desc.platform;
    if (desc.artifactType) entry.artifactType = desc.artifactType;
    // Re-tagging with the same entry (a no-op rebuild) needs no lock and no write.
    const current = (await this.entries()).find((e) => refNameOf(e) === refName);
    if (current && sameDescriptor(current, entry)) return;
    await this.updateIndex((entries) => {
      const i = entries.findIndex((e) => refNameOf(e) === refName);
      if (i >= 0) entries[i] = entry;
      else entries.push(entry);
      return { entries, result: undefined };
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
  async kindOf(desc: Descriptor): Promise<"index" | "manifest" | "blob"> {
    const k = nodeKind(desc.mediaType);
    if (k !== "blob" || desc.mediaType) return k;
    if (desc.size > MAX_MANIFEST_BYTES) return "blob";
    try {
      return sniffKind(await this.fetchBytes(desc));
    } catch {
      return "blob";
    }
  }

  /** Children of a node in this store (missing or unreadable nodes have none). */
  async children(desc: Descriptor): Promise<Descriptor[]> {
    const kind = await this.kindOf(desc);
    if (kind === "blob") return [];
    try {
      return successors(kind, await this.fetchBytes(desc), desc.digest);
    } catch {
      return [];
    }
  }

  /** Every digest reachable from the roots (including the roots). Tolerates missing blobs. */
  async reachable(roots: Descriptor[]): Promise<Map<Digest, Descriptor>> {
    const seen = new Map<Digest, Descriptor>();
    const stack = [...roots];
    while (stack.length > 0) {
      const d = stack.pop()!;
      if (seen.has(d.digest)) continue;
      seen.set(d.digest, d);
      stack.push(...(await this.children(d)));
    }
    return seen;
  }

  /** Manifests in the index whose `subject` is one of the given digests (OCI 1.1 referrers). */
  async referrersOf(entries: Descriptor[], subjects: Set<Digest>): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const e of entries) {
      const kind = await this.kindOf(e);
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
   * Startup cleanup: temp files and staging dirs left in `.tmp/` by killed writers. Only when no
   * writer is active (the writers lock, exclusively, without waiting) and under the index lock
   * (index saves stage there too) — the same rule as `fsck --repair`. Returns the number removed.
   */
  async removeStaleTemp(tmpDir?: string): Promise<number> {
    const dir = tmpDir ?? join(this.root, TEMP_DIR);
    const stale = (await readdir(dir).catch(() => [] as string[])).filter((n) => n !== WRITERS_LOCK);
    if (stale.length === 0) return 0;
    const writers = await acquireFileLock(join(dir, WRITERS_LOCK), { timeoutSeconds: 0 }).catch(() => undefined);
    if (!writers) return 0;
    try {
      // never wait for the index lock here (this process may hold it): busy → a later writer cleans up
      return await withFileLock(join(this.root, LOCK_FILE), async () => {
        let n = 0;
        for (const name of (await readdir(dir).catch(() => [] as string[])).filter((x) => x !== WRITERS_LOCK)) {
          await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
          n++;
        }
        return n;
      }, { timeoutSeconds: 0 });
    } catch {
      return 0;
    } finally {
      await writers.close();
    }
  }

  /** Remove temp files older than maxAgeMs left by crashed writers. */
  async cleanTemp(maxAgeMs = 60 * 60 * 1000): Promise<number> {
    const dir = join(this.root, TEMP_DIR);
    let n = 0;
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      return 0;
    }
    const now = Date.now();
    for (const name of names) {
      try {
        const st = await stat(join(dir, name));
        if (now - st.mtimeMs >= maxAgeMs) {
          await rm(join(dir, name), { force: true, recursive: true });
          n++;
        }
      } catch {
        /* raced with another cleaner */
      }
    }
    return n;
  }
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
      const kind = sniffKind(bytes);
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
