/**
 * Stages are plugins (DESIGN §7): gadget's built-ins (plugins/index.js of this installation)
 * and an organization's own, from a local .ts/.js file or an npm package, are loaded the same
 * way and checked the same way. Core never imports a plugin statically.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { GadgetError } from "../errors.js";
import type { Stage } from "../types.js";
import { packageVersion } from "../version.js";
import { stageDefinitionProblem } from "./stage-contract.js";
import { setStageOrigin, type StageOrigin } from "./stage-origin.js";

type BuiltinTable = Readonly<Record<string, () => Promise<Stage>>>;

async function builtinTable(): Promise<BuiltinTable> {
  const self = import.meta.url;
  const url = new URL(`../../plugins/index.${self.endsWith(".ts") ? "ts" : "js"}`, self);
  try {
    return ((await import(url.href)) as { builtinStages: BuiltinTable }).builtinStages;
  } catch (e) {
    throw new GadgetError({ what: "cannot load built-in stages", which: url.pathname, why: (e as Error)?.message ?? String(e), hint: "run `node scripts/build.mjs` to rebuild dist/", cause: e, code: "PLUGIN_INVALID" });
  }
}

/** The names of gadget's own stages (without loading any of them). */
export async function builtinStageNames(): Promise<string[]> {
  return Object.keys(await builtinTable());
}

/**
 * gadget's own stages, from this installation's plugins/index table: only those in `needed`
 * (stage names a run will use; unknown names are left to the caller), all of them without it.
 */
export async function loadBuiltinStages(needed?: Iterable<string>): Promise<Map<string, Stage>> {
  const table = await builtinTable();
  const names = needed ? [...new Set(needed)].filter((n) => Object.hasOwn(table, n)) : Object.keys(table);
  const loaded = await Promise.all(
    names.map(async (name) => {
      let stage: Stage;
      try {
        stage = await table[name]!();
      } catch (e) {
        throw new GadgetError({ what: "cannot load built-in stage", which: name, why: (e as Error)?.message ?? String(e), hint: "run `node scripts/build.mjs` to rebuild dist/", cause: e, code: "PLUGIN_INVALID" });
      }
      checkStage(stage, `built-in stage ${name}`);
      setStageOrigin(stage, { kind: "builtin", source: "gadget", id: packageVersion() });
      return stage;
    }),
  );
  return new Map(loaded.map((s) => [s.name, s]));
}

/** Is this a stage (has name, version and run)? */
export function isStage(x: unknown): x is Stage {
  const s = x as Stage;
  return typeof s === "object" && s !== null && typeof s.name === "string" && typeof s.version === "string" && (typeof s.run === "function" || typeof s.runBatch === "function");
}

function checkStage(s: Stage, which: string): void {
  const why = stageDefinitionProblem(s);
  if (why) throw new GadgetError({ what: "invalid stage", which: `${which}: ${String((s as { name?: unknown }).name)}`, why, hint: "use defineStage({ name, version, options, outputs, run }) (see the Stage type)", code: "PLUGIN_INVALID" });
}

/** The stages a plugin module exports: `stages` (array), the default export (stage or array), or named stage exports. */
export function stagesOf(mod: Record<string, unknown>, which: string): Stage[] {
  const found: Stage[] = [];
  const take = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(take);
    else if (v && typeof v === "object" && "name" in v && ("run" in v || "runBatch" in v)) {
      checkStage(v as Stage, which);
      if (!found.includes(v as Stage)) found.push(v as Stage);
    }
  };
  if (mod.stages !== undefined) take(mod.stages);
  if (mod.default !== undefined) take(mod.default);
  if (found.length === 0) for (const [k, v] of Object.entries(mod)) if (k !== "default" && k !== "stages" && isStage(v)) found.push(v);
  if (found.length === 0) {
    throw new GadgetError({ what: "plugin exports no stages", which, why: "expected `export const stages = [...]`, a default export, or named defineStage(...) exports", hint: "export the stage: export default defineStage({ name, version, run })", code: "PLUGIN_INVALID" });
  }
  for (const s of found) checkStage(s, which);
  return found;
}

function splitSpec(spec: string): { pkgName: string; subpath: string } {
  const parts = spec.split("/");
  return { pkgName: spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!, subpath: parts.slice(spec.startsWith("@") ? 2 : 1).join("/") };
}

/** The folder of an installed npm package, looked up from `fromDir` upwards (node_modules). */
export function findPackageDir(pkgName: string, fromDir: string): string | undefined {
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, "node_modules", pkgName);
    if (existsSync(join(pkgDir, "package.json"))) return pkgDir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Where an npm package's ESM entry is, looked up from `fromDir` upwards (node_modules). */
