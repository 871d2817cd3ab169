/**
 * The step graph (DESIGN §7): gadgets × steps × architectures. Each gadget's steps run in
 * order; consecutive per-arch steps form one chain per arch (clang→strip for amd64 and arm64
 * at once), a per-gadget step waits for everything before it. Independent work (archs,
 * gadgets) runs concurrently up to `jobs`. A failed gadget stops; the others go on.
 * With the cache on, each cacheable step is looked up first (cache.ts) and restored on a hit.
 */
import { availableParallelism, tmpdir } from "node:os";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { GadgetError } from "../errors.js";
import type { Arch, Artifact, GadgetInfo, Logger, RunInfo, Stage, StageContext, StageInputs, StageResult, StageStore, StepSpec } from "../types.js";
import type { LayoutStore } from "../store/layout-store.js";
import type { Descriptor } from "../oci/model.js";
import { exec, makeDollar } from "./exec.js";
import { whichSync, type StepCache } from "./cache.js";
import { checkStageResult, stepOptionsError, stepOptionsProblem } from "./stage-contract.js";
import { hashFileOffThread } from "./pool.js";
import { Semaphore } from "../limit.js";
import { PhaseGate, type PhaseMember } from "./phase-gate.js";
import type { RemoteCacheSettings } from "./remote-cache-config.js";
import type { RemoteCache } from "./remote-cache.js";
import { cacheRoot } from "./cache-dir.js";

export { Semaphore };

export interface StepEvent {
  /** stop: a started step did not run after all (the run was interrupted, or --fail-fast). */
  type: "start" | "hit" | "miss" | "done" | "fail" | "stop";
  gadget: string;
  stage: string;
  /** The step's place in the task's step list (0-based): --explain prints in this order. */
  step: number;
  arch?: Arch;
  /** Whether the step is looked up in the cache (publish steps and --no-cache runs are not). */
  cacheable: boolean;
  /** done: what the stage reported (StageResult.result), e.g. a push's reference and digest. */
  result?: Record<string, unknown>;
  /** done/fail: the step's own time, without time spent waiting for a --jobs slot; hit: the lookup's. */
  ms?: number;
  /** done/fail: when the step was working (performance.now() intervals; queued time left out). */
  spans?: [number, number][];
  /** hit/miss: why (for --explain). */
  reason?: string;
  /** hit: which tier of the cache had it (.gadget/, or the remote cache in a registry). */
  tier?: "local" | "remote";
  error?: unknown;
}

export interface RunGraphOptions {
  gadgets: GadgetInfo[];
  /** Ordered steps, same for every gadget. */
  steps: StepSpec[];
  /** Stages by name. */
  stages: ReadonlyMap<string, Stage<any>>;
  storeDir: string;
  /** The gadgetfile's folder: relative paths in step options are relative to it; the cache lives in <projectRoot>/.gadget/. */
  projectRoot: string;
  /** Steps run at once (default os.availableParallelism()). */
  jobs?: number;
  /** Default true. */
  cache?: boolean;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  signal?: AbortSignal;
  onEvent?: (e: StepEvent) => void;
  /** Each gadget's logger (e.g. its lines prefixed with its name); default `logger`. */
  loggerFor?: (gadget: GadgetInfo) => Logger;
  /**
   * The first step of the publish phase (see publish-plan.ts): it runs only when every gadget has
   * finished the steps before it; if any failed, no gadget publishes (all or nothing) unless
   * `keepGoing`.
   */
  publishFrom?: number;
  /** Publish the gadgets that built even when others failed. */
  keepGoing?: boolean;
  /** After the first failure, start no new step (steps already running finish). */
  failFast?: boolean;
  /**
   * The folder of the stages' persistent folders (`ctx.cacheDir` is `<it>/<stage name>`); default
   * `<cache root>/stages` (cache-dir.ts: `.gadget/` in projectRoot, or GADGET_CACHE_DIR).
   */
  stageCacheDir?: string;
  /**
   * Where steps write outputs when the cache is off. Default: a temp dir removed when runGraph
   * returns (so artifact paths are only valid during the run) — pass a dir to keep them.
   */
  workDir?: string;
  /** The step cache's registry tier (remote-cache.ts); only with the cache on. */
  remoteCache?: RemoteCacheSettings;
  /**
   * When a stage moves a tag to a new image, remove the blobs only the replaced image used, at the
   * end of the run (`gadget run` without --keep-old). Default false: the old image stays.
   */
  pruneReplaced?: boolean;
}

