/**
 * The store's folders and its `.tmp/` staging folder, safe against other local users:
 *  - folders are created with explicit modes, whatever the umask (0755; `.tmp` 0700);
 *  - `.tmp` is lstat'ed before use: a symlink, a non-folder or a folder owned by another user is
 *    refused (temp files and cleanup would happen wherever it points);
 *  - cleanup deletes only gadget's own temp names (`blob.tmp-<pid>-<hex>`,
 *    `.index.json.tmp-<pid>-<hex>`, `import-<pid>-<xxxxxx>`) whose writer process is gone;
 *    anything else is left alone.
 */
import { chmod, lstat, mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GadgetError } from "../errors.js";
import { processAlive } from "./atomic.js";

export const DIR_MODE = 0o755;
export const TEMP_DIR_MODE = 0o700;

function euid(): number | undefined {
  return process.geteuid?.();
}

/** mkdir -p with `mode` on every folder it creates (mkdir's mode is masked by the umask; chmod is not). */
export async function ensureDir(path: string, mode = DIR_MODE): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode });
  if (first === undefined) return;
  for (let p = path; ; p = dirname(p)) {
    await chmod(p, mode);
    if (p === first || dirname(p) === p) break;
  }
}

function unsafeTemp(dir: string, why: string): GadgetError {
  return new GadgetError({
    what: "refusing the store's temp folder",
    which: dir,
    why,
    hint: `remove ${dir} (gadget recreates it) — and check who put it there`,
    code: "UNSAFE_TEMP_DIR",
  });
}

/** Why `.tmp` (as lstat sees it) must not be used, or undefined when it is ours. */
export function tempDirProblem(st: { isSymbolicLink(): boolean; isDirectory(): boolean; uid: number }, uid = euid()): string | undefined {
  if (st.isSymbolicLink()) return "it is a symbolic link: temp files and cleanup would happen wherever it points";
  if (!st.isDirectory()) return "it is not a folder";
  if (uid !== undefined && st.uid !== uid) return `it is owned by uid ${st.uid}, not by this user (uid ${uid})`;
  return undefined;
}

/**
 * `<root>/.tmp`, created 0700 when missing; refused when it is a symlink, not a folder, or owned
 * by someone else. An own `.tmp` that others may write to (an older gadget under umask 000) is
 * made 0700 again.
 */
export async function openTempDir(dir: string, uid = euid()): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    let st;
    try {
      st = await lstat(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" || attempt > 0) throw e;
      await ensureDir(dirname(dir));
      try {
        await mkdir(dir, { mode: TEMP_DIR_MODE });
        await chmod(dir, TEMP_DIR_MODE);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== "EEXIST") throw e2;
      }
      continue; // lstat what is there now
    }
    const problem = tempDirProblem(st, uid);
    if (problem) throw unsafeTemp(dir, problem);
    if ((st.mode & 0o022) !== 0) await chmod(dir, TEMP_DIR_MODE);
    return dir;
  }
}

const OWN_TEMP = [/^(?:blob|\.index\.json)\.tmp-(\d+)-[0-9a-f]+$/, /^import-(\d+)-[A-Za-z0-9]{6}$/];

/** The writer pid in one of gadget's own temp names, or undefined for any other name. */
export function tempWriterPid(name: string): number | undefined {
  for (const re of OWN_TEMP) {
    const m = re.exec(name);
    if (m) {
      const pid = Number(m[1]);
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    }
  }
  return undefined;
}

export interface TempEntries {
  /** Our temp names whose writer is gone (safe to delete). */
  stale: string[];
  /** Our temp names whose writer still runs. */
  live: string[];
  /** Anything else (other names, other owners): never deleted. */
  foreign: string[];
}

/** Sort the entries of `.tmp` (which must have passed openTempDir's checks); the writers lock is skipped. */
export async function classifyTemps(dir: string, skip: string[], uid = euid()): Promise<TempEntries> {
  const out: TempEntries = { stale: [], live: [], foreign: [] };
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (skip.includes(name)) continue;
    const pid = tempWriterPid(name);
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (!st) continue;
    const ownKind = name.startsWith("import-") ? st.isDirectory() : st.isFile();
    if (pid === undefined || !ownKind || (uid !== undefined && st.uid !== uid)) out.foreign.push(name);
    else if (pid === process.pid || processAlive(pid)) out.live.push(name);
    else out.stale.push(name);
  }
  return out;
}

/** Delete the stale entries (a staging folder with what is in it; nothing is followed). */
export async function removeTemps(dir: string, names: string[]): Promise<number> {
  let n = 0;
  for (const name of names) {
    await rm(join(dir, name), { recursive: true, force: true }).then(
      () => n++,
      () => {},
    );
  }
  return n;
}