export function resolvePackageEntry(spec: string, fromDir: string): string | undefined {
  const { pkgName, subpath } = splitSpec(spec);
  const pkgDir = findPackageDir(pkgName, fromDir);
  if (!pkgDir) return undefined;
  if (subpath) return join(pkgDir, subpath);
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { exports?: unknown; module?: string; main?: string };
  const entry = exportEntry(pkg.exports) ?? pkg.module ?? pkg.main ?? "index.js";
  return join(pkgDir, entry);
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
  stages: Map<string, Stage>;
  /** Local files that make up the plugins (watched in watch mode). */
  inputs: string[];
}

/** Load user plugins: "./stages/lint.ts" (relative to fromDir) or "@acme/gadget-lint" (npm package). */
export async function loadPlugins(specs: string[], fromDir: string): Promise<Map<string, Stage>> {
  return (await loadPluginsWithInputs(specs, fromDir)).stages;
}

export async function loadPluginsWithInputs(specs: string[], fromDir: string): Promise<LoadedPlugins> {
  const stages = new Map<string, Stage>();
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
    let origin: StageOrigin;
    const ext = extname(file);
    const { bundleModule, importBundled } = await import("../gadgetfile/bundle.js");
    if (ext === ".ts" || ext === ".mts" || ext === ".cts" || ext === ".tsx") {
      const b = await bundleModule(file, "cannot load plugin");
      inputs.push(...b.inputs);
      origin = localOrigin(spec, b.inputs, b.packages, fromDir);
      mod = await importBundled(b.code, file, "cannot load plugin");
    } else {
      if (local) {
        // Imported as it is (not bundled: it may share modules with gadget); esbuild only lists
        // the local files it imports, for its cache key and for watch mode.
        const b = await bundleModule(file, "cannot load plugin").catch(() => ({ inputs: [file], packages: [] as string[] }));
        inputs.push(...b.inputs);
        origin = localOrigin(spec, b.inputs, b.packages, fromDir);
      } else {
        origin = npmOrigin(spec, fromDir);
      }
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
      setStageOrigin(s, origin);
      stages.set(s.name, s);
    }
  }
  return { stages, inputs };
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A local plugin's identity: its files (path relative to the gadgetfile, content) and the packages it imports. */
export function localOrigin(spec: string, files: string[], packages: string[], fromDir: string): StageOrigin {
  const h = createHash("sha256");
  for (const f of [...new Set(files)].sort()) {
    let content: Buffer;
    try {
      content = readFileSync(f);
    } catch {
      content = Buffer.from("(missing)");
    }
    h.update(relative(fromDir, f).split(sep).join("/")).update("\0").update(sha256(content)).update("\n");
  }
  for (const p of packages) h.update(p).update("\n");
  return { kind: "local", source: spec, id: `sha256:${h.digest("hex")}` };
}

/** An npm plugin's identity: version and integrity from the lockfile, else a digest of the package's files. */
export function npmOrigin(spec: string, fromDir: string): StageOrigin {
  const { pkgName } = splitSpec(spec);
  const pkgDir = findPackageDir(pkgName, fromDir)!;
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version?: string };
  const version = pkg.version ?? "0.0.0";
  return { kind: "npm", source: pkgName, id: `${version} ${lockedIntegrity(pkgDir, fromDir) ?? packageDigest(pkgDir)}` };
}

/** The integrity npm recorded for the package folder (package-lock.json, or node_modules/.package-lock.json). */
function lockedIntegrity(pkgDir: string, fromDir: string): string | undefined {
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    for (const lock of [join(dir, "package-lock.json"), join(dir, "node_modules", ".package-lock.json")]) {
      let parsed: { packages?: Record<string, { integrity?: string }> };
      try {
        parsed = JSON.parse(readFileSync(lock, "utf8")) as typeof parsed;
      } catch {
        continue;
      }
      const key = relative(dirname(lock).endsWith(`${sep}node_modules`) ? dirname(dirname(lock)) : dirname(lock), pkgDir).split(sep).join("/");
      const integrity = parsed.packages?.[key]?.integrity;
      if (integrity) return integrity;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** A digest of a package's files (its own, not its node_modules): for packages without a lockfile entry. */
function packageDigest(pkgDir: string): string {
  const h = createHash("sha256");
  const walk = (dir: string, depth: number) => {
    if (depth > 8) return;
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (n === "node_modules" || n === ".git") continue;
      const p = join(dir, n);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p, depth + 1);
      else if (st.isFile()) h.update(relative(pkgDir, p)).update("\0").update(sha256(readFileSync(p))).update("\n");
    }
  };
  walk(pkgDir, 0);
  return `sha256:${h.digest("hex")}`;
}
