/**
 * Turn a TypeScript/JavaScript module (a gadgetfile, a local stage plugin) into importable code
 * in memory: esbuild bundles the file and its relative imports, `import … from "gadget"` is
 * pointed at this installation's library, other bare imports at absolute file: URLs (Node
 * refuses bare specifiers from a data: URL), and the result is imported from a data: URL — no
 * temp files. esbuild's metafile lists the files that went in (watched in watch mode).
 */
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { builtinModules } from "node:module";
import { readFileSync } from "node:fs";
import { packageVersion } from "../version.js";
import { GadgetError, type ErrorLocation } from "../errors.js";

export interface Bundled {
  code: string;
  /** Absolute paths of the local files bundled (the entry and its relative imports). */
  inputs: string[];
  /** Packages it imports (not bundled), as `name@version`, sorted: "gadget" is this installation. */
  packages: string[];
}

/** This installation's public library (dist/core/index.js). */
export function gadgetLibraryUrl(): string {
  const self = import.meta.url;
  // From TS sources (in-process tests) Node cannot import .ts from a data: URL: use the dist/ build.
  return new URL(self.endsWith(".ts") ? "../../dist/core/index.js" : "../index.js", self).href;
}

const BUILTINS = new Set(builtinModules);

function isBare(spec: string): boolean {
  return !spec.startsWith(".") && !spec.startsWith("/") && !/^[a-z]+:/i.test(spec) && !isAbsolute(spec);
}

/** Bundle `file` in memory. Syntax errors → GadgetError naming file:line:column. */
export async function bundleModule(file: string, what = "cannot load gadgetfile"): Promise<Bundled> {
  const esbuild = await import("esbuild");
  const abs = resolve(file);
  const libUrl = gadgetLibraryUrl();
  const packages = new Set<string>();
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [abs],
      absWorkingDir: dirname(abs),
      bundle: true,
      write: false,
      format: "esm",
      platform: "node",
      target: "node20",
      metafile: true,
      sourcemap: "inline",
      sourcesContent: false,
      logLevel: "silent",
      plugins: [
        {
          name: "gadget-externals",
          setup(build) {
            build.onResolve({ filter: /.*/ }, async (args) => {
              if (!isBare(args.path) || args.pluginData?.gadgetInner) return undefined;
              if (args.path === "gadget" || args.path.startsWith("gadget/")) packages.add(`gadget@${packageVersion()}`);
              if (args.path === "gadget") return { path: libUrl, external: true };
              // "gadget/stage": the light entry for stage authors, beside the library
              if (args.path === "gadget/stage") return { path: new URL("./stage-api.js", libUrl).href, external: true };
              // "gadget/recipes/monorepo" → this installation's dist/recipes/monorepo.js
              if (args.path.startsWith("gadget/")) return { path: new URL(`../${args.path.slice(7).replace(/\.(js|ts)$/, "")}.js`, libUrl).href, external: true };
              const root = args.path.startsWith("@") ? args.path.split("/").slice(0, 2).join("/") : args.path.split("/")[0]!;
              if (BUILTINS.has(root) || args.path.startsWith("node:")) return { path: args.path, external: true };
              const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { gadgetInner: true } });
              if (r.errors.length > 0) return { errors: r.errors };
              const pkg = packageOf(r.path);
              if (pkg) packages.add(pkg);
              return { path: pathToFileURL(r.path).href, external: true };
            });
          },
        },
      ],
    });
  } catch (e) {
    throw buildFailure(e, abs, what);
  }
  const out = result.outputFiles?.[0];
  if (!out) throw new GadgetError({ what, which: abs, why: "esbuild produced no output" });
  const inputs = Object.keys(result.metafile?.inputs ?? {})
    .filter((p) => !p.includes(":") || isAbsolute(p))
    .map((p) => resolve(dirname(abs), p));
  return { code: lightenGadgetImports(out.text, libUrl), inputs, packages: [...packages].sort() };
}

/** `name@version` of the npm package a resolved file belongs to (its nearest package.json with a name). */
export function packageOf(file: string): string | undefined {
  for (let dir = dirname(file); dirname(dir) !== dir; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (typeof pkg.name === "string") return `${pkg.name}@${typeof pkg.version === "string" ? pkg.version : "0.0.0"}`;
    } catch {
      /* no package.json here */
    }
  }
  return undefined;
}

/** Names of "gadget" that live in core/types.js (no heavy dependencies). */
const LIGHT_NAMES = new Set(["defineGadgetfile", "defineStage", "step", "t", "GadgetError"]);

/**
 * Most gadgetfiles import only defineGadgetfile/defineStage: point those imports at
 * core/types.js instead of the whole library, so loading a gadgetfile stays near Node's start-up.
 */
