/** Crash-safe file writes: temp file in the same directory (or a given temp dir), fsync, rename. */
import { randomBytes } from "node:crypto";
import { open, rename, unlink, mkdir, chmod } from "node:fs/promises";
import { dirname, join, basename } from "node:path";

export function tempName(prefix: string): string {
  return `${prefix}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

export interface AtomicWriteOptions {
  mode?: number;
  /** Directory for the temp file (same filesystem as the target). Default: the target's directory. */
  tempDir?: string;
  /** fsync the file before rename (default true). */
  fsync?: boolean;
}

export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = opts.tempDir ?? dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, tempName(`.${basename(path)}`));
  const fh = await open(tmp, "wx", opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (opts.fsync !== false) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    if (opts.mode !== undefined) await chmod(tmp, opts.mode);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
