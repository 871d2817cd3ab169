/**
 * `gadget run [TASK…]`: run gadgetfile tasks over every gadget (DESIGN §7). A publish is all or
 * nothing (`--keep-going` publishes the gadgets that built, `--fail-fast` stops at the first
 * failure); `--json-file` writes the run's summary even when the gadgetfile does not load;
 * `--authfile/--cert-dir/--insecure-registries/--timeout` reach the publish targets.
 */
import { GadgetError, usageError } from "../../errors.js";
import { buildEnv, type CommandContext } from "../context.js";
import { formatError, toJson } from "../output.js";
import { registryEnv } from "../registry-options.js";
import { GadgetTimer, RunRecorder, runSummary, unionMs } from "../run-summary.js";

export { GadgetTimer, unionMs };
import { relative, resolve } from "node:path";
import type { GadgetInfo, Logger } from "../../types.js";
import type { GadgetRunResult, StepEvent } from "../../engine/run-graph.js";
import type { Project } from "../../engine/project.js";
import type { RemoteCacheSettings } from "../../engine/remote-cache-config.js";
import type { Invocation } from "../../engine/up-to-date.js";
import { displayPath } from "../../gadgetfile/bundle.js";

export function parseJobs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`invalid --jobs ${JSON.stringify(v)}: expected a whole number ≥ 1`);
  return n;
}

export function fmtMs(ms: number): string {
  return `${Math.round(ms)} ms`;
}


/** `--explain` line for a hit or a miss of a cacheable step (publish steps always run: not listed). */
export function explainLine(e: StepEvent): string | undefined {
  if (!e.cacheable) return undefined;
  const step = `${e.gadget} ${e.stage}${e.arch ? `@${e.arch}` : ""}`;
  if (e.type === "hit") return `${step}: hit${e.tier === "remote" ? " (remote)" : ""}`;
  if (e.type === "miss") return `${step}: miss: ${e.reason ?? "unknown"}`;
  return undefined;
}

/**
 * `--explain`: the lines of one build, printed together in a stable order — gadget (as the
 * gadgetfile lists them), then step order, then architecture — followed by a summary with the
 * cache's size. Steps that are not cached (publish steps) are not listed.
 */
export class ExplainLog {
  private readonly events: StepEvent[] = [];
  onEvent(e: StepEvent): void {
    if ((e.type === "hit" || e.type === "miss") && e.cacheable) this.events.push(e);
  }
  /** The lines, sorted; `gadgets` gives the gadget order (others after them, by name), `archs` the arch order. */
  lines(gadgets: readonly string[], archs: readonly string[] = ["amd64", "arm64"]): string[] {
    const gi = (g: string) => {
      const i = gadgets.indexOf(g);
      return i < 0 ? gadgets.length : i;
    };
    const ai = (a?: string) => (a === undefined ? -1 : archs.indexOf(a));
    return [...this.events]
      .sort((x, y) => gi(x.gadget) - gi(y.gadget) || x.gadget.localeCompare(y.gadget) || x.step - y.step || ai(x.arch) - ai(y.arch))
      .map((e) => explainLine(e)!)
      .filter(Boolean);
  }
  counts(): { hits: number; misses: number; remoteHits: number } {
    const hits = this.events.filter((e) => e.type === "hit").length;
    const remoteHits = this.events.filter((e) => e.type === "hit" && e.tier === "remote").length;
    return { hits, misses: this.events.length - hits, remoteHits };
  }
  clear(): void {
    this.events.length = 0;
  }
}

