/**
 * What identifies a clang binary without running it (its real path, size, mtime and inode), and
 * what is fixed by that identity and remembered in the clang stage's cache folder: the host's
 * multiarch triple (`clang -print-multiarch`, ~20–100 ms before every first compile otherwise).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** clang's identity without spawning it: the real binary's path, size, mtime and inode. */
export async function clangIdentity(clang: string): Promise<string> {
  const real = await realpath(clang);
  const st = await stat(real);
  return `${real}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
}

const TRIPLE = /^[a-z0-9_]+-[a-z0-9_-]+$/;

/**
 * The multiarch triple this clang prints, remembered per clang identity in `dir` (the stage's
 * cache folder): `ask` runs only the first time. A missing or unreadable record is asked again.
 */
export async function rememberedMultiarch(dir: string, clang: string, ask: () => Promise<string>): Promise<string> {
  let file: string | undefined;
  try {
    file = join(dir, `multiarch-${createHash("sha256").update(await clangIdentity(clang)).digest("hex").slice(0, 32)}`);
    const t = (await readFile(file, "utf8")).trim();
    if (TRIPLE.test(t)) return t;
  } catch {
    /* not remembered yet */
  }
  const triple = await ask();
  if (file) {
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(tmp, `${triple}\n`);
      await rename(tmp, file);
    } catch {
      await rm(tmp, { force: true }).catch(() => {});
    }
  }
  return triple;
}
