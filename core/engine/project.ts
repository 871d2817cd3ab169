/**
 * A loaded project: the gadgetfile, its stages (built-ins + plugins), its gadgets and the steps
 * of the requested tasks — everything `gadget run` and watch mode need before running.
 */
import { relative, sep } from "node:path";
import { GadgetError } from "../errors.js";
import type { GadgetInfo, Logger, Stage, StepSpec } from "../types.js";
import { findGadgetfile, loadGadgetfile, type LoadedGadgetfile } from "../gadgetfile/load.js";
import { resolveGadgets } from "../gadgetfile/gadgets.js";
import { checkStages, effectiveTasks, orderTasks, planSteps, stepStageName, type PlannedStep } from "../gadgetfile/tasks.js";
import { displayPath } from "../gadgetfile/bundle.js";
import { matchPath } from "../gadgetfile/glob.js";
import { runGraph, type GadgetRunResult, type RunGraphOptions } from "./run-graph.js";
import { orderPublishSteps, publishPhaseStart, reorderedTargets } from "./publish-plan.js";

export interface Project {
  gadgetfile: LoadedGadgetfile;
  gadgets: GadgetInfo[];
  stages: Map<string, Stage>;
  tasks: string[];
  steps: PlannedStep[];
  /** Index in `steps` of the first step of the publish phase (all or nothing), if the run publishes. */
  publishFrom?: number;
  /** The publish targets run in another order than listed (local ones — sign — first). */
  reordered: boolean;
  /** Files whose change means "reload the project": the gadgetfile, its imports, local plugin files. */
  configInputs: string[];
}

export interface LoadProjectOptions {
  cwd: string;
  /** -f FILE */
  file?: string;
  tasks?: string[];
  /** Use the cached bundle of an unchanged gadgetfile (default true). */
  bundleCache?: boolean;
  /** `--only`: gadget names or folders (relative to the gadgetfile), globs allowed; default all. */
  gadgets?: string[];
  /**
   * Options set from the command line (e.g. `--validate-metadata=false` → `{ validateMetadata: false }`):
   * given to every step whose stage declares that option, over what the gadgetfile says.
   */
  optionOverrides?: Record<string, unknown>;
}

/** The gadgets `--only` selects: by name or by folder (relative to the gadgetfile), `*`, `?`, `[…]`, `{a,b}`, `**`. */
export function selectGadgets(gadgets: GadgetInfo[], patterns: string[], root: string): GadgetInfo[] {
  const picked = new Set<GadgetInfo>();
  for (const raw of patterns) {
    const p = raw.trim().replace(/\/+$/, "");
    if (!p) continue;
    const hits = gadgets.filter((g) => matchPath(p, g.name) || matchPath(p, relative(root, g.dir).split(sep).join("/")));
    if (hits.length === 0) {
      throw new GadgetError({
        what: "no such gadget",
        which: `--only ${raw}`,
        why: `${JSON.stringify(raw)} matches no gadget's name or folder`,
        hint: `gadgets: ${gadgets.map((g) => g.name).sort().join(", ") || "(none)"}`,
        exitCode: 2,
        code: "USAGE",
      });
    }
    for (const g of hits) picked.add(g);
  }
  return gadgets.filter((g) => picked.has(g));
}

/** Steps' options with the command line's overrides, for the stages that declare those options. */
function applyOptionOverrides(steps: PlannedStep[], stages: ReadonlyMap<string, Stage>, overrides: Record<string, unknown>): PlannedStep[] {
  return steps.map((s) => {
    const stage = stages.get(stepStageName(s.spec));
    const fields = stage?.options?.kind === "object" ? stage.options.fields : {};
    const set = Object.entries(overrides).filter(([k]) => Object.hasOwn(fields, k));
    if (set.length === 0) return s;
    const spec = typeof s.spec === "string" ? { stage: s.spec } : s.spec;
    return { ...s, spec: { ...spec, options: { ...(spec.options ?? {}), ...Object.fromEntries(set) } } };
  });
}


