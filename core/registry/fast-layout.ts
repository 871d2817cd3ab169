/**
 * Large-blob fast paths between a RemoteRepository and the local layout store, using the
 * store's public API (writer lock, temp dir, blob paths) and its rules (temp file, fsync, 0444,
 * rename — a blob appears only complete and verified):
 *  - writes of streams that are already digest-verified by RemoteRepository.fetch (one sha256
 *    pass instead of two, 1 MiB writes that overlap the download);
 *  - reads in 1 MiB chunks, verified while streaming, for uploads.
 * Small blobs and anything else go through LayoutStore.push/fetch unchanged.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, open, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GadgetError, describeSystemError, systemErrorCode } from "../errors.js";
import { VerifyingStream, isDigest, type Digest } from "../oci/digest.js";
import type { Content, ReadOnlyStorage, Storage } from "../oci/content.js";
import type { Descriptor } from "../oci/model.js";
import { releaseTemp, tempPath } from "../store/atomic.js";
import type { LayoutStore } from "../store/layout-store.js";
import { ensureDir } from "../store/temp-dir.js";
import { isVerifiedStream } from "./repository.js";

/** Blobs at least this large take the fast paths. */
export const FAST_PATH_MIN = 1024 * 1024;
const CHUNK = 1024 * 1024;

/** A destination that lands verified download streams directly (others via store.push). */
export function fastLayoutDestination(store: LayoutStore): Storage {
  // a present index or manifest counts only with its whole graph present and intact: the copy
  // skips a present node's subtree, and a repaired store may miss a child (moved aside as corrupt)
  const seen = new Map<Digest, Promise<boolean>>();
  return {
    exists: (d) => store.existsWithGraph(d, seen),
    fetch: (d) => store.fetch(d),
    async push(desc: Descriptor, content: Content): Promise<void> {
      if (!(content instanceof Readable) || !isVerifiedStream(content) || desc.size < FAST_PATH_MIN || !isDigest(desc.digest)) {
        await store.push(desc, content);
        return;
      }
      if (await store.exists(desc)) {
        content.destroy();
        return;
      }
      const tmpDir = await store.holdWriterLock();
      const tmp = tempPath(tmpDir, "blob");
      const final = store.blobPath(desc.digest);
      try {
        const out = createWriteStream(tmp, { flags: "wx", mode: 0o644, highWaterMark: 2 * CHUNK });
        await pipeline(content, out);
        const fh = await open(tmp, "r");
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        const st = await stat(tmp);
        if (st.size !== desc.size) {
          throw new GadgetError({ what: "content verification failed", which: desc.digest, why: `size mismatch: expected ${desc.size} bytes, got ${st.size}`, code: "SIZE_MISMATCH" });
        }
        await chmod(tmp, 0o444);
        await ensureDir(dirname(final));
        await rename(tmp, final);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        if (e instanceof GadgetError) throw e;
        const code = systemErrorCode(e);
        if (code) {
          throw new GadgetError({ what: "writing blob", which: `${desc.digest} in ${store.root}`, why: describeSystemError(e), cause: e, code });
        }
        throw e;
      } finally {
        releaseTemp(tmp);
      }
    },
  };
}

/** A source that reads large blobs in 1 MiB chunks (verified while streaming). */
export function fastLayoutSource(store: LayoutStore): ReadOnlyStorage {
  return {
    exists: (d) => store.exists(d),
    async fetch(desc: Descriptor): Promise<Readable> {
      if (desc.size < FAST_PATH_MIN || !isDigest(desc.digest)) return store.fetch(desc);
      const path = store.blobPath(desc.digest);
      try {
        await stat(path);
      } catch {
        throw new GadgetError({ what: "reading blob", which: desc.digest, why: "not found in the store", code: "NOT_FOUND" });
      }
      const verify = new VerifyingStream(desc.digest, desc.size, desc.digest);
      const src = createReadStream(path, { highWaterMark: CHUNK });
      src.on("error", (e) => verify.destroy(e));
      verify.on("error", () => {}); // the consumer sees it; never an unhandled event
      return src.pipe(verify);
    },
  };
}
