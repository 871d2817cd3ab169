/**
 * Where a stage's code came from, and what identifies that code — part of every cache key of
 * its steps, so editing a stage re-runs its steps (DESIGN §7):
 *
 *   built-in  gadget's own version (`io.inspektor-gadget.builder.version` follows it)
 *   local     a digest of the plugin's files (the entry and every local file it imports, by
 *             path relative to the gadgetfile and content) and the packages it imports
 *   npm       the package's name, version and integrity (from the lockfile; else a digest of
 *             the package's files)
 *
 * The loaders (plugins.ts) record it; a stage object handed straight to runGraph by a library
 * user gets a digest of its functions' source text.
 */
import { createHash } from "node:crypto";
import type { Stage } from "../types.js";

export interface StageOrigin {
  kind: "builtin" | "local" | "npm" | "inline";
  /** How --explain names it: "gadget", "./stages/x.ts", "@acme/gadget-lint". */
  source: string;
  /** What identifies the code: a version (built-in), `name@version integrity` (npm), a digest (local, inline). */
  id: string;
}

const origins = new WeakMap<object, StageOrigin>();

export function setStageOrigin(stage: Stage, origin: StageOrigin): void {
  origins.set(stage, origin);
}

export function stageOrigin(stage: Stage): StageOrigin {
  const o = origins.get(stage);
  if (o) return o;
  const h = createHash("sha256");
  for (const f of [stage.inputs, stage.run, stage.setup, stage.teardown]) h.update(typeof f === "function" ? f.toString() : "-").update("\0");
  const inline: StageOrigin = { kind: "inline", source: `stage ${stage.name}`, id: `sha256:${h.digest("hex")}` };
  origins.set(stage, inline);
  return inline;
}

/** --explain's words for a changed stage code (`a` before, `b` now). */
export function explainOriginChange(a: StageOrigin, b: StageOrigin): string {
  if (a.kind === "builtin" && b.kind === "builtin") return `gadget version changed (${a.id} → ${b.id})`;
  if (a.kind === "npm" && b.kind === "npm" && a.source === b.source) {
    const va = a.id.split(" ")[0]!;
    const vb = b.id.split(" ")[0]!;
    return va !== vb ? `stage ${b.source} changed (${va} → ${vb})` : `stage ${b.source} changed`;
  }
  if (a.source !== b.source) return `stage code changed (${a.source} → ${b.source})`;
  return `stage ${b.source} changed`;
}
