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