/** `explain: 18 hits, 0 misses; cache 1.20 MB in .gadget (42 entries, bound 2.00 GB)` */
export async function explainSummary(log: ExplainLog, projectRoot: string, env: Record<string, string | undefined>): Promise<string> {
  const [{ cacheUsage, cacheLimit }, { CACHE_DIR }, { formatBytes }, { join }] = await Promise.all([import("../../engine/cache-prune.js"), import("../../engine/cache.js"), import("../progress.js"), import("node:path")]);
  const { hits, misses, remoteHits } = log.counts();
  const usage = await cacheUsage(join(projectRoot, CACHE_DIR));
  let bound: string;
  try {
    const max = cacheLimit(env);
    bound = max === undefined ? "no size bound" : `bound ${formatBytes(max)}`;
  } catch (e) {
    bound = (e as Error).message;
  }
  return `explain: ${hits} hit${hits === 1 ? "" : "s"}${remoteHits > 0 ? ` (${remoteHits} remote)` : ""}, ${misses} miss${misses === 1 ? "" : "es"}; cache ${formatBytes(usage.bytes)} in ${CACHE_DIR} (${usage.entries} entries, ${bound})`;
}

/** The command line's options for stages (`--validate-metadata=BOOL`), given only when set. */
export function optionOverrides(ctx: CommandContext): Record<string, unknown> | undefined {
  const v = ctx.flags["validate-metadata"];
  return typeof v === "boolean" ? { validateMetadata: v } : undefined;
}

/**
 * `✓ trace_open 182 ms sha256:…` / `✗ trace_open 90 ms` (+ the error, on stderr) /
 * `- trace_open 182 ms sha256:… (not published)` and `- x 40 ms (stopped)`, whose shared reason
 * is printed once at the end.
 */
export async function reportResults(ctx: CommandContext, results: GadgetRunResult[], timer: Pick<GadgetTimer, "ms">): Promise<boolean> {
  const { imageDigest } = await import("../../engine/project.js");
  const held: { status: string; names: string[]; error: unknown }[] = [];
  for (const r of results) {
    const ms = fmtMs(timer.ms(r.gadget.name));
    const d = imageDigest(r);
    if (r.status === "ok") ctx.out(`✓ ${r.gadget.name} ${ms}${d ? ` ${d}` : ""}`);
    else if (r.status === "failed") {
      ctx.out(`✗ ${r.gadget.name} ${ms}`);
      ctx.warn(formatError(r.error, ctx.verbose));
    } else {
      ctx.out(`- ${r.gadget.name} ${ms}${d ? ` ${d}` : ""} (${r.status === "withheld" ? "not published" : "stopped"})`);
      const group = held.find((g) => g.status === r.status);
      if (group) group.names.push(r.gadget.name);
      else held.push({ status: r.status, names: [r.gadget.name], error: r.error });
    }
  }
  for (const g of held) {
    const e = g.error;
    const line = e instanceof GadgetError ? new GadgetError({ what: e.what, which: g.names.join(", "), ...(e.why ? { why: e.why } : {}), ...(e.hint ? { hint: e.hint } : {}), ...(e.code ? { code: e.code } : {}) }) : e;
    ctx.warn(formatError(line, false));
  }
  return results.every((r) => r.ok);
}

function printPlan(ctx: CommandContext, p: Project): void {
  const rel = (d: string) => {
    const r = d.startsWith(p.gadgetfile.dir + "/") ? d.slice(p.gadgetfile.dir.length + 1) : d;
    return r || ".";
  };
  ctx.out(`tasks: ${p.tasks.join(" → ")}`);
  ctx.out("steps:");
  p.steps.forEach((s, i) => {
    if (i === p.publishFrom) ctx.out("  -- publish: only when every gadget built (all or nothing)");
    const name = typeof s.spec === "string" ? s.spec : s.spec.stage;
    const stage = p.stages.get(name)!;
    const opts = typeof s.spec === "string" ? undefined : s.spec.options;
    ctx.out(`  ${s.task}: ${name}${stage.perArch ? " (per arch)" : ""}${stage.runBatch ? " (once for all gadgets)" : ""}${opts && Object.keys(opts).length ? ` ${JSON.stringify(opts)}` : ""}`);
  });
  if (p.reordered) ctx.out("  (publish targets that stay on this machine, such as sign, run before those that send images away)");
  ctx.out(`gadgets (${p.gadgets.length}):`);
  for (const g of p.gadgets) ctx.out(`  ${g.name}  ${rel(g.dir)}  ${g.archs.join(",")}${g.tag ? `  ${g.tag}` : ""}`);
}