export async function loadProject(opts: LoadProjectOptions): Promise<Project> {
  const file = findGadgetfile(opts.cwd, opts.file);
  const gf = await loadGadgetfile(file, { cache: opts.bundleCache !== false });
  const where = displayPath(gf.file);
  const tasksByName = effectiveTasks(gf.config);
  const requested = opts.tasks && opts.tasks.length > 0 ? opts.tasks : ["build"];
  const order = orderTasks(tasksByName, requested, where, gf.locate);
  const listed = planSteps(gf.config, tasksByName, order);

  const { loadBuiltinStages, loadPluginsWithInputs } = await import("./plugins.js");
  const [builtins, plugins] = await Promise.all([loadBuiltinStages(listed.map((s) => stepStageName(s.spec))), loadPluginsWithInputs(gf.config.plugins ?? [], gf.dir)]);
  const stages = new Map<string, Stage>(builtins);
  for (const [k, v] of plugins.stages) stages.set(k, v); // a plugin may replace a built-in stage
  try {
    checkStages(listed, stages, where, gf.locate);
  } catch (e) {
    if ((e as GadgetError).code !== "UNKNOWN_STAGE") throw e;
    // name every stage in the hint: load the built-ins this run did not need
    const all = new Map<string, Stage>(await loadBuiltinStages());
    for (const [k, v] of stages) all.set(k, v);
    checkStages(listed, all, where, gf.locate);
    throw e;
  }
  let steps = orderPublishSteps(listed, stages);
  if (opts.optionOverrides) steps = applyOptionOverrides(steps, stages, opts.optionOverrides);
  const publishFrom = publishPhaseStart(steps, stages);
  let gadgets = await resolveGadgets(gf.config, gf.dir, where, gf.locate);
  if (opts.gadgets && opts.gadgets.length > 0) gadgets = selectGadgets(gadgets, opts.gadgets, gf.dir);
  return { gadgetfile: gf, gadgets, stages, tasks: order, steps, ...(publishFrom !== undefined ? { publishFrom } : {}), reordered: reorderedTargets(listed, steps), configInputs: [...new Set([...gf.inputs, ...plugins.inputs])] };
}

/** runGraph's options, minus what the project itself provides. */
export type RunProjectOptions = Omit<RunGraphOptions, "gadgets" | "steps" | "stages" | "projectRoot" | "workDir"> & {
  /** Only these gadgets (by name); default all. */
  only?: ReadonlySet<string>;
};

export function runProject(p: Project, o: RunProjectOptions): Promise<GadgetRunResult[]> {
  const steps: StepSpec[] = p.steps.map((s) => s.spec);
  return runGraph({
    gadgets: o.only ? p.gadgets.filter((g) => o.only!.has(g.name)) : p.gadgets,
    steps,
    stages: p.stages,
    storeDir: o.storeDir,
    projectRoot: p.gadgetfile.dir,
    ...(o.jobs ? { jobs: o.jobs } : {}),
    cache: o.cache !== false,
    ...(o.env ? { env: o.env } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    ...(o.loggerFor ? { loggerFor: o.loggerFor } : {}),
    ...(p.publishFrom !== undefined ? { publishFrom: p.publishFrom } : {}),
    ...(o.keepGoing ? { keepGoing: true } : {}),
    ...(o.failFast ? { failFast: true } : {}),
    ...(o.remoteCache ? { remoteCache: o.remoteCache } : {}),
    ...(o.pruneReplaced ? { pruneReplaced: true } : {}),
  });
}

/** The image digest a gadget's run produced (oci-pack's index, or the tagged one). */
export function imageDigest(r: GadgetRunResult): string | undefined {
  for (const k of ["store-tag", "oci-pack"]) {
    const d = r.results[k]?.digest;
    if (typeof d === "string") return d;
  }
  for (const v of Object.values(r.results)) if (typeof v.digest === "string") return v.digest;
  return undefined;
}

export function imageReference(r: GadgetRunResult): string | undefined {
  const ref = r.results["store-tag"]?.reference;
  return typeof ref === "string" ? ref : undefined;
}

