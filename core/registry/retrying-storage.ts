/**
 * Whole-transfer retries for copyGraph: a blob upload or download that broke mid-stream
 * (connection reset, registry restarted, 5xx after the body was sent) cannot be replayed by the
 * HTTP client, so the destination's push is tried again with a fresh stream from the source.
 */
import type { Content, ReadOnlyStorage, Storage, TransferIo } from "../oci/content.js";
import type { Descriptor } from "../oci/model.js";
import { isTransientTransferError } from "./errors.js";

export function retryingDestination(src: ReadOnlyStorage, dst: Storage, opts: { attempts?: number; delayMs?: number } = {}): Storage {
  const attempts = opts.attempts ?? 2;
  const delayMs = opts.delayMs ?? 500;
  return {
    exists: (d) => dst.exists(d),
    fetch: (d, io) => dst.fetch(d, io),
    async push(desc: Descriptor, content: Content, io?: TransferIo): Promise<void> {
      try {
        await dst.push(desc, content, io);
        return;
      } catch (e) {
        if (!isTransientTransferError(e) || content instanceof Uint8Array || io?.signal?.aborted) throw e;
        let last: unknown = e;
        for (let i = 1; i <= attempts; i++) {
          await new Promise((r) => setTimeout(r, delayMs * i));
          try {
            await dst.push(desc, await src.fetch(desc, io), io);
            return;
          } catch (e2) {
            last = e2;
            if (!isTransientTransferError(e2)) throw e2;
          }
        }
        throw last;
      }
    },
  };
}