export async function run(ctx: CommandContext): Promise<number> {
  const jobs = parseJobs(ctx.flagString("jobs"));
  const json = ctx.flagBool("json");
  const file = ctx.flagString("file");
  const keepGoing = ctx.flagBool("keep-going");
  const failFast = ctx.flagBool("fail-fast");
  if (keepGoing && failFast) throw usageError("--keep-going and --fail-fast cannot be combined", "--keep-going publishes the gadgets that built; --fail-fast stops at the first failure");
  const only = ctx.flagList("only");
  const overrides = optionOverrides(ctx);
  if (ctx.flagBool("watch") && ctx.flagBool("dry")) throw usageError("--watch and --dry cannot be combined");
  if (!ctx.flagBool("watch")) for (const f of ["exec", "exec-grace"]) if (ctx.flags[f] !== undefined) throw usageError(`--${f} needs --watch`, "gadget run --watch --exec 'ig run {ref}'");
  if (ctx.flagBool("typecheck")) {
    const { typecheckCommand } = await import("./typecheck.js");
    const code = await typecheckCommand(ctx, { quietWhenClean: true });
    if (code !== 0) return code;
  }
  if (ctx.flagBool("watch")) return watch(ctx, { jobs, file, only, overrides });
  const startedAt = Date.now();
  const fast = upToDateInvocation(ctx);
  if (fast && (await printIfUpToDate(ctx, fast, file))) return 0;
  const jsonFile = ctx.flagString("json-file");
  const recorder = new RunRecorder();
  const requested = ctx.args.length > 0 ? ctx.args : ["build"];
  const engine = await import("../../engine/project.js");
  let project: Project | undefined;
  let results: GadgetRunResult[] | undefined;
  const explain = ctx.flagBool("explain");
  const explained = new ExplainLog();
  // --json-file: the summary, whatever happens (a gadgetfile that does not load included)
  const summary = (error?: unknown) =>
    runSummary({ tasks: project?.tasks ?? requested, ...(project ? { project } : {}), ...(results ? { results } : {}), recorder, imageDigest: engine.imageDigest, imageReference: engine.imageReference, ...(error !== undefined ? { error } : {}) });
  const profileFile = ctx.flagString("profile");
  const profile = profileFile ? new (await import("../trace-profile.js")).TraceProfile({ command: `gadget run ${requested.join(" ")}`, cwd: ctx.cwd }) : undefined;
  const writeSummary = async (error?: unknown) => {
    if (profile && profileFile) {
      const { writeFileAtomic } = await import("../../store/atomic.js");
      await writeFileAtomic(resolve(ctx.cwd, profileFile), JSON.stringify(profile.toJson()) + "\n", { fsync: false });
    }
    if (!jsonFile) return;
    const { writeFileAtomic } = await import("../../store/atomic.js");
    await writeFileAtomic(resolve(ctx.cwd, jsonFile), JSON.stringify(summary(error), null, 2) + "\n", { fsync: false });
  };
  try {
    const env = { ...buildEnv(ctx), ...registryEnv(ctx) };
    project = await engine.loadProject({ cwd: ctx.cwd, ...(file ? { file } : {}), tasks: ctx.args, ...(only.length ? { gadgets: only } : {}), ...(overrides ? { optionOverrides: overrides } : {}) });
    if (ctx.flagBool("dry")) {
      if (json) {
        ctx.out(
          toJson(
            {
              tasks: project.tasks,
              steps: project.steps.map((s) => ({ task: s.task, stage: typeof s.spec === "string" ? s.spec : s.spec.stage, ...(typeof s.spec === "string" ? {} : { options: s.spec.options ?? {} }) })),
              ...(project.publishFrom !== undefined ? { publishFrom: project.publishFrom } : {}),
              gadgets: project.gadgets,
            },
            false,
          ),
        );
      } else printPlan(ctx, project);
      return 0;
    }
    if (project.gadgets.length === 0) throw new GadgetError({ what: "nothing to run", which: project.gadgetfile.file, why: "the gadgetfile selects no gadgets" });
    const remoteCache = ctx.flagBool("no-cache") ? undefined : await remoteCacheOf(ctx, project);
    const progress = ctx.stderrIsTTY && !json && !explain;
    const ran = new Set<string>();
    const tasks = requested.join(" ");
    let logged = false;
    const noting = (l: Logger): Logger => ({
      info: (m) => ((logged = true), l.info(m)),
      warn: (m) => ((logged = true), l.warn(m)),
      debug: (m) => l.debug(m),
      ...(l.diagnostics ? { diagnostics: (t: string) => ((logged = true), l.diagnostics!(t)) } : {}),
    });
    ctx.interrupts?.doing(() => {
      const now = recorder.inFlight();
      return `gadget run ${tasks}${now.length ? `; in flight: ${now.join(", ")}` : ""}`;
    });
    const several = project.gadgets.length > 1;
    try {
      results = await engine.runProject(project, {
        storeDir: ctx.storeDir(),
        ...(jobs ? { jobs } : {}),
        cache: !ctx.flagBool("no-cache"),
        env,
        ...(remoteCache ? { remoteCache } : {}),
        signal: ctx.signal,
        logger: noting(runLogger(ctx)),
        // gadgets build side by side: each one's lines say whose they are
        ...(several ? { loggerFor: (g: GadgetInfo) => noting(runLogger(ctx, `[${g.name}] `)) } : {}),
        ...(keepGoing ? { keepGoing } : {}),
        ...(failFast ? { failFast } : {}),
        // a rebuild that re-tags a gadget removes the blobs only the replaced image used
        ...(ctx.flagBool("keep-old") ? {} : { pruneReplaced: true }),
        onEvent: (e) => {
          recorder.onEvent(e);
          explained.onEvent(e);
          profile?.onEvent(e);
          if (progress && e.type === "miss") ran.add(`${e.gadget}\0${e.stage}\0${e.arch ?? ""}`);
          // Progress (DESIGN §2): one status line per step that ran, on a terminal only.
          if (progress && e.type === "done" && ran.has(`${e.gadget}\0${e.stage}\0${e.arch ?? ""}`)) {
            ctx.warn(`  ${e.gadget} ${e.stage}${e.arch ? `@${e.arch}` : ""} ${fmtMs(e.ms ?? 0)}`);
          }
        },
      });
    } finally {
      await (await import("../../engine/pool.js")).closePool();
    }
    // a run that printed nothing of its steps' and only tagged into the store: the next identical run may skip it all
    if (fast && !logged) await (await import("../../engine/up-to-date.js")).recordRun(fast, project, results, startedAt);
  } catch (e) {
    await writeSummary(e).catch((w: unknown) => ctx.warn(`warning: could not write --json-file or --profile: ${(w as Error)?.message ?? String(w)}`));
    throw e;
  }
  await writeSummary();
  if (explain && project) {
    for (const l of explained.lines(project.gadgets.map((g) => g.name))) ctx.warn(l);
    ctx.warn(await explainSummary(explained, project.gadgetfile.dir, ctx.env));
  }
  if (json) {
    ctx.out(toJson(summary(), false));
    for (const r of results) if (!r.ok) ctx.warn(formatError(r.error, ctx.verbose));
    return results.every((r) => r.ok) ? 0 : 1;
  }
  return (await reportResults(ctx, results, recorder)) ? 0 : 1;
}

