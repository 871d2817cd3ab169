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
import { bundleModule, bundledUrl, displayPath, gadgetLibraryUrl, importBundled, mapPosition } from "./bundle.js";
import { findKeyPath, locateKeyPath, validateGadgetfile, type KeyLocator, type KeyPath } from "./validate.js";
import { siteOf } from "./site.js";
import { cacheRoot } from "../engine/cache-dir.js";
import { findGadgetfile, GADGETFILE_NAMES } from "./find.js";

export { findGadgetfile, GADGETFILE_NAMES };


export interface LoadedGadgetfile {
  /** Absolute path of the gadgetfile. */
  file: string;
  /** Its folder: gadget paths are relative to it; the cache is in <dir>/.gadget/. */
  dir: string;
  config: Gadgetfile;
  source: string;
  /** Where a key path of `config` is written (file:line), through recipes and step() helpers too. */
  locate: KeyLocator;
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
  const locate = keyLocator(mod.default, abs, source, code);
  const config = validateGadgetfile(mod.default, displayPath(abs), locate);
  return { file: abs, dir: dirname(abs), config, source, locate, inputs, bundled: !cached };
}

/**
 * Where a key path is written. The deepest object on the path that recorded where it was made
 * (defineGadgetfile, a recipe such as monorepo(), step()) gives the starting points: its caller's
 * frames in the gadgetfile or the local modules it imports, found through the bundle's source map.
 * The rest of the path is searched from the innermost frame; else the offending key from each
 * frame outwards (a recipe in a local module, called with the entry's options from the gadgetfile);
 * else the innermost frame's line. Without a recorded place: searched from `defineGadgetfile(`.
 */
export function keyLocator(config: unknown, file: string, source: string, code: string): KeyLocator {
  const url = bundledUrl(code);
  const shown = displayPath(file);
  const texts = new Map<string, string>([[file, source]]);
  const textOf = (f: string): string | undefined => {
    if (!texts.has(f)) {
      try {
        texts.set(f, readFileSync(f, "utf8"));
      } catch {
        return undefined;
      }
    }
    return texts.get(f);
  };
  return (path: KeyPath) => {
    let site = siteOf(config);
    let rest: KeyPath = path;
    let node: unknown = config;
    for (let i = 0; i < path.length && node !== null && typeof node === "object"; i++) {
      node = (node as Record<string | number, unknown>)[path[i]!];
      const s = siteOf(node);
      if (s) {
        site = s;
        rest = path.slice(i + 1);
      }
    }
    const places = (site && site.url === url ? site.frames : [])
      .map((f) => mapPosition(code, f.line, f.column - 1))
      .filter((p): p is NonNullable<typeof p> => p !== undefined)
      .map((p) => {
        const where = resolve(dirname(file), p.source);
        const text = textOf(where);
        const offset = text === undefined ? 0 : text.split("\n").slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0) + p.column;
        return { where, text, offset, line: p.line, column: p.column + 1 };
      });
    if (places.length === 0) {
      const l = locateKeyPath(source, path);
      return l ? { file: shown, ...l } : undefined;
    }
    // step("oci-pack", { … }): the options are the call's second argument, not an `options:` key
    const keys = site!.kind === "step" && rest[0] === "options" ? rest.slice(1) : rest;
    const inner = places[0]!;
    if (inner.text !== undefined && keys.length > 0) {
      const l = findKeyPath(inner.text, keys, inner.offset);
      if (l.found) return { file: displayPath(inner.where), line: l.line, column: l.column };
    }
    const last = [...keys].reverse().find((k) => typeof k === "string");
    if (last !== undefined) {
      for (const p of places) {
        if (p.text === undefined) continue;
        const l = findKeyPath(p.text, [last], p.offset);
        if (l.found) return { file: displayPath(p.where), line: l.line, column: l.column };
      }
    }
    return { file: displayPath(inner.where), line: inner.line, column: inner.column };
  };
}
