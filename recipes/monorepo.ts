/**
 * The monorepo recipe: every folder (at any depth, hidden folders and node_modules aside) that
 * holds a program.bpf.c is a gadget. In gadgetfile.ts:
 *
 *   import { defineGadgetfile } from "gadget";
 *   import { monorepo } from "gadget/recipes/monorepo";
 *   export default defineGadgetfile(monorepo({ tag: "ghcr.io/acme/{name}:dev", archs: ["amd64"] }));
 *
 * Gadget names are folder names (two folders with the same name are an error: give one a spec
 * in `extra` with a `name`). Everything else of a gadgetfile can be passed through.
 */
import { defineGadgetfile } from "../core/types.js";
import { recordSite } from "../core/gadgetfile/site.js";
import type { Gadgetfile, GadgetOverrides, GadgetSpec, PublishTarget, TaskSpec } from "../core/types.js";

export interface MonorepoOptions extends GadgetOverrides {
  /** Folder to search, relative to the gadgetfile (default "."). */
  root?: string;
  /** More gadget entries (e.g. per-gadget overrides: { path: "net/tcp", cflags: [...] }). */
  extra?: (string | GadgetSpec)[];
  tasks?: Record<string, TaskSpec>;
  publish?: PublishTarget[];
  plugins?: string[];
}

/** The glob that selects every folder holding a program.bpf.c under root. */
export function monorepoGlob(root = "."): string {
  const r = root.replace(/\/+$/, "") || ".";
  return `${r}/**/program.bpf.c`;
}

export function monorepo(opts: MonorepoOptions = {}): Gadgetfile {
  const { root, extra, tasks, publish, plugins, ...defaults } = opts;
  // Errors in what was passed in point at this call's line in the gadgetfile (keys are found from there).
  return defineGadgetfile({
    gadgets: [monorepoGlob(root), ...(extra ?? [])],
    ...(Object.keys(defaults).length ? { defaults: recordSite(defaults) } : {}),
    ...(tasks ? { tasks } : {}),
    ...(publish ? { publish } : {}),
    ...(plugins ? { plugins } : {}),
  });
}
