/**
 * Load gadgetfile.ts: bundle it in memory with esbuild ("gadget" → this installation), import
 * it from a data: URL, validate the default export. The bundled code is cached in
 * .gadget/gadgetfile.json keyed by the (size, mtime) of every file that went into it, so an
 * unchanged gadgetfile loads without starting esbuild.
 */
import { readFileSync, statSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { GadgetError } from "../errors.js";
import type { Gadgetfile } from "../types.js";
import { bundleModule, displayPath, gadgetLibraryUrl, importBundled } from "./bundle.js";
import { validateGadgetfile } from "./validate.js";
import { cacheRoot } from "../engine/cache-dir.js";

export const GADGETFILE_NAMES = ["gadgetfile.ts", "gadgetfile.mts", "gadgetfile.js", "gadgetfile.mjs"];

export interface LoadedGadgetfile {
  /** Absolute path of the gadgetfile. */
  file: string;
  /** Its folder: gadget paths are relative to it; the cache is in <dir>/.gadget/. */
  dir: string;
  config: Gadgetfile;
  source: string;
  /** The gadgetfile and the local files it imports (watched in watch mode). */
  inputs: string[];
  /** Whether esbuild ran (false: the cached bundle was used). */
  bundled: boolean;
}

interface BundleCache {
  v: 1;
  lib: string;
  inputs: [path: string, size: number, mtimeMs: number][];
  code: string;
}

/** Find the gadgetfile: the given path, or gadgetfile.ts (…) in dir. */
export function findGadgetfile(dir: string, file?: string): string {
  if (file) {
    const p = resolve(dir, file);
    if (!existsSync(p)) throw new GadgetError({ what: "gadgetfile not found", which: displayPath(p), why: "no such file", code: "NOT_FOUND" });
    return p;
  }
  for (const n of GADGETFILE_NAMES) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  throw new GadgetError({ what: "gadgetfile not found", which: join(dir, "gadgetfile.ts"), why: "no gadgetfile.ts in this folder", hint: "run `gadget init` to create one, or pass -f FILE", code: "NOT_FOUND" });
}

function cachePath(file: string): string {
  return join(cacheRoot(dirname(file)), "gadgetfile.json");
}

function readCachedBundle(file: string, lib: string): BundleCache | undefined {
  let c: BundleCache;
  try {
    c = JSON.parse(readFileSync(cachePath(file), "utf8")) as BundleCache;
  } catch {
    return undefined;
  }
  if (c.v !== 1 || c.lib !== lib || c.inputs[0]?.[0] !== file) return undefined;
  for (const [p, size, mtimeMs] of c.inputs) {
    try {
      const st = statSync(p);
      if (st.size !== size || st.mtimeMs !== mtimeMs) return undefined;
    } catch {
      return undefined;
    }
  }
  return c;
}

async function writeCachedBundle(file: string, lib: string, inputs: string[], code: string): Promise<void> {
  const ins: BundleCache["inputs"] = [];
  for (const p of [file, ...inputs.filter((x) => x !== file)]) {
    const st = statSync(p);
    if (Date.now() - st.mtimeMs < 5) return; // too fresh to trust its mtime; bundle again next time
    ins.push([p, st.size, st.mtimeMs]);
  }
  const { writeFileAtomic } = await import("../store/atomic.js");
  mkdirSync(dirname(cachePath(file)), { recursive: true });
  const ignore = join(cacheRoot(dirname(file)), ".gitignore");
  if (!existsSync(ignore)) await writeFileAtomic(ignore, "*\n", { fsync: false });
  await writeFileAtomic(cachePath(file), JSON.stringify({ v: 1, lib, inputs: ins, code } satisfies BundleCache), { fsync: false });
}

export async function loadGadgetfile(file: string, opts: { cache?: boolean } = {}): Promise<LoadedGadgetfile> {
  const abs = resolve(file);
  const lib = gadgetLibraryUrl();
  let source: string;
  try {
    source = readFileSync(abs, "utf8");
  } catch (e) {
    throw new GadgetError({ what: "cannot read gadgetfile", which: displayPath(abs), why: (e as Error).message, cause: e });
  }
  const cached = opts.cache === false ? undefined : readCachedBundle(abs, lib);
  let code: string;
  let inputs: string[];
  if (cached) {
    code = cached.code;
    inputs = cached.inputs.map((i) => i[0]);
  } else {
    const b = await bundleModule(abs);
    code = b.code;
    inputs = [abs, ...b.inputs.filter((p) => p !== abs)];
    if (opts.cache !== false) await writeCachedBundle(abs, lib, inputs, code).catch(() => {});
  }
  const mod = await importBundled(code, abs);
  const config = validateGadgetfile(mod.default, displayPath(abs), source);
  return { file: abs, dir: dirname(abs), config, source, inputs, bundled: !cached };
}