/** The remote cache of this run (--remote-cache, GADGET_REMOTE_CACHE, the gadgetfile's cache), if any. */
export async function remoteCacheOf(ctx: CommandContext, project: Project): Promise<RemoteCacheSettings | undefined> {
  const flag = ctx.flagString("remote-cache");
  const flagReadOnly = ctx.flagBool("remote-cache-read-only");
  const gadgetfile = project.gadgetfile.config.cache;
  if (flag === undefined && !ctx.env.GADGET_REMOTE_CACHE && !gadgetfile?.remote) {
    if (flagReadOnly) throw usageError("--remote-cache-read-only needs a remote cache", "pass --remote-cache REGISTRY/REPO, set GADGET_REMOTE_CACHE, or set cache.remote in the gadgetfile");
    return undefined;
  }
  const { resolveRemoteCache } = await import("../../engine/remote-cache-config.js");
  return resolveRemoteCache({ ...(flag !== undefined ? { flag } : {}), flagReadOnly, env: ctx.env, ...(gadgetfile ? { gadgetfile } : {}), baseDir: project.gadgetfile.dir });
}

/**
 * The invocation the no-op fast path (engine/up-to-date.ts) answers for, or undefined when the
 * flags ask for more than result lines (--explain, --json, --dry, -v, …) or for no cache.
 */
