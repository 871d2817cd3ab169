/** Crash-safe file writes: temp file in the same directory (or a given temp dir), fsync, rename. */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { open, rename, unlink, mkdir, chmod, readdir, readlink } from "node:fs/promises";
import { dirname, join, basename, resolve } from "node:path";

export function tempName(prefix: string): string {
  return `${prefix}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

/** Temp files and folders this process is writing right now (removed at once when it is interrupted). */
const liveTemps = new Set<string>();

/** `dir/<prefix>.tmp-<pid>-<hex>`, remembered as live until `releaseTemp` (renamed or removed). */
export function tempPath(dir: string, prefix: string): string {
  const p = join(dir, tempName(prefix));
  liveTemps.add(p);
  return p;
}

/** Remember a temp file or folder made elsewhere (mkdtemp) as live. */
export function trackTemp(path: string): void {
  liveTemps.add(path);
}

/** The temp file was renamed into place or removed: no longer ours to clean up. */
export function releaseTemp(path: string): void {
  liveTemps.delete(path);
}

/**
 * Remove every live temp file and folder now, synchronously: for a process that is about to exit
 * because it was interrupted (SIGINT, SIGTERM, a closed stdout) in the middle of writing them.
 */
export function removeLiveTempsSync(): number {
  let n = 0;
  for (const p of liveTemps) {
    try {
      rmSync(p, { recursive: true, force: true });
      n++;
    } catch {
      /* best effort: the next writer sweeps what is left (its pid is gone by then) */
    }
  }
  liveTemps.clear();
  return n;
}

/**
 * Remove temp files `<prefix>.tmp-<pid>-<hex>` in dir whose writer process is gone (killed
 * mid-write). Best effort; a live process's temp file is never touched.
 */
export async function sweepDeadTemps(dir: string, prefix: string): Promise<number> {
  let n = 0;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(`${prefix}.tmp-`)) continue;
    const pid = Number(/\.tmp-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
    await unlink(join(dir, name)).then(
      () => n++,
      () => {},
    );
  }
  return n;
}

/** Is a process with this pid running (EPERM: yes, another user's)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The file a path names after following symlinks (also a dangling link's would-be target), so
 * an atomic write through a link replaces the target, not the link. Not a link: the path itself.
 */
export async function symlinkTarget(path: string): Promise<string> {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let link: string;
    try {
      link = await readlink(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EINVAL" || (e as NodeJS.ErrnoException).code === "ENOENT") return p;
      throw e;
    }
    p = resolve(dirname(p), link);
  }
  const err = new Error(`too many levels of symbolic links: ${path}`) as NodeJS.ErrnoException;
  err.code = "ELOOP";
  throw err;
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
  const tmp = tempPath(dir, `.${basename(path)}`);
  try {
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
  } finally {
    releaseTemp(tmp);
  }
  // temp files of this same target left by killed writers
  await sweepDeadTemps(dir, `.${basename(path)}`).catch(() => 0);
}
