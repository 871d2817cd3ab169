/** Helpers for the tar/export/import tests: archive builders and store snapshots. */
import { createHash } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { BLOCK, encodeHeader, padding } from "../../core/tar/header.js";
import { readTar } from "../../core/tar/reader.js";
import { IG_FIXTURE_TAR, runGadget } from "../helpers/cli.js";

export interface RawEntry {
  path: string;
  data?: Buffer;
  /** Type flag, default "0". */
  type?: string;
  linkname?: string;
  mode?: number;
  /** Header size when it must differ from data.length (e.g. for truncation tricks). */
  size?: number;
}

/** Build a tar from raw entries with our header encoder (any type flag, any path). */
export function buildTar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    const size = e.size ?? data.length;
    // paths longer than 100 bytes or starting with "/" are written raw into the name field
    let header: Buffer;
    try {
      header = encodeHeader({ path: e.path, size, mode: e.mode ?? 0o644, type: e.type, linkname: e.linkname });
    } catch {
      header = encodeHeader({ path: "placeholder", size, mode: e.mode ?? 0o644, type: e.type, linkname: e.linkname });
      rawName(header, e.path);
    }
    parts.push(header, data, Buffer.alloc(padding(data.length)));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Overwrite the name field and fix the checksum. */
export function rawName(header: Buffer, name: string): void {
  header.fill(0, 0, 100);
  header.write(name, 0, "utf8");
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += header[i]!;
  header.write(sum.toString(8).padStart(6, "0"), 148, "latin1");
  header[154] = 0;
  header[155] = 0x20;
}

/** The fixture's entries (path → bytes), read with our reader. */
export async function fixtureEntries(): Promise<{ path: string; data: Buffer }[]> {
  const out: { path: string; data: Buffer }[] = [];
  const bytes = await readFile(IG_FIXTURE_TAR);
  await readTar([bytes], async (entry, body) => {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c));
    out.push({ path: entry.path, data: Buffer.concat(parts) });
  });
  return out;
}

export const sha256hex = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** Every file under the store with its size (and a hash for small files): "unchanged" means equal. */
export async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      // lock files are the store's own machinery (index.json.lock, .tmp/writers.lock), not content
      if (n.endsWith(".lock")) continue;
      const p = join(d, n);
      const st = await stat(p);
      if (st.isDirectory()) {
        // the store's temp dir may exist (it holds the writers lock); what is in it still counts
        if (n !== ".tmp") out.push(`${relative(dir, p)}/`);
        await walk(p);
      } else {
        const hash = st.size < 1 << 20 ? sha256hex(await readFile(p)) : "";
        out.push(`${relative(dir, p)} ${st.size} ${(st.mode & 0o777).toString(8)} ${hash}`);
      }
    }
  };
  await walk(dir);
  return out;
}

/** A store with the ig fixture imported (so index.json and blobs exist). */
export async function storeWithFixture(store: string): Promise<void> {
  const r = await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", store]);
  if (r.code !== 0) throw new Error(`fixture import failed: ${r.stderr}`);
}
