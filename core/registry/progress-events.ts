/** Transfer progress as data: what push/pull report through `onProgress`. */
import { Transform, type Readable } from "node:stream";
import { isVerified, markVerified, type ReadOnlyStorage } from "../oci/content.js";
import type { Descriptor } from "../oci/model.js";

export type ProgressEvent =
  | { type: "start"; digest: string; size: number; mediaType: string }
  | { type: "bytes"; digest: string; size: number; bytes: number }
  | { type: "done"; digest: string; size: number; mediaType: string }
  | { type: "skip"; digest: string; size: number; mediaType: string }
  | { type: "mount"; digest: string; size: number; mediaType: string; from: string };

/** A source whose fetch streams report bytes as they flow. */
export function progressSource(src: ReadOnlyStorage, emit: ((e: ProgressEvent) => void) | undefined): ReadOnlyStorage {
  if (!emit) return src;
  return {
    exists: (d) => src.exists(d),
    async fetch(desc: Descriptor, io): Promise<Readable> {
      const s = await src.fetch(desc, io);
      let bytes = 0;
      const t = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          emit({ type: "bytes", digest: desc.digest, size: desc.size, bytes });
          cb(null, chunk);
        },
      });
      s.on("error", (e) => t.destroy(e));
      t.on("error", () => {}); // seen by the consumer; never an unhandled event
      const out = s.pipe(t);
      return isVerified(s) ? markVerified(out) : out;
    },
  };
}