export function lightenGadgetImports(code: string, libUrl: string): string {
  const quoted = JSON.stringify(libUrl);
  const importRe = /import\s*(\{[^}]*\}|\*\s*as\s+\w+|\w+)\s*from\s*("[^"]*")/g;
  let heavy = false;
  let any = false;
  for (const m of code.matchAll(importRe)) {
    if (m[2] !== quoted) continue;
    any = true;
    const clause = m[1]!;
    if (!clause.startsWith("{")) {
      heavy = true;
      break;
    }
    const names = clause.slice(1, -1).split(",").map((x) => x.trim().split(/\s+as\s+/)[0]!).filter(Boolean);
    if (!names.every((n) => LIGHT_NAMES.has(n))) heavy = true;
  }
  if (!any || heavy || code.includes(`import(${quoted})`)) return code;
  return code.replaceAll(quoted, JSON.stringify(new URL("./types.js", libUrl).href));
}

interface EsbuildMessage {
  text: string;
  location?: { file: string; line: number; column: number; lineText: string } | null;
}

function buildFailure(e: unknown, file: string, what: string): GadgetError {
  const errors = ((e as { errors?: EsbuildMessage[] })?.errors ?? []) as EsbuildMessage[];
  const first = errors[0];
  if (!first) return new GadgetError({ what, which: file, why: (e as Error)?.message ?? String(e), cause: e });
  const loc = first.location;
  const location: ErrorLocation = loc ? { file: displayPath(resolve(dirname(file), loc.file)), line: loc.line, column: loc.column + 1, lineText: loc.lineText } : { file: displayPath(file) };
  return new GadgetError({ what, location, why: first.text, code: "GADGETFILE_SYNTAX", cause: e });
}

/** A path relative to the cwd when inside it (for messages). */
export function displayPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : p;
}

/** The data: URL bundled code is imported from (stack frames of its functions name it). */
export function bundledUrl(code: string): string {
  return "data:text/javascript;base64," + Buffer.from(code).toString("base64");
}

/** Import bundled code from a data: URL; a throw at import time → GadgetError with file:line. */
export async function importBundled(code: string, file: string, what = "cannot load gadgetfile"): Promise<Record<string, unknown>> {
  const url = bundledUrl(code);
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof GadgetError) throw e;
    const err = e as Error;
    const loc = locateThrow(err?.stack ?? "", code, file);
    throw new GadgetError({ what, location: loc ?? { file: displayPath(file) }, why: `threw at import: ${(err?.message ?? String(e)).split("\n")[0]!.replace(/data:text\/javascript;base64,[A-Za-z0-9+/=]+/g, displayPath(file))}`, code: "GADGETFILE_THROWS", cause: e });
  }
}

/** The gadgetfile (or imported file) line of the first stack frame in the bundled code, via its inline source map. */
export function locateThrow(stack: string, code: string, file: string): ErrorLocation | undefined {
  const m = /data:text\/javascript;base64,[A-Za-z0-9+/=]+:(\d+):(\d+)/.exec(stack);
  if (!m) return undefined;
  const pos = mapPosition(code, Number(m[1]), Number(m[2]) - 1);
  if (!pos) return undefined;
  return { file: displayPath(resolve(dirname(resolve(file)), pos.source)), line: pos.line, column: pos.column + 1 };
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function decodeVlq(seg: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of seg) {
    const d = B64.indexOf(ch);
    value += (d & 31) << shift;
    if (d & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

/** Map a generated (1-based line, 0-based column) to the original through the code's inline source map. */
export function mapPosition(code: string, line: number, column: number): { source: string; line: number; column: number } | undefined {
  const sm = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(code);
  if (!sm) return undefined;
  const map = JSON.parse(Buffer.from(sm[1]!, "base64").toString("utf8")) as { sources: string[]; mappings: string };
  const lines = map.mappings.split(";");
  let src = 0;
  let oLine = 0;
  let oCol = 0;
  let best: { source: string; line: number; column: number } | undefined;
  for (let l = 0; l < lines.length && l < line; l++) {
    let gCol = 0;
    for (const seg of lines[l]!.split(",")) {
      if (!seg) continue;
      const v = decodeVlq(seg);
      gCol += v[0]!;
      if (v.length >= 4) {
        src += v[1]!;
        oLine += v[2]!;
        oCol += v[3]!;
        if (l === line - 1 && gCol <= column) best = { source: map.sources[src]!, line: oLine + 1, column: oCol };
        if (l === line - 1 && !best) best = { source: map.sources[src]!, line: oLine + 1, column: oCol };
      }
    }
  }
  return best;
}

export { join };