export interface GadgetRunResult {
  gadget: GadgetInfo;
  ok: boolean;
  /**
   * ok; failed (a step failed); withheld (built, but another gadget failed, so its publish steps
   * did not run); stopped (not finished: --fail-fast after another gadget failed, or interrupted).
   */
  status: "ok" | "failed" | "withheld" | "stopped";
  /** First failure (GadgetError or ToolError). */
  error?: unknown;
  /** Final artifacts (per-arch ones as "<name>@<arch>"). */
  artifacts: Map<string, Artifact>;
  annotations: Record<string, string>;
  /** StageResult.result by stage name (per-arch stages: by "<stage>@<arch>" and the last under "<stage>"). */
  results: Record<string, Record<string, unknown>>;
  /** Files the gadget's steps read (declared + discovered, and the tools they ran), absolute: what watch mode watches. */
  inputs: string[];
}

export interface NormalizedStep {
  index: number;
  stage: Stage<any>;
  options: Record<string, unknown>;
  archs?: Arch[];
}

/** Steps with their stages; unknown stages and options that do not fit the stage's schema are errors. */
export function normalizeSteps(steps: StepSpec[], stages: ReadonlyMap<string, Stage<any>>): NormalizedStep[] {
  return steps.map((s, index) => {
    const name = typeof s === "string" ? s : s.stage;
    const stage = stages.get(name);
    if (!stage) {
      throw new GadgetError({
        what: "unknown stage",
        which: name,
        why: `no stage named ${JSON.stringify(name)} is loaded`,
        hint: `known stages: ${[...stages.keys()].sort().join(", ")}; add the plugin that defines it to "plugins"`,
        code: "UNKNOWN_STAGE",
      });
    }
    const options = typeof s === "string" ? {} : { ...(s.options ?? {}) };
    const problem = stepOptionsProblem(stage, options);
    if (problem) throw stepOptionsError(stage, problem);
    return { index, stage, options, archs: typeof s === "string" ? undefined : s.archs };
  });
}

/** `{name}` in step option strings is the gadget's name (tag templates of publish targets). */
export function expandName(v: unknown, name: string): unknown {
  if (typeof v === "string") return v.replaceAll("{name}", name);
  if (Array.isArray(v)) return v.map((x) => expandName(x, name));
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = expandName(x, name);
    return o;
  }
  return v;
}

const silentLogger: Logger = { info: () => {}, warn: () => {}, debug: () => {} };

interface GadgetState {
  gadget: GadgetInfo;
  failed: boolean;
  /** Why it did not fail but did not finish either (failed is set too, so its later steps return). */
  status?: "withheld" | "stopped";
  logger: Required<Logger>;
  error?: unknown;
  common: Map<string, Artifact>;
  perArch: Map<Arch, Map<string, Artifact>>;
  /** Annotations each finished step returned (merged in step order, then arch order: never in finishing order). */
  annotations: { index: number; arch?: Arch; values: Record<string, string> }[];
  results: Record<string, Record<string, unknown>>;
  inputs: Set<string>;
}

type BatchOutcome = StageResult | void | Error;

/**
 * Where the gadgets meet for a batch step (a stage with runBatch): every gadget either arrives
 * (its context joins the batch) or leaves (it failed earlier, hit the cache, the run was cancelled);
 * when nobody is left to come, the batch runs once and each arrival gets its own outcome.
 */
