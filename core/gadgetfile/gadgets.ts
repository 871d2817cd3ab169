/**
 * From the gadgetfile's `gadgets` (folders, globs, specs with overrides) and `defaults` to the
 * resolved GadgetInfo list the engine runs. A glob selects folders that look like gadgets
 * (program.bpf.c, gadget.yaml or build.yaml inside); an explicit folder must exist.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { GadgetError } from "../errors.js";
import { normalizeReference } from "../oci/reference.js";
import type { Arch, Gadgetfile, GadgetInfo, GadgetOverrides, GadgetSpec } from "../types.js";

/** Both architectures ig builds (oci/pack.ts has the same list; not imported: it loads yaml). */
const ALL_ARCHS: readonly Arch[] = ["amd64", "arm64"];
import { globGadgetDirs, hasGlob } from "./glob.js";
import { gadgetfileError, type KeyLocator } from "./validate.js";

export function looksLikeGadget(dir: string): boolean {
  return ["program.bpf.c", "gadget.yaml", "build.yaml"].some((f) => existsSync(join(dir, f)));
}

/** Apply a tag template: {name} → the gadget's name; normalized as ig does. */
export function applyTagTemplate(template: string, name: string): string {
  return normalizeReference(template.replaceAll("{name}", name));
}

interface BuildYamlLite {
  ebpfsource?: string;
  metadata?: string;
  wasm?: string;
  cflags?: string[];
}

/** The build.yaml keys (ig's, plus cflags) when the folder has one; parsed lazily with `yaml`. */
async function readBuildYaml(dir: string): Promise<BuildYamlLite> {
  const p = join(dir, "build.yaml");
  if (!existsSync(p)) return {};
  const { parseYaml } = await import("../yaml.js");
  const { displayPath } = await import("./bundle.js");
  const raw = parseYaml(readFileSync(p, "utf8"), displayPath(p), "BAD_BUILD_FILE");
  if (!raw || typeof raw !== "object") return {};
  const o = raw as Record<string, unknown>;
  const r: BuildYamlLite = {};
  for (const k of ["ebpfsource", "metadata", "wasm"] as const) if (typeof o[k] === "string") r[k] = o[k] as string;
  if (typeof o.cflags === "string") r.cflags = o.cflags.split(/\s+/).filter(Boolean);
  else if (Array.isArray(o.cflags)) r.cflags = o.cflags.map(String);
  return r;
}

export async function resolveGadgets(gf: Gadgetfile, baseDir: string, file: string, source?: string | KeyLocator): Promise<GadgetInfo[]> {
  const defaults: GadgetOverrides = gf.defaults ?? {};
  const byDir = new Map<string, GadgetInfo>();
  const names = new Map<string, string>();
  for (let i = 0; i < gf.gadgets.length; i++) {
    const entry = gf.gadgets[i]!;
    const spec: GadgetSpec = typeof entry === "string" ? { path: entry } : entry;
    const keyPath = typeof entry === "string" ? ["gadgets", i] : ["gadgets", i, "path"];
    let dirs: string[];
    if (hasGlob(spec.path)) {
      const g = globGadgetDirs(baseDir, spec.path);
      dirs = g.byFile ? g.dirs : g.dirs.filter(looksLikeGadget);
      if (dirs.length === 0) throw gadgetfileError(file, source, keyPath, `${JSON.stringify(spec.path)} matches no gadget folder (${g.byFile ? "none holds such a file" : "one with program.bpf.c, gadget.yaml or build.yaml"})`);
      if (spec.name && dirs.length > 1) throw gadgetfileError(file, source, ["gadgets", i, "name"], `"name" given for a glob that matches ${dirs.length} folders`);
    } else {
      const d = resolve(baseDir, spec.path);
      let ok = false;
      try {
        ok = statSync(d).isDirectory();
      } catch {
        /* not found */
      }
      if (!ok) throw gadgetfileError(file, source, keyPath, `${JSON.stringify(spec.path)} is not a folder (${d})`, "gadget paths are relative to the gadgetfile");
      dirs = [d];
    }
    for (const dir of dirs) {
      const by = await readBuildYaml(dir);
      const pick = <K extends keyof GadgetOverrides>(k: K): GadgetOverrides[K] => (spec[k] !== undefined ? spec[k] : defaults[k]);
      const name = spec.name ?? basename(dir);
      const other = names.get(name);
      if (other && other !== dir) throw gadgetfileError(file, source, keyPath, `two gadgets are named ${JSON.stringify(name)} (${relative(baseDir, other)} and ${relative(baseDir, dir)})`, 'give one a "name"');
      names.set(name, dir);
      const tagTemplate = pick("tag") ?? "{name}";
      let tag: string;
      try {
        tag = applyTagTemplate(tagTemplate, name);
      } catch (e) {
        throw gadgetfileError(file, source, spec.tag !== undefined ? ["gadgets", i, "tag"] : ["defaults", "tag"], (e as Error).message);
      }
      const wasm = pick("wasm") ?? by.wasm;
      const validateMetadata = pick("validateMetadata");
      const info: GadgetInfo = {
        name,
        dir,
        tag,
        ebpfSource: resolve(dir, pick("ebpfsource") ?? by.ebpfsource ?? "program.bpf.c"),
        metadata: resolve(dir, pick("metadata") ?? by.metadata ?? "gadget.yaml"),
        ...(wasm ? { wasm: resolve(dir, wasm) } : {}),
        cflags: [...(pick("cflags") ?? by.cflags ?? [])],
        archs: [...(pick("archs") ?? ALL_ARCHS)],
        ...(validateMetadata !== undefined ? { validateMetadata } : {}),
        settings: { ...(defaults.settings ?? {}), ...(spec.settings ?? {}) },
      };
      const builderVersion = pick("builderVersion");
      if (builderVersion !== undefined) info.builderVersion = builderVersion;
      byDir.set(dir, info); // a later, more specific entry overrides an earlier glob match
    }
  }
  return [...byDir.values()];
}
