/**
 * Stages are plugins (DESIGN §7): gadget's built-ins (plugins/index.js of this installation)
 * and an organization's own, from a local .ts/.js file or an npm package, are loaded the same
 * way and checked the same way. Core never imports a plugin statically.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { GadgetError } from "../errors.js";
import type { Stage } from "../types.js";

/**
 * Built-in publish stages live in their own files (plugins/<name>.ts), outside plugins/index, so
 * a build never loads the registry client, the tar writer or the signing code it does not use.
 */
const PUBLISH_STAGES = ["push", "tar-export", "sign"];

/**
 * gadget's own stages: a dynamic import of this installation's plugins/index, plus the publish
 * stages. `needed`: stage names the caller will run — publish stages are then loaded only when
 * named (all of them when `needed` is not given).
 */
export async function loadBuiltinStages(needed?: Iterable<string>): Promise<Map<string, Stage<any>>> {
  const self = import.meta.url;
  const ext = self.endsWith(".ts") ? "ts" : "js";
  const load = async (name: string, what: string): Promise<Record<string, unknown>> => {
    const url = new URL(`../../plugins/${name}.${ext}`, self);
    try {
      return (await import(url.href)) as Record<string, unknown>;
    } catch (e) {
      throw new GadgetError({ what: `cannot load ${what}`, which: url.pathname, why: (e as Error)?.message ?? String(e), hint: "run `node scripts/build.mjs` to rebuild dist/", cause: e });
    }
  };
  const map = new Map<string, Stage<any>>();
  for (const s of stagesOf(await load("index", "built-in stages"), "built-in stages")) map.set(s.name, s);
  const want = needed ? new Set(needed) : new Set(PUBLISH_STAGES);
  for (const name of PUBLISH_STAGES) {
    if (map.has(name) || !want.has(name)) continue;
    for (const s of stagesOf(await load(name, `built-in stage ${name}`), `built-in stage ${name}`)) if (!map.has(s.name)) map.set(s.name, s);
  }
  return map;
}

/** Is this a stage (has name, version and run)? */
export function isStage(x: unknown): x is Stage<any> {
  const s = x as Stage<any>;
  return typeof s === "object" && s !== null && typeof s.name === "string" && typeof s.version === "string" && typeof s.run === "function";
}

/** The stages a plugin module exports: `stages` (array), the default export (stage or array), or named stage exports. */
export function stagesOf(mod: Record<string, unknown>, which: string): Stage<any>[] {
  const found: Stage<any>[] = [];
  const take = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(take);
    else if (isStage(v)) {
      if (!found.includes(v)) found.push(v);
    } else if (v && typeof v === "object" && "name" in v && "run" in v) {
      throw new GadgetError({ what: "invalid stage", which: `${which}: ${String((v as { name: unknown }).name)}`, why: "a stage needs a string name, a string version and a run function", hint: "use defineStage({ name, version, run })" });
    }
  };
  if (mod.stages !== undefined) take(mod.stages);
  if (mod.default !== undefined) take(mod.default);
  if (found.length === 0) for (const [k, v] of Object.entries(mod)) if (k !== "default" && k !== "stages" && isStage(v)) found.push(v);
  if (found.length === 0) {
    throw new GadgetError({ what: "plugin exports no stages", which, why: "expected `export const stages = [...]`, a default export, or named defineStage(...) exports", hint: "export the stage: export default defineStage({ name, version, run })" });
  }
  for (const s of found) {
    if (s.perArch !== undefined && typeof s.perArch !== "boolean") throw new GadgetError({ what: "invalid stage", which: `${which}: ${s.name}`, why: "perArch must be a boolean" });
    if (s.inputs !== undefined && typeof s.inputs !== "function") throw new GadgetError({ what: "invalid stage", which: `${which}: ${s.name}`, why: "inputs must be a function" });
  }
  return found;
}

/** Where an npm package's ESM entry is, looked up from `fromDir` upwards (node_modules). */
export function resolvePackageEntry(spec: string, fromDir: string): string | undefined {
  const parts = spec.split("/");
  const pkgName = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
  const subpath = parts.slice(spec.startsWith("@") ? 2 : 1).join("/");
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, "node_modules", pkgName);
    const pkgJson = join(pkgDir, "package.json");
    if (existsSync(pkgJson)) {
      if (subpath) return join(pkgDir, subpath);
      const pkg = JSON.parse(readFileSync(pkgJson, "utf8")) as { exports?: unknown; module?: string; main?: string };
      const entry = exportEntry(pkg.exports) ?? pkg.module ?? pkg.main ?? "index.js";
      return join(pkgDir, entry);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function exportEntry(exp: unknown): string | undefined {
  if (typeof exp === "string") return exp;
  if (!exp || typeof exp !== "object") return undefined;
  const o = exp as Record<string, unknown>;
  if ("." in o) return exportEntry(o["."]);
  for (const cond of ["import", "node", "default"]) if (cond in o) return exportEntry(o[cond]);
  return undefined;
}

export interface LoadedPlugins {
  stages: Map<string, Stage<any>>;
  /** Local files that make up the plugins (watched in watch mode). */
  inputs: string[];
}

/** Load user plugins: "./stages/lint.ts" (relative to fromDir) or "@acme/gadget-lint" (npm package). */
export async function loadPlugins(specs: string[], fromDir: string): Promise<Map<string, Stage<any>>> {
  return (await loadPluginsWithInputs(specs, fromDir)).stages;
}

export async function loadPluginsWithInputs(specs: string[], fromDir: string): Promise<LoadedPlugins> {
  const stages = new Map<string, Stage<any>>();
  const inputs: string[] = [];
  for (const spec of specs) {
    const local = spec.startsWith(".") || isAbsolute(spec);
    const file = local ? resolve(fromDir, spec) : resolvePackageEntry(spec, fromDir);
    if (!file || !existsSync(file)) {
      throw new GadgetError({
        what: "cannot load plugin",
        which: spec,
        why: local ? `no such file: ${file}` : `package not found in node_modules (looked upwards from ${fromDir})`,
        hint: local ? "check the path in \"plugins\" (relative to the gadgetfile)" : `npm install ${spec}`,
        code: "PLUGIN_NOT_FOUND",
      });
    }
    let mod: Record<string, unknown>;
    const ext = extname(file);
    if (ext === ".ts" || ext === ".mts" || ext === ".cts" || ext === ".tsx") {
      const { bundleModule, importBundled } = await import("../gadgetfile/bundle.js");
      const b = await bundleModule(file, "cannot load plugin");
      inputs.push(...b.inputs);
      mod = await importBundled(b.code, file, "cannot load plugin");
    } else {
      if (local) inputs.push(file);
      try {
        // A local file is imported with its mtime in the URL, so watch mode reloads an edited one.
        const url = pathToFileURL(file).href + (local ? `?mtime=${statSync(file).mtimeMs}` : "");
        mod = (await import(url)) as Record<string, unknown>;
      } catch (e) {
        throw new GadgetError({ what: "cannot load plugin", which: spec, why: (e as Error)?.message?.split("\n")[0] ?? String(e), cause: e });
      }
    }
    for (const s of stagesOf(mod, spec)) {
      if (stages.has(s.name)) throw new GadgetError({ what: "duplicate stage", which: s.name, why: `defined twice among plugins (again in ${spec})` });
      stages.set(s.name, s);
    }
  }
  return { stages, inputs };
}