class BatchGate {
  private waiting: number;
  private readonly arrivals: { ctx: StageContext<any, any>; order: number; settle: (o: { ok: BatchOutcome } | { error: unknown }) => void }[] = [];
  constructor(
    gadgets: number,
    private readonly runBatch: (ctxs: StageContext<any, any>[]) => Promise<BatchOutcome[]>,
  ) {
    this.waiting = gadgets;
  }
  leave(): void {
    this.waiting--;
    this.fireIfComplete();
  }
  /** `order`: the gadget's place in the run (the batch sees its gadgets in that order, whenever they arrived). */
  arrive(ctx: StageContext<any, any>, order: number): Promise<BatchOutcome> {
    const p = new Promise<{ ok: BatchOutcome } | { error: unknown }>((settle) => this.arrivals.push({ ctx, order, settle }));
    this.waiting--;
    this.fireIfComplete();
    return p.then((o) => {
      if ("error" in o) throw o.error;
      return o.ok;
    });
  }
  private fireIfComplete(): void {
    if (this.waiting > 0 || this.arrivals.length === 0) return;
    const arrivals = this.arrivals.splice(0).sort((a, b) => a.order - b.order);
    void this.runBatch(arrivals.map((a) => a.ctx)).then(
      (outcomes) => {
        if (!Array.isArray(outcomes) || outcomes.length !== arrivals.length) {
          const e = new GadgetError({ what: "stage returned a malformed result", which: "runBatch", why: `expected ${arrivals.length} outcomes (one per gadget, in order), got ${Array.isArray(outcomes) ? outcomes.length : typeof outcomes}`, code: "STAGE_RESULT" });
          for (const a of arrivals) a.settle({ error: e });
          return;
        }
        arrivals.forEach((a, i) => a.settle({ ok: outcomes[i] }));
      },
      (error: unknown) => {
        for (const a of arrivals) a.settle({ error });
      },
    );
  }
}

/**
 * The annotations a step sees: those of the steps before it that it waits for — per-gadget steps,
 * and for a per-arch step the earlier steps of its own arch — merged in step order, then in the
 * gadget's arch order. Never what another arch happened to finish first: a step's key (and its
 * output) depends only on its own inputs. Without `index`: every step's (the gadget's final set).
 */
export function visibleAnnotations(st: Pick<GadgetState, "gadget" | "annotations">, index = Number.POSITIVE_INFINITY, arch?: Arch): Record<string, string> {
  const order = (a?: Arch) => (a === undefined ? -1 : st.gadget.archs.indexOf(a));
  const out: Record<string, string> = {};
  const seen = st.annotations.filter((a) => a.index < index && (arch === undefined || a.arch === undefined || a.arch === arch)).sort((x, y) => x.index - y.index || order(x.arch) - order(y.arch));
  for (const a of seen) Object.assign(out, a.values);
  return out;
}

/**
 * The store as stages see it: only the operations of StageStore, not the LayoutStore itself.
 * `onPush` sees every blob a stage writes (the remote cache saves them); `replaced` collects the
 * images a `tag` moved away from (swept at the end of the run).
 */
function narrowStore(s: LayoutStore, onPush?: (desc: Descriptor) => void, replaced?: Map<string, Descriptor>): StageStore {
  return {
    root: s.root,
    push: (desc, content) => {
      onPush?.(desc);
      return s.push(desc, content);
    },
    exists: (desc) => s.exists(desc),
    fetchBytes: (desc) => s.fetchBytes(desc),
    resolve: (reference) => s.resolve(reference),
    tag: async (desc, reference, annotations) => {
      const before = replaced ? await s.resolve(reference).catch(() => undefined) : undefined;
      await s.tag(desc, reference, annotations);
      if (before && before.digest !== desc.digest) replaced!.set(before.digest, before);
    },
  };
}

/** Remove the blobs only the replaced images used (nothing while another gadget process writes: `gadget image prune` does it later). */
async function pruneReplacedImages(store: LayoutStore, replaced: Map<string, Descriptor>, logger: Logger): Promise<void> {
  const { sweep, withExclusiveStore } = await import("../store/prune.js");
  const candidates = await store.reachable([...replaced.values()]);
  const swept = await withExclusiveStore(store, () => sweep(store, { only: candidates.keys(), temps: false }));
  if (!swept) {
    logger.info("the replaced images' blobs stay (another gadget process is writing to the store): `gadget image prune` removes them later");
    return;
  }
  const freed = swept.items.reduce((n, i) => n + i.bytes, 0);
  if (swept.items.length > 0) logger.debug(`removed ${swept.items.length} blob(s) of replaced images (${freed} bytes)`);
}