function upToDateInvocation(ctx: CommandContext): Invocation | undefined {
  for (const f of ["no-cache", "explain", "json", "json-file", "dry", "typecheck", "profile"]) if (ctx.flags[f] !== undefined && ctx.flags[f] !== false) return undefined;
  if (ctx.verbose) return undefined;
  return { cwd: ctx.cwd, args: ctx.args, flags: ctx.flags, storeDir: ctx.storeDir(), env: { ...buildEnv(ctx), ...registryEnv(ctx) } };
}

/** The fast path: print the recorded result lines when nothing the last identical run depended on changed. */
async function printIfUpToDate(ctx: CommandContext, inv: Invocation, file: string | undefined): Promise<boolean> {
  const t0 = performance.now();
  const [{ checkUpToDate }, { findGadgetfile }, { dirname }] = await Promise.all([import("../../engine/up-to-date.js"), import("../../gadgetfile/find.js"), import("node:path")]);
  let root: string;
  try {
    root = dirname(findGadgetfile(ctx.cwd, file));
  } catch {
    return false; // the full run says what is wrong
  }
  const answer = checkUpToDate(root, inv);
  if (!answer.upToDate) return false;
  const ms = fmtMs(performance.now() - t0);
  for (const g of answer.gadgets) ctx.out(`✓ ${g.name} ${ms}${g.digest ? ` ${g.digest}` : ""}`);
  return true;
}


/** The logger stages get: info and warnings on stderr, debug with -v; `prefix` names the gadget when several build at once. */
export function runLogger(ctx: CommandContext, prefix = ""): Logger {
  const lines = (t: string) => (prefix ? t.replace(/^(?=.)/gm, prefix) : t);
  return { info: (m) => ctx.warn(lines(m)), warn: (m) => ctx.warn(lines(`warning: ${m}`)), debug: (m) => (ctx.verbose ? ctx.warn(lines(m)) : undefined), diagnostics: (t) => ctx.warn(lines(t)) };
}

/**
 * `gadget run --watch`: the engine watches and rebuilds; this prints. After the first build (and
 * a reload) every gadget gets its line; after that, a gadget gets a line only when something was
 * rebuilt: it failed, its digest changed, or a cacheable step missed. With --exec (or the
 * gadgetfile's watch.exec) each build then (re)starts the gadgets' commands (exec-loop.ts).
 * SIGINT/SIGTERM stop the commands, then the watcher (exit 0); a second one kills the commands.
 */
