/** Where the gadgetfile is: cheap enough for the no-op fast path (no bundler, no validation). */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { GadgetError } from "../errors.js";
import { displayPath } from "./bundle.js";

export const GADGETFILE_NAMES = ["gadgetfile.ts", "gadgetfile.mts", "gadgetfile.js", "gadgetfile.mjs"];

/** Find the gadgetfile: the given path, or the nearest gadgetfile.ts (…) in dir or a folder above it (like git, npm). */
export function findGadgetfile(dir: string, file?: string): string {
  if (file) {
    const p = resolve(dir, file);
    if (!existsSync(p)) throw new GadgetError({ what: "gadgetfile not found", which: displayPath(p), why: "no such file", code: "NOT_FOUND" });
    return p;
  }
  for (let d = resolve(dir); ; d = dirname(d)) {
    for (const n of GADGETFILE_NAMES) {
      const p = join(d, n);
      if (existsSync(p)) return p;
    }
    if (dirname(d) === d) break;
  }
  throw new GadgetError({ what: "gadgetfile not found", which: join(dir, "gadgetfile.ts"), why: "no gadgetfile.ts in this folder or any folder above it", hint: "run `gadget init` to create one, or pass -f FILE", code: "NOT_FOUND" });
}
