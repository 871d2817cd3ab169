/**
 * An exclusive advisory lock on a file — the same flock(2) lock ig takes on
 * `index.json.lock`, so gadget and ig never interleave index updates.
 *
 * Node has no flock binding and native addons are not built here, so we open the lock file
 * and let util-linux `flock -x FD` lock our inherited descriptor: flock locks belong to the
 * open file description, which we keep after the helper exits. Closing the descriptor (or the
 * process dying, even by SIGKILL) releases the lock — no stale lock files.
 */
import { spawn } from "node:child_process";
import { open, type FileHandle } from "node:fs/promises";
import { GadgetError } from "../errors.js";

export interface LockOptions {
  /** Give up after this many seconds (default 120); 0 = try once without waiting. */
  timeoutSeconds?: number;
  /** A shared lock (many holders) instead of an exclusive one. */
  shared?: boolean;
  /** Mode of the lock file when it is created (default 0644). */
  mode?: number;
  /** `path` is an existing directory: lock it (no lock file is created). */
  directory?: boolean;
}

export async function acquireFileLock(path: string, opts: LockOptions = {}): Promise<FileHandle> {
  const fh = opts.directory ? await open(path, "r") : await open(path, "a", opts.mode ?? 0o644);
  if (!opts.directory) {
    // created under a permissive umask: others must not be able to write (or truncate) it
    const st = await fh.stat().catch(() => undefined);
    if (st && (st.mode & 0o022) !== 0 && st.uid === process.geteuid?.()) await fh.chmod(st.mode & 0o755).catch(() => {});
  }
  const timeout = String(opts.timeoutSeconds ?? 120);
  const mode = opts.shared ? "-s" : "-x";
  const wait = opts.timeoutSeconds === 0 ? ["-n"] : ["-w", timeout];
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn("flock", [mode, ...wait, "3"], { stdio: ["ignore", "ignore", "pipe", fh.fd] });
      let stderr = "";
      child.stderr!.on("data", (d) => (stderr += d));
      child.on("error", (e) => reject(e));
      child.on("exit", (c) => (c === 0 ? resolve(0) : reject(new Error(stderr.trim() || `flock exited with ${c}`))));
    });
    void code;
  } catch (e) {
    await fh.close().catch(() => {});
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") {
      throw new GadgetError({ what: "locking the store", which: path, why: "the flock command is missing", hint: "install util-linux (scripts/bootstrap does)" });
    }
    throw new GadgetError({ what: "locking the store", which: path, why: `could not get the lock within ${timeout}s: ${err.message}`, hint: "another gadget or ig process holds it; retry when it finishes" });
  }
  return fh;
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts?: LockOptions): Promise<T> {
  const fh = await acquireFileLock(path, opts);
  try {
    return await fn();
  } finally {
    await fh.close();
  }
}