async function watch(ctx: CommandContext, o: { jobs: number | undefined; file: string | undefined; only: string[]; overrides: Record<string, unknown> | undefined }): Promise<number> {
  const [{ watchProject }, { imageDigest, imageReference }, { ExecLoop, parseExecFlags, parseExecGrace }] = await Promise.all([import("../../engine/watch.js"), import("../../engine/project.js"), import("../exec-loop.js")]);
  const explain = ctx.flagBool("explain");
  ctx.interrupts?.handOver(); // Ctrl-C ends watch mode with 0
  const exec = new ExecLoop(ctx, { templates: parseExecFlags(ctx.flagList("exec")), graceMs: parseExecGrace(ctx.flagString("exec-grace")), storeDir: ctx.storeDir() });
  const ac = new AbortController();
  let stopping = false;
  const stop = () => {
    if (stopping) return exec.killNow(); // a second Ctrl-C: no more grace
    stopping = true;
    void exec.shutdown().finally(() => ac.abort());
  };
  const winch = () => exec.forward("SIGWINCH");
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.on("SIGWINCH", winch);
  let timer = new GadgetTimer();
  const explained = new ExplainLog();
  const cacheMisses = new Map<string, number>();
  const lastDigest = new Map<string, string | undefined>();
  let loaded = false;
  let usage: unknown;
  try {
    await watchProject({
      cwd: ctx.cwd,
      ...(o.file ? { file: o.file } : {}),
      tasks: ctx.args,
      ...(o.only.length ? { gadgets: o.only } : {}),
      ...(o.overrides ? { optionOverrides: o.overrides } : {}),
      storeDir: ctx.storeDir(),
      ...(o.jobs ? { jobs: o.jobs } : {}),
      cache: !ctx.flagBool("no-cache"),
      env: { ...buildEnv(ctx), ...registryEnv(ctx) },
      logger: runLogger(ctx),
      remoteCacheFor: (project) => remoteCacheOf(ctx, project),
      signal: ac.signal,
      ...(ctx.flagBool("keep-old") ? {} : { pruneReplaced: true }),
      handlers: {
        onLoad: (project) => {
          loaded = true;
          exec.onLoad(project);
        },
        onEvent: (e) => {
          timer.onEvent(e);
          if (e.type === "miss" && e.cacheable) cacheMisses.set(e.gadget, (cacheMisses.get(e.gadget) ?? 0) + 1);
          explained.onEvent(e);
        },
        onResults: (results, build) => {
          if (explain) for (const l of explained.lines(results.map((r) => r.gadget.name))) ctx.warn(l);
          explained.clear();
          for (const r of results) {
            const d = r.ok ? imageDigest(r) : undefined;
            const quiet = !build.all && r.ok && d === lastDigest.get(r.gadget.name) && (cacheMisses.get(r.gadget.name) ?? 0) === 0;
            lastDigest.set(r.gadget.name, d);
            if (quiet) continue;
            const ms = fmtMs(timer.ms(r.gadget.name));
            if (r.ok) ctx.out(`✓ ${r.gadget.name} ${ms}${d ? ` ${d}` : ""}`);
            else {
              ctx.out(`✗ ${r.gadget.name} ${ms}`);
              ctx.warn(formatError(r.error, ctx.verbose));
            }
          }
          timer = new GadgetTimer();
          cacheMisses.clear();
          exec.onResults(results, build, imageDigest, imageReference);
        },
        onReload: (file, ms) => ctx.warn(`reloaded ${relative(ctx.cwd, file) || file} (${fmtMs(ms)})`),
        onError: (e) => {
          if (!loaded && e instanceof GadgetError && e.code === "USAGE") {
            usage = e; // at start (e.g. --only naming no gadget): a usage error, as without --watch
            stop();
            return;
          }
          ctx.warn(formatError(e, ctx.verbose)); // after a reload: reported, and watching goes on
        },
        onWatching: (n) => ctx.warn(`watching ${n} files (Ctrl-C to stop)`),
      },
    });
  } finally {
    await exec.shutdown();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    process.off("SIGWINCH", winch);
  }
  if (usage) throw usage;
  return 0;
}