export async function runGraph(opts: RunGraphOptions): Promise<GadgetRunResult[]> {
  const steps = normalizeSteps(opts.steps, opts.stages);
  const jobs = opts.jobs && opts.jobs > 0 ? Math.floor(opts.jobs) : availableParallelism();
  // Later steps get priority: a gadget that has started finishes (its JS-heavy packing overlaps
  // other gadgets' compiles) instead of every compile going first — except steps that send an
  // image away (push, tar-export), which can wait: they go last (slotPriority).
  const sem = new Semaphore(jobs);
  const env = opts.env ?? process.env;
  const logger = completeLogger(opts.logger ?? silentLogger);
  const signal = opts.signal ?? new AbortController().signal;
  const emit = opts.onEvent ?? (() => {});
  const useCache = opts.cache !== false;
  const projectRoot = resolve(opts.projectRoot);
  const stageCacheDir = opts.stageCacheDir ? resolve(opts.stageCacheDir) : join(cacheRoot(projectRoot, env), "stages");

  let cache: StepCache | undefined;
  let ownedWorkDir: string | undefined;
  let workDir: string;
  if (useCache) {
    const { openStepCache } = await import("./cache.js");
    cache = await openStepCache(projectRoot, { env });
    workDir = cache.workDir;
  } else if (opts.workDir) {
    workDir = resolve(opts.workDir);
  } else {
    ownedWorkDir = await mkdtemp(join(tmpdir(), "gadget-run-"));
    workDir = ownedWorkDir;
  }

  // The remote tier: loaded only when configured; it connects on the first local miss.
  let remote: RemoteCache | undefined;
  if (cache && opts.remoteCache) {
    const { openRemoteCache } = await import("./remote-cache.js");
    remote = await openRemoteCache(opts.remoteCache, { env, logger, signal });
  }
  const replaced = opts.pruneReplaced ? new Map<string, Descriptor>() : undefined;

  let storePromise: Promise<LayoutStore> | undefined;
  const openStore = () => (storePromise ??= import("../store/layout-store.js").then((m) => m.LayoutStore.open(opts.storeDir)));

  // Per-run state of each stage (its setup's result), created before the stage's first step.
  const run: RunInfo = { gadgets: opts.gadgets, projectRoot, env, logger, signal };
  const states = new Map<Stage, Promise<unknown>>();
  const stateOf = (stage: Stage): Promise<unknown> => {
    let p = states.get(stage);
    if (!p) {
      p = Promise.resolve(stage.setup ? stage.setup(run) : undefined);
      states.set(stage, p);
    }
    return p;
  };

  // One gate per batch step (a stage with runBatch); it runs the batch in one --jobs slot.
  const gates = new Map<number, BatchGate>();
  for (const step of steps) {
    const stage = step.stage;
    if (!stage.runBatch) continue;
    gates.set(step.index, new BatchGate(opts.gadgets.length, (ctxs) => sem.run(() => stage.runBatch!(ctxs), slotPriority(step))));
  }

  let outSeq = 0;
  const scratch: string[] = [];
  const gadgetStates = opts.gadgets.map<GadgetState>((gadget) => ({
    gadget,
    failed: false,
    logger: opts.loggerFor ? completeLogger(opts.loggerFor(gadget)) : logger,
    common: new Map(),
    perArch: new Map(gadget.archs.map((a) => [a, new Map<string, Artifact>()])),
    annotations: [],
    results: {},
    inputs: new Set(),
  }));

  const runNode = async (st: GadgetState, step: NormalizedStep, arch: Arch | undefined): Promise<void> => {
    // A batch step: this gadget arrives at the gate, or leaves it on every other path.
    const gate = gates.get(step.index);
    let arrived = false;
    try {
      await runNodeInner(st, step, arch, gate && ((ctx) => ((arrived = true), gate.arrive(ctx, gadgetStates.indexOf(st)))));
    } finally {
      if (gate && !arrived) gate.leave();
    }
  };

  // --fail-fast: the first failure stops every gadget's next steps
  let firstFailure: string | undefined;
  const stopHere = (st: GadgetState): boolean => {
    if (st.failed) return true;
    if (signal.aborted || (opts.failFast && firstFailure !== undefined)) {
      st.failed = true;
      st.status = "stopped";
      st.error = signal.aborted
        ? new GadgetError({ what: "interrupted", which: st.gadget.name, why: "the run was cancelled", code: "ABORTED" })
        : new GadgetError({ what: "not finished", which: st.gadget.name, why: `${firstFailure} failed and --fail-fast stops the run at the first failure`, code: "STOPPED" });
      return true;
    }
    return false;
  };

  const runNodeInner = async (st: GadgetState, step: NormalizedStep, arch: Arch | undefined, arrive: ((ctx: StageContext<any, any>) => Promise<BatchOutcome>) | undefined): Promise<void> => {
    if (stopHere(st)) return;
    // `jobs` bounds steps that run; cache lookups (hits) take no slot.
    let release: (() => void) | undefined;
    const t0 = performance.now();
    // Own time: from the start, less the wait for a --jobs slot.
    let queuedAt: number | undefined;
    let acquiredAt: number | undefined;
    const spans = (end: number): [number, number][] => (queuedAt !== undefined && acquiredAt !== undefined ? [[t0, queuedAt], [acquiredAt, end]] : [[t0, end]]);
    const own = (end: number) => end - t0 - (queuedAt !== undefined && acquiredAt !== undefined ? acquiredAt - queuedAt : 0);
    const stageName = step.stage.name;
    const cacheable = useCache && step.stage.cacheable !== false;
    const base = { gadget: st.gadget.name, stage: stageName, step: step.index, ...(arch ? { arch } : {}), cacheable };
    const outDir = join(workDir, "out", `${process.pid}-${Date.now().toString(36)}-${outSeq++}`);
    try {
      const visible = new Map<string, Artifact>(st.common);
      if (arch) for (const [k, v] of st.perArch.get(arch) ?? []) visible.set(k, v);
      else for (const [a, m] of st.perArch) for (const [k, v] of m) visible.set(`${k}@${a}`, v);
      let usedStore = false;
      // what the step writes into the store (a remote cache entry carries those blobs)
      const pushed: { mediaType: string; digest: Descriptor["digest"]; size: number }[] = [];
      const ctx: StageContext<any, any> = {
        options: expandName(step.options, st.gadget.name) as Record<string, unknown>,
        gadget: st.gadget,
        ...(arch ? { arch } : {}),
        cwd: st.gadget.dir,
        projectRoot,
        env,
        logger: st.logger,
        signal,
        outDir,
        cacheDir: join(stageCacheDir, stageDirName(stageName)),
        artifacts: visible,
        annotations: visibleAnnotations(st, step.index, arch),
        state: await stateOf(step.stage),
        exec: (file, args, o) => exec(file, args, { cwd: st.gadget.dir, ...o, baseEnv: env, signal }),
        $: makeDollar({ cwd: st.gadget.dir, baseEnv: env, signal }),
        store: () => {
          usedStore = true;
          return openStore().then((s) => narrowStore(s, (d) => pushed.push({ mediaType: d.mediaType, digest: d.digest, size: d.size }), replaced));
        },
      };
      emit({ type: "start", ...base });
      let declared: StageInputs = {};
      if (step.stage.inputs) declared = (await step.stage.inputs(ctx)) ?? {};
      for (const f of declared.files ?? []) st.inputs.add(resolve(st.gadget.dir, f));
      for (const t of declared.tools ?? []) {
        const path = whichSync(typeof t === "string" ? t : t.tool, env.PATH ?? "");
        if (path) st.inputs.add(path);
      }

      let outcome: { artifacts: Map<string, Artifact>; annotations: Record<string, string>; result?: Record<string, unknown>; discovered: string[] } | undefined;
      let lookup: Awaited<ReturnType<StepCache["lookup"]>> | undefined;
      if (cacheable && cache) {
        lookup = await cache.lookup({ stage: step.stage, stepIndex: step.index, gadget: st.gadget, arch, options: ctx.options, declared, artifacts: visible, annotations: ctx.annotations, openStore });
        if (lookup.hit) {
          outcome = lookup.hit;
          emit({ type: "hit", ...base, ms: performance.now() - t0, reason: "hit", tier: "local" });
        } else {
          let reason = lookup.reason ?? "not built before";
          if (remote) {
            const dir = `${outDir}-remote`;
            scratch.push(dir);
            const c = cache;
            const r = await remote.lookup({ key: lookup.key.key, currentDigest: (p) => c.recordedDigest(p), outDir: dir, openStore });
            if (r.hit) {
              const discovered = r.hit.discovered.map((p) => c.absPath(p));
              const artifacts = await c.save(lookup.key, { artifacts: r.hit.artifacts, annotations: r.hit.annotations, ...(r.hit.result ? { result: r.hit.result } : {}), discovered, usedStore: r.hit.usedStore }, dir);
              outcome = { artifacts, annotations: { ...r.hit.annotations }, ...(r.hit.result ? { result: r.hit.result } : {}), discovered };
              emit({ type: "hit", ...base, ms: performance.now() - t0, reason: "hit (remote)", tier: "remote" });
            } else if (r.reason) reason = r.reason;
          }
          if (!outcome) emit({ type: "miss", ...base, reason });
        }
      }
      if (!outcome) {
        if (!arrive) {
          // a batch takes one slot when it runs
          queuedAt = performance.now();
          release = await sem.acquire(slotPriority(step));
          acquiredAt = performance.now();
        }
        if (stopHere(st)) {
          emit({ type: "stop", ...base, ms: performance.now() - t0 });
          return;
        }
        await mkdir(outDir, { recursive: true });
        if (useCache) scratch.push(outDir); // removed when the run ends (saved outputs were moved to the CAS)
        const returned = arrive ? await arrive(ctx) : await step.stage.run!(ctx);
        if (returned instanceof Error) throw returned;
        const res = checkStageResult(step.stage, returned);
        const artifacts = new Map<string, Artifact>();
        for (const [name, p] of Object.entries(res.artifacts ?? {})) {
          const path = isAbsolute(p) ? p : join(outDir, p);
          let h;
          try {
            h = await hashFileOffThread(path);
          } catch (e) {
            throw new GadgetError({ what: "stage returned a missing artifact", which: `${stageName}: artifacts.${name}`, why: `${path}: ${(e as Error).message}`, code: "STAGE_RESULT", cause: e });
          }
          artifacts.set(name, { path, digest: h.digest, size: h.size });
        }
        const discovered = (res.discoveredInputs ?? []).map((f) => resolve(st.gadget.dir, f));
        outcome = { artifacts, annotations: { ...(res.annotations ?? {}) }, ...(res.result ? { result: res.result as Record<string, unknown> } : {}), discovered };
        if (cacheable && cache && lookup && !signal.aborted) {
          outcome.artifacts = await cache.save(lookup.key, { ...outcome, usedStore }, outDir);
          if (remote) {
            remote.save({
              key: lookup.key.key,
              stage: { name: step.stage.name, version: step.stage.version },
              artifacts: outcome.artifacts,
              annotations: outcome.annotations,
              ...(outcome.result ? { result: outcome.result } : {}),
              discovered: await cache.discoveredRecord(outcome.discovered),
              storeBlobs: pushed,
              openStore,
            });
          }
        }
      }
      for (const f of outcome.discovered) st.inputs.add(f);
      const target = arch && step.stage.perArch ? st.perArch.get(arch)! : st.common;
      for (const [k, v] of outcome.artifacts) target.set(k, v);
      if (Object.keys(outcome.annotations).length > 0) st.annotations.push({ index: step.index, ...(arch ? { arch } : {}), values: outcome.annotations });
      if (outcome.result) {
        if (arch) st.results[`${stageName}@${arch}`] = outcome.result;
        else st.results[stageName] = outcome.result;
      }
      const end = performance.now();
      emit({ type: "done", ...base, ms: own(end), spans: spans(end), ...(outcome.result ? { result: outcome.result } : {}) });
    } catch (e) {
      if (useCache) await rm(outDir, { recursive: true, force: true }).catch(() => {});
      if (!st.failed) {
        st.failed = true;
        st.error = e;
        // a step that ended because the run was interrupted did not fail on its own
        if (signal.aborted) st.status = "stopped";
        else firstFailure ??= st.gadget.name;
      }
      const end = performance.now();
      emit({ type: "fail", ...base, ms: own(end), spans: spans(end), error: e });
    } finally {
      release?.();
    }
  };

  // All or nothing: the publish phase waits for every gadget (phase-gate.ts).
  const publishFrom = opts.publishFrom !== undefined && opts.publishFrom < steps.length ? opts.publishFrom : undefined;
  const phase = publishFrom === undefined ? undefined : new PhaseGate(gadgetStates.length, opts.keepGoing === true);
  const member = (st: GadgetState): PhaseMember => ({
    name: st.gadget.name,
    failed: () => st.failed,
    withhold: (failed) => {
      st.failed = true;
      st.status = "withheld";
      st.error = new GadgetError({
        what: "not published",
        which: st.gadget.name,
        why: `${failed.join(", ")} failed, and a publish is all or nothing`,
        hint: "fix the failure and run again, or pass --keep-going to publish the gadgets that built",
        code: "NOT_PUBLISHED",
      });
    },
  });

  const runGadget = async (st: GadgetState): Promise<void> => {
    // Promise of the last per-gadget step, and of the latest per-arch step of each arch since then.
    let barrier: Promise<void> = Promise.resolve();
    let chains = new Map<Arch, Promise<void>>();
    for (const step of steps) {
      if (phase && step.index === publishFrom) {
        const all = Promise.all([barrier, ...chains.values()]);
        barrier = all.then(() => phase.arrive(member(st)));
        chains = new Map();
      }
      if (step.stage.perArch) {
        const archs = st.gadget.archs.filter((a) => !step.archs || step.archs.includes(a));
        for (const a of archs) {
          const prev = chains.get(a) ?? barrier;
          chains.set(a, prev.then(() => runNode(st, step, a)));
        }
      } else {
        const all = Promise.all([barrier, ...chains.values()]);
        barrier = all.then(() => runNode(st, step, undefined));
        chains = new Map();
      }
    }
    await Promise.all([barrier, ...chains.values()]);
  };

  try {
    await Promise.all(gadgetStates.map(runGadget));
    if (cache) {
      await cache.flush();
      // New outputs went in: keep the cache within its size bound (least recently used go first).
      if (cache.savedBytes > 0 && !signal.aborted) {
        const { enforceCacheLimit } = await import("./cache-prune.js");
        await enforceCacheLimit(cache.root, env).catch((e: unknown) => logger.warn(`cache: ${(e as Error)?.message ?? String(e)}`));
      }
    }
    if (replaced && replaced.size > 0 && !signal.aborted) {
      await pruneReplacedImages(await openStore(), replaced, logger).catch((e: unknown) => logger.warn(`removing replaced images: ${(e as Error)?.message ?? String(e)}`));
    }
  } finally {
    // the run ends when its entries are in the registry (or the registry failed)
    await remote?.finish();
    if (ownedWorkDir) await rm(ownedWorkDir, { recursive: true, force: true });
    await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true }).catch(() => {})));
    await teardownAll(states, logger);
  }

  return gadgetStates.map((st) => {
    const artifacts = new Map<string, Artifact>(st.common);
    for (const [a, m] of st.perArch) for (const [k, v] of m) artifacts.set(`${k}@${a}`, v);
    // A per-arch stage's result under its plain name: the last arch's, in the gadget's arch order.
    for (const step of steps) {
      if (!step.stage.perArch) continue;
      for (const a of st.gadget.archs) {
        const r = st.results[`${step.stage.name}@${a}`];
        if (r) st.results[step.stage.name] = r;
      }
    }
    const r: GadgetRunResult = { gadget: st.gadget, ok: !st.failed, status: st.failed ? (st.status ?? "failed") : "ok", artifacts, annotations: visibleAnnotations(st), results: st.results, inputs: [...st.inputs] };
    if (st.failed) r.error = st.error;
    else if (signal.aborted) {
      r.ok = false;
      r.status = "stopped";
      r.error = new GadgetError({ what: "interrupted", which: st.gadget.name, why: "the run was cancelled", code: "ABORTED" });
    }
    return r;
  });
}

