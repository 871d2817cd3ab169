/**
 * `gadget run --watch` (DESIGN §7): build, then watch exactly the inputs — each gadget's sources
 * and the headers clang reported, the gadgetfile and its imports, local plugin files — and
 * rebuild only the gadgets a change affects. A burst of events (an editor's atomic save:
 * unlink + add) is one rebuild. Never watches .gadget/ or outputs. Errors are printed and
 * watching goes on; a changed gadgetfile is reloaded. SIGINT/SIGTERM: stop, exit 0.
 *
 * chokidar 5 has no globs: it watches the inputs' folders (depth 0) and an `ignored` function
 * lets through only the input files themselves.
 */
import { dirname, join, resolve, sep } from "node:path";
import { formatError } from "../cli/output.js";
import type { GadgetRunResult } from "./run-graph.js";
import type { Project } from "./project.js";
import { CACHE_DIR } from "./cache.js";

export interface WatchOptions {
  cwd: string;
  file?: string;
  tasks: string[];
  storeDir: string;
  jobs?: number;
  cache?: boolean;
  explain?: boolean;
  out: (line: string) => void;
  warn: (line: string) => void;
  verbose?: boolean;
  env?: Record<string, string | undefined>;
  /** Quiet period after the last event before rebuilding (ms). */
  debounceMs?: number;
  /** Resolves to stop watching (besides SIGINT/SIGTERM); for tests and embedding. */
  stop?: Promise<void>;
}

export async function watchProject(o: WatchOptions): Promise<number> {
  const { loadProject, runProject, imageDigest } = await import("./project.js");
  const { findGadgetfile } = await import("../gadgetfile/load.js");
  const { explainLine, GadgetTimer, fmtMs } = await import("../cli/commands/run.js");
  const chokidar = await import("chokidar");
  const debounceMs = o.debounceMs ?? 50;

  let project: Project | undefined;
  let configInputs = new Set<string>([findGadgetfile(o.cwd, o.file)]);
  /** Inputs per gadget (union over runs: a failed run may not know every header). */
  const gadgetInputs = new Map<string, Set<string>>();
  let files = new Set<string>();
  let root = dirname([...configInputs][0]!);

  const loadOnce = async (): Promise<boolean> => {
    try {
      project = await loadProject({ cwd: o.cwd, ...(o.file ? { file: o.file } : {}), tasks: o.tasks });
      configInputs = new Set(project.configInputs);
      root = project.gadgetfile.dir;
      gadgetInputs.clear();
      for (const g of project.gadgets) {
        const s = new Set<string>([g.ebpfSource, g.metadata, join(g.dir, "build.yaml")]);
        if (g.wasm) s.add(g.wasm);
        gadgetInputs.set(g.name, s);
      }
      return true;
    } catch (e) {
      project = undefined;
      o.warn(formatError(e, Boolean(o.verbose)));
      return false;
    }
  };

  let ac = new AbortController();
  /** Last digest printed per gadget. */
  const lastDigest = new Map<string, string | undefined>();
  const build = async (only?: Set<string>, printAll = false): Promise<void> => {
    if (!project) return;
    const timer = new GadgetTimer();
    const cacheableMisses = new Map<string, number>();
    let results: GadgetRunResult[];
    try {
      results = await runProject(project, {
        storeDir: o.storeDir,
        ...(o.jobs ? { jobs: o.jobs } : {}),
        cache: o.cache !== false,
        ...(o.explain ? { explain: true } : {}),
        ...(o.env ? { env: o.env } : {}),
        signal: ac.signal,
        ...(only ? { only } : {}),
        logger: { info: (m) => o.warn(m), warn: (m) => o.warn(`warning: ${m}`), debug: () => {} },
        onEvent: (e) => {
          timer.onEvent(e);
          if (e.type === "miss" && !e.reason?.startsWith("not cacheable")) cacheableMisses.set(e.gadget, (cacheableMisses.get(e.gadget) ?? 0) + 1);
          if (o.explain) {
            const l = explainLine(e);
            if (l) o.warn(l);
          }
        },
      });
    } catch (e) {
      o.warn(formatError(e, Boolean(o.verbose)));
      return;
    }
    if (ac.signal.aborted) return;
    for (const r of results) {
      const set = gadgetInputs.get(r.gadget.name) ?? new Set<string>();
      for (const f of r.inputs) set.add(f);
      gadgetInputs.set(r.gadget.name, set);
      // After the first build (and a reload), a gadget gets a line only when something was rebuilt:
      // it failed, its digest changed, or a cacheable step missed.
      const d = r.ok ? imageDigest(r) : undefined;
      const quiet = only && !printAll && r.ok && d === lastDigest.get(r.gadget.name) && (cacheableMisses.get(r.gadget.name) ?? 0) === 0;
      lastDigest.set(r.gadget.name, d);
      if (quiet) continue;
      const ms = fmtMs(timer.ms(r.gadget.name));
      if (r.ok) {
        o.out(`✓ ${r.gadget.name} ${ms}${d ? ` ${d}` : ""}`);
      } else {
        o.out(`✗ ${r.gadget.name} ${ms}`);
        o.warn(formatError(r.error, Boolean(o.verbose)));
      }
    }
  };

  const cacheDir = () => join(root, CACHE_DIR);
  const computeFiles = (): Set<string> => {
    const s = new Set<string>(configInputs);
    const inside = (p: string) => p === root || p.startsWith(root + sep);
    for (const set of gadgetInputs.values()) for (const f of set) if (inside(f)) s.add(f); // system headers are keyed, not watched
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
      watcher = chokidar.watch([...dirs], { ignoreInitial: true, depth: 0, ignored, atomic: true });
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
          o.warn(`reloaded ${project!.gadgetfile.file.slice(root.length + 1) || project!.gadgetfile.file} (${fmtMs(performance.now() - t0)})`);
          await build(new Set(project!.gadgets.map((g) => g.name)), true);
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
  let resolveStop!: () => void;
  const stoppedP = new Promise<void>((r) => (resolveStop = r));
  const onSignal = () => resolveStop();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  void o.stop?.then(() => resolveStop());

  try {
    running = (async () => {
      if (await loadOnce()) await build();
      await syncWatcher();
    })();
    await Promise.race([running, stoppedP]);
    running = undefined;
    if (!stopped) o.warn(`watching ${files.size} files (Ctrl-C to stop)`);
    if (pending.size > 0 && !stopped) void flushChanges();
    await stoppedP;
  } finally {
    stopped = true;
    if (timer) clearTimeout(timer);
    ac.abort();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await watcher?.close();
    if (running) await running.catch(() => {});
    const { closePool } = await import("./pool.js");
    await closePool();
  }
  ac = new AbortController();
  return 0;
}
