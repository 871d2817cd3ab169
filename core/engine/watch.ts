/**
 * `gadget run --watch` (DESIGN §7): build, then watch exactly what the cache keys read — each
 * gadget's sources, the headers clang reported (also outside the repository), the tools steps
 * ran, the gadgetfile and its imports, local plugin files and their imports — and
 * rebuild only the gadgets a change affects. A burst of events (an editor's atomic save:
 * unlink + add) is one rebuild. Never watches .gadget/ or outputs. Errors are printed and
 * watching goes on; a changed gadgetfile is reloaded. SIGINT/SIGTERM: stop, exit 0.
 *
 * chokidar 5 has no globs: it watches the inputs' folders (depth 0) and an `ignored` function
 * lets through only the input files themselves.
 */
import { dirname, join, resolve, sep } from "node:path";
import type { GadgetRunResult, StepEvent } from "./run-graph.js";
import type { Project, RunProjectOptions } from "./project.js";
import { CACHE_DIR } from "./cache.js";

/** What a watch session reports; the caller (the CLI) decides how it looks. */
export interface WatchHandlers {
  /**
   * After each build. `results` holds every gadget of the build: all of them on the first build
   * and after a reload (`all`), otherwise those an edit affected.
   */
  onResults(results: GadgetRunResult[], build: { all: boolean }): void;
  /** Every step event of every build (timers, --explain). */
  onEvent?(e: StepEvent): void;
  /** The gadgetfile (or a file it imports, or a local plugin) changed and was loaded again. */
  onReload?(file: string, ms: number): void;
  /** Loading the gadgetfile or running a build failed; watching goes on. */
  onError(e: unknown): void;
  /** The first build is done and the watcher is ready: `files` inputs are watched. */
  onWatching?(files: number): void;
  /** The gadgetfile was loaded (first, then after each reload), before its build; throwing makes it a load error. */
  onLoad?(project: Project): void;
}

export interface WatchOptions extends Omit<RunProjectOptions, "only" | "signal" | "onEvent"> {
  cwd: string;
  file?: string;
  tasks: string[];
  /** `--only`: gadget names or folders (globs); see LoadProjectOptions. */
  gadgets?: string[];
  /** Options from the command line for the stages that declare them; see LoadProjectOptions. */
  optionOverrides?: Record<string, unknown>;
  /** Quiet period after the last event before rebuilding (ms). */
  debounceMs?: number;
  /** Aborting it stops watching; watchProject resolves once everything is closed. */
  signal: AbortSignal;
  handlers: WatchHandlers;
  /** The remote cache of a (re)loaded project (its gadgetfile's `cache`, overridden by flags). */
  remoteCacheFor?: (project: Project) => Promise<RunProjectOptions["remoteCache"]>;
}

