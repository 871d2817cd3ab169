/**
 * The step graph (DESIGN §7): gadgets × steps × architectures. Each gadget's steps run in
 * order; consecutive per-arch steps form one chain per arch (clang→strip for amd64 and arm64
 * at once), a per-gadget step waits for everything before it. Independent work (archs,
 * gadgets) runs concurrently up to `jobs`. A failed gadget stops; the others go on.
 * With the cache on, each cacheable step is looked up first (cache.ts) and restored on a hit.
 */
import { availableParallelism, tmpdir } from "node:os";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { GadgetError } from "../errors.js";
import type { Arch, Artifact, GadgetInfo, Logger, Stage, StageContext, StageInputs, StageResult, StepSpec } from "../types.js";
import type { Digest } from "../oci/digest.js";
import type { LayoutStore } from "../store/layout-store.js";
import { exec, makeDollar } from "./exec.js";
import type { StepCache } from "./cache.js";

export interface StepEvent {
  type: "start" | "hit" | "miss" | "done" | "fail";
  gadget: string;
  stage: string;
  arch?: Arch;
  ms?: number;
  reason?: string;
  error?: unknown;
}

export interface RunGraphOptions {
  gadgets: GadgetInfo[];
  /** Ordered steps, same for every gadget. */
  steps: StepSpec[];
  /** Stages by name. */
  stages: ReadonlyMap<string, Stage<any>>;
  storeDir: string;
  /** The cache lives in <projectRoot>/.gadget/ (when the cache is on). */
  projectRoot: string;
  /** Steps run at once (default os.availableParallelism()). */
  jobs?: number;
  /** Default true. */
  cache?: boolean;
  explain?: boolean;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  signal?: AbortSignal;
  onEvent?: (e: StepEvent) => void;
  /**
   * Where steps write outputs when the cache is off. Default: a temp dir removed when runGraph
   * returns (so artifact paths are only valid during the run) — pass a dir to keep them.
   */
  workDir?: string;
}

export interface GadgetRunResult {
  gadget: GadgetInfo;
  ok: boolean;
  /** First failure (GadgetError or ToolError). */
  error?: unknown;
  /** Final artifacts (per-arch ones as "<name>@<arch>"). */
  artifacts: Map<string, Artifact>;
  annotations: Record<string, string>;
  /** StageResult.result by stage name (per-arch stages: by "<stage>@<arch>" and the last under "<stage>"). */
  results: Record<string, Record<string, unknown>>;
  /** Files the gadget's steps read (declared + discovered), absolute: what watch mode watches. */
  inputs: string[];
}

export interface NormalizedStep {
  index: number;
  stage: Stage<any>;
  options: Record<string, unknown>;
  archs?: Arch[];
}

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
    return { index, stage, options: typeof s === "string" ? {} : { ...(s.options ?? {}) }, archs: typeof s === "string" ? undefined : s.archs };
  });
}

/**
 * A counting semaphore bounding concurrent steps. Waiters with a higher priority go first (FIFO
 * among equals): the engine gives later steps priority, so a gadget that has started finishes
 * (its JS-heavy packing overlaps other gadgets' compiles) instead of every compile going first.
 */
export class Semaphore {
  private free: number;
  private readonly waiters: { priority: number; wake: () => void }[] = [];
  constructor(n: number) {
    this.free = Math.max(1, n);
  }
  async acquire(priority = 0): Promise<() => void> {
    if (this.free > 0) this.free--;
    else
      await new Promise<void>((wake) => {
        let i = this.waiters.length;
        while (i > 0 && this.waiters[i - 1]!.priority < priority) i--;
        this.waiters.splice(i, 0, { priority, wake });
      });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.wake();
      else this.free++;
    };
  }
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

