/**
 * Reading response bodies a registry controls, never more than a limit: token answers (1 MiB),
 * error pages (64 KiB), tag lists. Past the limit the body is destroyed — the connection is
 * dropped — so an endless or huge answer costs at most `limit` bytes of memory.
 */
import type { Dispatcher } from "undici";

export const MAX_TOKEN_BODY = 1024 * 1024;
export const MAX_ERROR_BODY = 64 * 1024;

type Body = Dispatcher.ResponseData["body"] & { bodyUsed?: boolean; destroyed?: boolean; readableEnded?: boolean };

export interface CappedBody {
  bytes: Buffer;
  /** The body had more than `limit` bytes (only the first `limit` are in `bytes`). */
  truncated: boolean;
}

function consumed(b: Body): boolean {
  return Boolean(b.bodyUsed || b.destroyed || b.readableEnded);
}

/** Up to `limit` bytes of the body; a longer body is cut off and its connection dropped. */
export async function readBodyCapped(body: Dispatcher.ResponseData["body"], limit: number): Promise<CappedBody> {
  const b = body as Body;
  if (consumed(b)) return { bytes: Buffer.alloc(0), truncated: false };
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of b as AsyncIterable<Buffer>) {
    const room = limit - size;
    if (chunk.length > room) {
      parts.push(chunk.subarray(0, room));
      size += room;
      // leaving the loop destroys the stream: undici aborts the request and closes its socket
      b.destroy();
      return { bytes: Buffer.concat(parts, size), truncated: true };
    }
    parts.push(chunk);
    size += chunk.length;
  }
  return { bytes: Buffer.concat(parts, size), truncated: false };
}

/** An error body as text (its first 64 KiB), or "" when it was already consumed or fails. */
export async function bodyText(res: { body: Dispatcher.ResponseData["body"] }): Promise<string> {
  try {
    return (await readBodyCapped(res.body, MAX_ERROR_BODY)).bytes.toString("utf8");
  } catch {
    return "";
  }
}

/** Discard a response body (safe to call twice). */
export async function drain(res: { body: Dispatcher.ResponseData["body"] }): Promise<void> {
  const b = res.body as Body;
  if (consumed(b)) return;
  await b.dump().catch(() => {});
}