/** Watch until `o.signal` aborts. */
export async function watchProject(o: WatchOptions): Promise<void> {
  const { loadProject, runProject } = await import("./project.js");
  const { findGadgetfile } = await import("../gadgetfile/load.js");
  const chokidar = await import("chokidar");
  const debounceMs = o.debounceMs ?? 50;
  const h = o.handlers;
  const { cwd: _cwd, file: _file, tasks: _tasks, gadgets: _g, optionOverrides: _oo, debounceMs: _d, signal: _s, handlers: _h, remoteCacheFor: _rc, ...runOptions } = o;

  let project: Project | undefined;
  let configInputs = new Set<string>([findGadgetfile(o.cwd, o.file)]);
  /** Inputs per gadget (union over runs: a failed run may not know every header). */
  const gadgetInputs = new Map<string, Set<string>>();
  let files = new Set<string>();
  let root = dirname([...configInputs][0]!);

  const loadOnce = async (): Promise<boolean> => {
    try {
      project = await loadProject({ cwd: o.cwd, ...(o.file ? { file: o.file } : {}), tasks: o.tasks, ...(o.gadgets ? { gadgets: o.gadgets } : {}), ...(o.optionOverrides ? { optionOverrides: o.optionOverrides } : {}) });
      configInputs = new Set(project.configInputs);
      root = project.gadgetfile.dir;
      gadgetInputs.clear();
      for (const g of project.gadgets) {
        const s = new Set<string>([g.ebpfSource, g.metadata, join(g.dir, "build.yaml")]);
        if (g.wasm) s.add(g.wasm);
        gadgetInputs.set(g.name, s);
      }
      h.onLoad?.(project);
      return true;
    } catch (e) {
      project = undefined;
      h.onError(e);
      return false;
    }
  };

  /** Aborts a running build when watching stops. */
  const ac = new AbortController();
  const build = async (affected?: Set<string>, all = !affected): Promise<void> => {
    if (!project) return;
    const only = affected;
    if (only && only.size === 0) return;
    let results: GadgetRunResult[];
    try {
      const remoteCache = runOptions.cache === false ? undefined : await o.remoteCacheFor?.(project);
      results = await runProject(project, { ...runOptions, ...(remoteCache ? { remoteCache } : {}), signal: ac.signal, ...(only ? { only } : {}), ...(h.onEvent ? { onEvent: h.onEvent } : {}) });
    } catch (e) {
      h.onError(e);
      return;
    }
    if (ac.signal.aborted) return;
    for (const r of results) {
      const set = gadgetInputs.get(r.gadget.name) ?? new Set<string>();
      for (const f of r.inputs) set.add(f);
      gadgetInputs.set(r.gadget.name, set);
    }
    h.onResults(results, { all });
  };

  const cacheDir = () => join(root, CACHE_DIR);
  // Exactly what the cache keys read: the config, and every gadget's declared and discovered
  // inputs and tools — also outside the repository (/usr/include/gadget/*.h, clang itself).
  const computeFiles = (): Set<string> => {
    const s = new Set<string>(configInputs);
    for (const set of gadgetInputs.values()) for (const f of set) s.add(f);
    for (const f of [...s]) if (f === cacheDir() || f.startsWith(cacheDir() + sep)) s.delete(f);
    return s;
  };

  // ---- watcher ----
  type Watcher = import("chokidar").FSWatcher;
  let watcher: Watcher | undefined;
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const isWatchedDir = (p: string) => watchedDirs.has(p);
  let watchedDirs = new Set<string>();
  const ignored = (p: string): boolean => {
    const abs = resolve(p);
    if (isWatchedDir(abs)) return false;
    return !files.has(abs);
  };

  const onFsEvent = (_ev: string, p: string) => {
    const abs = resolve(p);
    if (!files.has(abs)) return;
    pending.add(abs);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void flushChanges(), debounceMs);
  };

  const syncWatcher = async (): Promise<void> => {
    files = computeFiles();
    const dirs = new Set([...files].map((f) => dirname(f)));
    const added = [...dirs].filter((d) => !watchedDirs.has(d));
    const removed = [...watchedDirs].filter((d) => !dirs.has(d));
    watchedDirs = dirs;
    if (!watcher) {
      // atomic: false — our own debounce folds an editor's atomic save (unlink + rename) into one
      // rebuild; chokidar's atomic mode, racing a burst of such saves, could lose the new file's
      // watcher, and a later in-place write then went unseen (seen as a flaky watch test).
      watcher = chokidar.watch([...dirs], { ignoreInitial: true, depth: 0, ignored, atomic: false });
      watcher.on("all", onFsEvent);
      await new Promise<void>((r) => watcher!.once("ready", () => r()));
      return;
    }
    if (removed.length) watcher.unwatch(removed);
    if (added.length) {
      watcher.add(added);
    }
  };

  const flushChanges = async (): Promise<void> => {
    timer = undefined;
    if (running || stopped) return; // picked up when the current run ends
    if (pending.size === 0) return;
    const changed = [...pending];
    pending.clear();
    running = (async () => {
      const t0 = performance.now();
      if (changed.some((f) => configInputs.has(f)) || !project) {
        const ok = await loadOnce();
        if (ok) {
          h.onReload?.(project!.gadgetfile.file, performance.now() - t0);
          await build(undefined, true);
        }
      } else {
        const affected = new Set<string>();
        for (const [g, set] of gadgetInputs) if (changed.some((f) => set.has(f))) affected.add(g);
        if (affected.size > 0) await build(affected);
      }
      if (!stopped) await syncWatcher();
    })();
    try {
      await running;
    } finally {
      running = undefined;
    }
    if (pending.size > 0 && !stopped) void flushChanges();
  };

  // ---- lifecycle ----
  const stopped$ = new Promise<void>((r) => (o.signal.aborted ? r() : o.signal.addEventListener("abort", () => r(), { once: true })));
  try {
    running = (async () => {
      if (await loadOnce()) await build();
      await syncWatcher();
    })();
    await Promise.race([running, stopped$]);
    running = undefined;
    if (!o.signal.aborted) h.onWatching?.(files.size);
    if (pending.size > 0 && !o.signal.aborted) void flushChanges();
    await stopped$;
  } finally {
    stopped = true;
    if (timer) clearTimeout(timer);
    ac.abort();
    await watcher?.close();
    if (running) await running.catch(() => {});
    const { closePool } = await import("./pool.js");
    await closePool();
  }
}