/**
 * A step's place in the --jobs queue (higher first): its index, so a started gadget's later steps
 * go before other gadgets' earlier ones; steps that send an image away (a publish target that
 * leaves the machine: push, tar-export) last, behind every compile — they can wait. (In a
 * `gadget run` they wait anyway: the publish phase starts when every gadget has built.)
 */
export function slotPriority(step: Pick<NormalizedStep, "index" | "stage">): number {
  return step.stage.publishTarget === true && step.stage.leavesMachine !== false ? -1 : step.index;
}

/** A stage's folder name under the stages' cache folder ("@acme/lint" → "%40acme%2Flint"). */
export function stageDirName(stage: string): string {
  return encodeURIComponent(stage);
}

/** A Logger with every method (diagnostics default to warn). */
function completeLogger(given: Logger): Required<Logger> {
  return { info: (m) => given.info(m), warn: (m) => given.warn(m), debug: (m) => given.debug(m), diagnostics: (t) => (given.diagnostics ? given.diagnostics(t) : given.warn(t)) };
}

/** Each stage's teardown with the state its setup returned (a failing teardown is a warning). */
async function teardownAll(states: Map<Stage, Promise<unknown>>, logger: Logger): Promise<void> {
  for (const [stage, p] of states) {
    if (!stage.teardown) continue;
    const state = await p.then(
      (v) => ({ v }),
      () => undefined, // setup failed: that step reported it; nothing to tear down
    );
    if (!state) continue;
    try {
      await stage.teardown(state.v);
    } catch (e) {
      logger.warn(`stage ${stage.name}: teardown failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }
}
