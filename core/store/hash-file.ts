/** Hashing blob files on disk, and remembering (per process) which ones already matched their digest. */
import { stat } from "node:fs/promises";
import { digestAlgorithm, hashFile, type Digest } from "../oci/digest.js";

/** path → the file version (size, inode, mtime, ctime) that last hashed to its digest. */
const verified = new Map<string, string>();

/**
 * Is the file at `path` exactly `size` bytes that hash to `digest`? A file of the right size is
 * hashed once per process and version (a rewrite or chmod changes ctime): the size alone says
 * nothing about a corrupt blob, and re-hashing on every question would make a pull of a
 * present image cost a second read of it.
 */
export async function fileMatches(path: string, digest: Digest, size: number): Promise<boolean> {
  let st;
  try {
    st = await stat(path);
  } catch {
    return false;
  }
  if (!st.isFile() || st.size !== size) return false;
  const version = `${st.size}:${st.ino}:${st.mtimeMs}:${st.ctimeMs}`;
  if (verified.get(path) === version) return true;
  let got: { digest: Digest; size: number };
  try {
    got = await hashFile(path, digestAlgorithm(digest));
  } catch {
    return false;
  }
  const ok = got.digest === digest && got.size === size;
  if (ok) verified.set(path, version);
  else verified.delete(path);
  return ok;
}