/** sha256 + size of a file; big files are hashed on the worker pool (pool.ts). */
export async function hashFile(path: string): Promise<{ digest: Digest; size: number }> {
  const { size: statSize } = await stat(path);
  if (statSize >= 8 * 1024 * 1024) {
    const { hashFileOnPool } = await import("./pool.js");
    const d = await hashFileOnPool(path);
    if (d) return { digest: d as Digest, size: statSize };
  }
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${h.digest("hex")}`, size };
}

interface GadgetState {
  gadget: GadgetInfo;
  failed: boolean;
  error?: unknown;
  common: Map<string, Artifact>;
  perArch: Map<Arch, Map<string, Artifact>>;
  annotations: Record<string, string>;
  results: Record<string, Record<string, unknown>>;
  inputs: Set<string>;
}

export async function runGraph(opts: RunGraphOptions): Promise<GadgetRunResult[]> {
  const steps = normalizeSteps(opts.steps, opts.stages);
  const jobs = opts.jobs && opts.jobs > 0 ? Math.floor(opts.jobs) : availableParallelism();
  const sem = new Semaphore(jobs);
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? silentLogger;
  const signal = opts.signal ?? new AbortController().signal;
  const emit = opts.onEvent ?? (() => {});
  const useCache = opts.cache !== false;

  let cache: StepCache | undefined;
  let ownedWorkDir: string | undefined;
  let workDir: string;
  if (useCache) {
    const { openStepCache } = await import("./cache.js");
    cache = await openStepCache(opts.projectRoot, { env });
    workDir = cache.workDir;
  } else if (opts.workDir) {
    workDir = resolve(opts.workDir);
  } else {
    ownedWorkDir = await mkdtemp(join(tmpdir(), "gadget-run-"));
    workDir = ownedWorkDir;
  }

  let storePromise: Promise<LayoutStore> | undefined;
  const openStore = () => (storePromise ??= import("../store/layout-store.js").then((m) => m.LayoutStore.open(opts.storeDir)));

  let outSeq = 0;
  const scratch: string[] = [];
  const states = opts.gadgets.map<GadgetState>((gadget) => ({
    gadget,
    failed: false,
    common: new Map(),
    perArch: new Map(gadget.archs.map((a) => [a, new Map<string, Artifact>()])),
    annotations: {},
    results: {},
    inputs: new Set(),
  }));

  const runNode = async (st: GadgetState, step: NormalizedStep, arch: Arch | undefined): Promise<void> => {
    if (st.failed || signal.aborted) return;
    // `jobs` bounds steps that run; cache lookups (hits) take no slot. Uncacheable steps take one up front.
    let release: (() => void) | undefined;
    const t0 = performance.now();
    const stageName = step.stage.name;
    const base = { gadget: st.gadget.name, stage: stageName, ...(arch ? { arch } : {}) };
    const outDir = join(workDir, "out", `${process.pid}-${Date.now().toString(36)}-${outSeq++}`);
    try {
      if (st.failed || signal.aborted) return;
      const visible = new Map<string, Artifact>(st.common);
      if (arch) for (const [k, v] of st.perArch.get(arch) ?? []) visible.set(k, v);
      else for (const [a, m] of st.perArch) for (const [k, v] of m) visible.set(`${k}@${a}`, v);
      let usedStore = false;
      const ctx: StageContext<any> = {
        options: expandName(step.options, st.gadget.name) as Record<string, unknown>,
        gadget: st.gadget,
        ...(arch ? { arch } : {}),
        cwd: st.gadget.dir,
        env,
        logger,
        signal,
        outDir,
        artifacts: visible,
        annotations: { ...st.annotations },
        exec: (file, args, o) => exec(file, args, { cwd: st.gadget.dir, ...o, baseEnv: env, signal }),
        $: makeDollar({ cwd: st.gadget.dir, baseEnv: env, signal }),
        store: () => {
          usedStore = true;
          return openStore();
        },
      };
      emit({ type: "start", ...base });
      const cacheable = useCache && step.stage.cacheable !== false;
      let declared: StageInputs = {};
      if (step.stage.inputs) declared = (await step.stage.inputs(ctx)) ?? {};
      for (const f of declared.files ?? []) st.inputs.add(resolve(st.gadget.dir, f));

      let outcome: { artifacts: Map<string, Artifact>; annotations: Record<string, string>; result?: Record<string, unknown>; discovered: string[] } | undefined;
      let lookup: Awaited<ReturnType<StepCache["lookup"]>> | undefined;
      if (cacheable && cache) {
        lookup = await cache.lookup({ stage: step.stage, stepIndex: step.index, gadget: st.gadget, arch, options: ctx.options, declared, artifacts: visible, annotations: ctx.annotations, openStore });
        if (lookup.hit) {
          outcome = lookup.hit;
          emit({ type: "hit", ...base, ms: performance.now() - t0, reason: "hit" });
        } else {
          emit({ type: "miss", ...base, reason: lookup.reason });
        }
      } else if (useCache) {
        emit({ type: "miss", ...base, reason: "not cacheable (always runs)" });
      }
      if (!outcome) {
        release = await sem.acquire(step.index);
        if (st.failed || signal.aborted) return;
        await mkdir(outDir, { recursive: true });
        if (useCache) scratch.push(outDir); // removed when the run ends (saved outputs were moved to the CAS)
        const res = ((await step.stage.run(ctx)) ?? {}) as StageResult;
        const artifacts = new Map<string, Artifact>();
        for (const [name, p] of Object.entries(res.artifacts ?? {})) {
          const path = isAbsolute(p) ? p : join(outDir, p);
          let h;
          try {
            h = await hashFile(path);
          } catch (e) {
            throw new GadgetError({ what: `stage ${stageName} returned a missing artifact`, which: `${name}: ${path}`, why: (e as Error).message, cause: e });
          }
          artifacts.set(name, { path, digest: h.digest, size: h.size });
        }
        const discovered = (res.discoveredInputs ?? []).map((f) => resolve(st.gadget.dir, f));
        outcome = { artifacts, annotations: { ...(res.annotations ?? {}) }, ...(res.result ? { result: res.result } : {}), discovered };
        if (cacheable && cache && lookup && !signal.aborted) {
          outcome.artifacts = await cache.save(lookup.key, { ...outcome, usedStore }, outDir);
        }
      }
      for (const f of outcome.discovered) st.inputs.add(f);
      const target = arch && step.stage.perArch ? st.perArch.get(arch)! : st.common;
      for (const [k, v] of outcome.artifacts) target.set(k, v);
      Object.assign(st.annotations, outcome.annotations);
      if (outcome.result) {
        if (arch) st.results[`${stageName}@${arch}`] = outcome.result;
        st.results[stageName] = outcome.result;
      }
      emit({ type: "done", ...base, ms: performance.now() - t0 });
    } catch (e) {
      if (useCache) await rm(outDir, { recursive: true, force: true }).catch(() => {});
      if (!st.failed) {
        st.failed = true;
        st.error = e;
      }
      emit({ type: "fail", ...base, ms: performance.now() - t0, error: e });
    } finally {
      release?.();
    }
  };

  const runGadget = async (st: GadgetState): Promise<void> => {
    // Promise of the last per-gadget step, and of the latest per-arch step of each arch since then.
    let barrier: Promise<void> = Promise.resolve();
    let chains = new Map<Arch, Promise<void>>();
    for (const step of steps) {
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
    await Promise.all(states.map(runGadget));
    if (cache) await cache.flush();
  } finally {
    if (ownedWorkDir) await rm(ownedWorkDir, { recursive: true, force: true });
    await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true }).catch(() => {})));
  }

  return states.map((st) => {
    const artifacts = new Map<string, Artifact>(st.common);
    for (const [a, m] of st.perArch) for (const [k, v] of m) artifacts.set(`${k}@${a}`, v);
    const r: GadgetRunResult = { gadget: st.gadget, ok: !st.failed, artifacts, annotations: st.annotations, results: st.results, inputs: [...st.inputs] };
    if (st.failed) r.error = st.error;
    else if (signal.aborted) {
      r.ok = false;
      r.error = new GadgetError({ what: "interrupted", which: st.gadget.name, why: "the run was cancelled", code: "ABORTED" });
    }
    return r;
  });
}
