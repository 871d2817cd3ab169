/**
 * The stage contract, checked by the engine (types are erased when a plugin is transpiled):
 * a stage's own definition when it loads, a step's options before anything runs, and what the
 * stage's run() returned. Every failure is a GadgetError naming the stage and the exact key.
 */
import { GadgetError } from "../errors.js";
import { checkSchema, formatKeyPath, isSchema, type Problem } from "../schema.js";
import type { Stage, StageResult } from "../types.js";

/** Why a value is not a stage, or undefined when it is one. */
export function stageDefinitionProblem(s: Stage): string | undefined {
  if (typeof s.name !== "string" || s.name === "") return "a stage needs a string name";
  if (typeof s.version !== "string") return "a stage needs a string version (part of every cache key)";
  if ((typeof s.run === "function") === (typeof s.runBatch === "function")) return "a stage needs a run function (or a runBatch function instead)";
  if (s.runBatch && s.perArch) return "runBatch is for per-gadget stages (perArch must not be set)";
  if (s.perArch !== undefined && typeof s.perArch !== "boolean") return "perArch must be a boolean";
  if (s.cacheable !== undefined && typeof s.cacheable !== "boolean") return "cacheable must be a boolean";
  if (s.publishTarget !== undefined && typeof s.publishTarget !== "boolean") return "publishTarget must be a boolean";
  if (s.leavesMachine !== undefined && typeof s.leavesMachine !== "boolean") return "leavesMachine must be a boolean";
  for (const f of ["inputs", "setup", "teardown"] as const) {
    if (s[f] !== undefined && typeof s[f] !== "function") return `${f} must be a function`;
  }
  if (s.options !== undefined && (!isSchema(s.options) || s.options.kind !== "object")) return "options must be an object schema: options: t.object({ … })";
  if (s.result !== undefined && !isSchema(s.result)) return "result must be a schema built with t (e.g. t.object({ … }))";
  if (s.outputs !== undefined && (!Array.isArray(s.outputs) || !s.outputs.every((o) => typeof o === "string" && o !== "" && !o.includes("@")))) {
    return 'outputs must be a list of artifact names (without "@")';
  }
  return undefined;
}

/** The first problem with a step's options for this stage (a stage without a schema takes none). */
export function stepOptionsProblem(stage: Stage, options: Record<string, unknown>): Problem | undefined {
  if (!stage.options) {
    const keys = Object.keys(options);
    return keys.length ? { path: [keys[0]!], message: `unknown key ${JSON.stringify(keys[0])} (stage ${stage.name} takes no options)` } : undefined;
  }
  return checkSchema(options, stage.options);
}

/** The error for a step whose options do not fit its stage (when the gadgetfile line is not known). */
export function stepOptionsError(stage: Stage, problem: Problem): GadgetError {
  return new GadgetError({
    what: "invalid stage options",
    which: `${stage.name}: ${formatKeyPath(problem.path)}`,
    why: problem.message,
    hint: stage.options ? undefined : "remove the options, or declare them in the stage: options: t.object({ … })",
    code: "STAGE_OPTIONS",
  });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** What run() returned, checked against the contract; returns it typed, or throws STAGE_RESULT. */
export function checkStageResult(stage: Stage, value: unknown): StageResult {
  const bad = (field: string, why: string) =>
    new GadgetError({ what: "stage returned a malformed result", which: `${stage.name}: ${field}`, why, hint: "a stage returns { artifacts?, annotations?, discoveredInputs?, result? } (see the Stage type)", code: "STAGE_RESULT" });
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw bad("(result)", `expected an object or nothing, got ${Array.isArray(value) ? "an array" : typeof value}`);
  for (const k of Object.keys(value)) {
    if (!["artifacts", "annotations", "discoveredInputs", "result"].includes(k)) throw bad(k, `unknown key ${JSON.stringify(k)} (known keys: artifacts, annotations, discoveredInputs, result)`);
  }
  const r = value as StageResult & Record<string, unknown>;
  if (r.artifacts !== undefined) {
    if (!isPlainObject(r.artifacts)) throw bad("artifacts", "expected an object of name → file path");
    const declared = stage.outputs ?? [];
    for (const [name, p] of Object.entries(r.artifacts)) {
      if (!declared.includes(name)) {
        throw bad(`artifacts.${name}`, `${JSON.stringify(name)} is not a declared output (${declared.length ? `declared: ${declared.join(", ")}` : "the stage declares no outputs"})`);
      }
      if (typeof p !== "string" || p === "") throw bad(`artifacts.${name}`, "expected a file path");
    }
  }
  if (r.annotations !== undefined) {
    if (!isPlainObject(r.annotations)) throw bad("annotations", "expected an object of string → string");
    for (const [k, v] of Object.entries(r.annotations)) if (typeof v !== "string") throw bad(`annotations.${k}`, `expected a string, got ${typeof v}`);
  }
  if (r.discoveredInputs !== undefined && (!Array.isArray(r.discoveredInputs) || !r.discoveredInputs.every((f) => typeof f === "string"))) {
    throw bad("discoveredInputs", "expected a list of file paths");
  }
  if (r.result !== undefined) {
    if (stage.result) {
      const p = checkSchema(r.result, stage.result, ["result"]);
      if (p) throw bad(formatKeyPath(p.path), p.message);
    } else if (!isPlainObject(r.result)) {
      throw bad("result", "expected a plain object");
    }
  }
  return r;
}
