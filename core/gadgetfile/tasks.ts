/**
 * Tasks: named step lists with `deps`. `build` defaults to the ig recipe's steps; `publish`
 * defaults to build + the gadgetfile's publish targets. Running tasks T… means running, in one
 * graph, the steps of every task T needs (deps first, each task once), so later steps (push)
 * see earlier steps' results (oci-pack's digest).
 */
import { GadgetError } from "../errors.js";
import type { Gadgetfile, PublishTarget, Stage, StepSpec, TaskSpec } from "../types.js";
import { gadgetfileError, type KeyLocator } from "./validate.js";
import { stepOptionsError, stepOptionsProblem } from "../engine/stage-contract.js";

/** What `ig image build` does, as steps (kept equal to recipes/ig.ts igSteps({})). */
export const DEFAULT_BUILD_STEPS: StepSpec[] = [
  { stage: "clang", options: {} },
  { stage: "strip", options: {} },
  { stage: "wasm", options: {} },
  { stage: "oci-pack", options: { updateMetadata: false } },
  { stage: "store-tag", options: {} },
];

/** Publish targets as steps: `type` is the stage, the other keys its options (relative paths stay relative to the gadgetfile's folder: stages resolve them against ctx.projectRoot). */
export function publishSteps(targets: PublishTarget[]): StepSpec[] {
  return targets.map(({ type, ...options }) => ({ stage: type, options }));
}

export function effectiveTasks(gf: Gadgetfile, buildSteps: StepSpec[] = DEFAULT_BUILD_STEPS): Record<string, TaskSpec> {
  const tasks: Record<string, TaskSpec> = {
    build: { steps: buildSteps, description: "build every gadget into the local store (the ig recipe)" },
    publish: { deps: ["build"], steps: publishSteps(gf.publish ?? []), description: "build, then the publish targets" },
    check: { deps: ["build"], steps: [{ stage: "check", options: { ...(gf.check ?? {}) } }], description: "build, then load every program into the kernels' verifiers" },
  };
  for (const [name, t] of Object.entries(gf.tasks ?? {})) tasks[name] = t;
  return tasks;
}

/** Tasks in run order (deps first) for the requested ones; cycles and unknown deps are errors. */
export function orderTasks(tasks: Record<string, TaskSpec>, requested: string[], file: string, source?: string | KeyLocator): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, stack: string[], from?: { task: string; index: number }) => {
    if (!Object.hasOwn(tasks, name)) {
      if (from) throw gadgetfileError(file, source, ["tasks", from.task, "deps", from.index], `unknown task ${JSON.stringify(name)}`, `known tasks: ${Object.keys(tasks).sort().join(", ")}`, "UNKNOWN_TASK");
      throw new GadgetError({ what: "unknown task", which: name, why: `${file} defines no task ${JSON.stringify(name)}`, hint: `known tasks: ${Object.keys(tasks).sort().join(", ")}`, code: "UNKNOWN_TASK" });
    }
    const s = state.get(name);
    if (s === "done") return;
    if (s === "visiting") {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      throw gadgetfileError(file, source, ["tasks", cycle[0]!, "deps"], `cycle in task deps: ${cycle.join(" → ")}`, "remove one of these deps", "TASK_CYCLE");
    }
    state.set(name, "visiting");
    (tasks[name]!.deps ?? []).forEach((d, index) => visit(d, [...stack, name], { task: name, index }));
    state.set(name, "done");
    order.push(name);
  };
  // Check every task for cycles (not only the requested ones): a broken file fails early.
  for (const t of Object.keys(tasks)) visit(t, []);
  // Run order: the requested tasks in the order given, each after its deps (depth-first), once.
  const out: string[] = [];
  const add = (n: string) => {
    if (out.includes(n)) return;
    for (const d of tasks[n]!.deps ?? []) add(d);
    out.push(n);
  };
  for (const r of requested) {
    if (!Object.hasOwn(tasks, r)) visit(r, []);
    add(r);
  }
  return out;
}

export interface PlannedStep {
  task: string;
  spec: StepSpec;
  /** Where it is written, for errors: tasks.<task>.steps[i] or publish[i] (undefined for built-in tasks). */
  keyPath?: (string | number)[];
  /** Where its options are written, when they are (tasks.<task>.steps[i].options, publish[i], check). */
  optionsPath?: (string | number)[];
  /** A publish target (`publish[i]`): its type must be a stage that publishes. */
  publish?: boolean;
}

export function planSteps(gf: Gadgetfile, tasks: Record<string, TaskSpec>, order: string[]): PlannedStep[] {
  const out: PlannedStep[] = [];
  for (const t of order) {
    const user = Object.hasOwn(gf.tasks ?? {}, t);
    (tasks[t]!.steps ?? []).forEach((spec, i) => {
      if (user) out.push({ task: t, spec, keyPath: ["tasks", t, "steps", i], optionsPath: ["tasks", t, "steps", i, "options"] });
      else if (t === "publish") out.push({ task: t, spec, keyPath: ["publish", i], optionsPath: ["publish", i], publish: true });
      else if (t === "check" && gf.check !== undefined) out.push({ task: t, spec, optionsPath: ["check"] });
      else out.push({ task: t, spec });
    });
  }
  return out;
}

export function stepStageName(s: StepSpec): string {
  return typeof s === "string" ? s : s.stage;
}

/**
 * Every step names a loaded stage (a publish target, a stage that is one) and its options fit the
 * stage's schema; else an error at the step's file:line naming the stage and the key.
 */
export function checkStages(steps: PlannedStep[], stages: ReadonlyMap<string, Stage>, file: string, source?: string | KeyLocator): void {
  for (const s of steps) {
    const name = stepStageName(s.spec);
    const stage = stages.get(name);
    if (!stage || (s.publish && !stage.publishTarget)) {
      const known = s.publish ? [...stages.values()].filter((x) => x.publishTarget).map((x) => x.name) : [...stages.keys()];
      const hint = `known ${s.publish ? "publish targets" : "stages"}: ${known.sort().join(", ")}; add the plugin that defines it to "plugins"`;
      const why = s.publish ? `unknown publish target type ${JSON.stringify(name)}` : `unknown stage ${JSON.stringify(name)}`;
      if (s.keyPath) throw gadgetfileError(file, source, s.publish ? [...s.keyPath, "type"] : typeof s.spec === "string" ? s.keyPath : [...s.keyPath, "stage"], why, hint, "UNKNOWN_STAGE");
      throw new GadgetError({ what: "unknown stage", which: `${name} (task ${s.task})`, why: `no stage named ${JSON.stringify(name)} is loaded`, hint, code: "UNKNOWN_STAGE" });
    }
    const options = typeof s.spec === "string" ? {} : (s.spec.options ?? {});
    const problem = stepOptionsProblem(stage, options);
    if (!problem) continue;
    if (!s.optionsPath) throw stepOptionsError(stage, problem);
    throw gadgetfileError(file, source, [...s.optionsPath, ...problem.path], `${problem.message} for stage ${name}`, stage.options ? undefined : `stage ${name} takes no options`, "STAGE_OPTIONS");
  }
}
