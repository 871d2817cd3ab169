/** Small file I/O helpers shared by the store, import and the tar writer. */
import type { FileHandle } from "node:fs/promises";

/** writev until every byte is on its way to disk (writev may write partially). */
export async function writevAll(fh: FileHandle, chunks: Buffer[]): Promise<void> {
  let pending = chunks.filter((c) => c.length > 0);
  while (pending.length > 0) {
    const total = pending.reduce((n, c) => n + c.length, 0);
    const { bytesWritten } = await fh.writev(pending);
    if (bytesWritten >= total) return;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const c of pending) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      rest.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
    pending = rest;
  }
}

/**
 * Read a file of at most `limit` bytes; `undefined` when it holds more (or never ends, like
 * /dev/zero). File-system errors (ENOENT…) are thrown as they are.
 */
export async function readFileCapped(path: string, limit: number): Promise<Buffer | undefined> {
  const { open } = await import("node:fs/promises");
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(limit + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n > limit ? undefined : Buffer.from(buf.subarray(0, n));
  } finally {
    await fh.close();
  }
}
