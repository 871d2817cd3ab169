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
import { RunRecorder, runSummary } from "../run-summary.js";
import { relative, resolve } from "node:path";
import type { GadgetInfo, Logger } from "../../types.js";
import type { GadgetRunResult, StepEvent } from "../../engine/run-graph.js";
import type { Project } from "../../engine/project.js";

export function parseJobs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`invalid --jobs ${JSON.stringify(v)}: expected a whole number ≥ 1`);
  return n;
}

export function fmtMs(ms: number): string {
  return `${Math.round(ms)} ms`;
}

/** Wall time per gadget, from its first step's start to its last step's end. */
export class GadgetTimer {
  private readonly first = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private readonly hits = new Map<string, number>();
  private readonly misses = new Map<string, number>();
  onEvent(e: StepEvent): void {
    const now = performance.now();
    if (e.type === "start" && !this.first.has(e.gadget)) this.first.set(e.gadget, now);
    if (e.type === "done" || e.type === "fail") this.last.set(e.gadget, now);
    if (e.type === "hit") this.hits.set(e.gadget, (this.hits.get(e.gadget) ?? 0) + 1);
    if (e.type === "miss") this.misses.set(e.gadget, (this.misses.get(e.gadget) ?? 0) + 1);
  }
  ms(g: string): number {
    const a = this.first.get(g);
    const b = this.last.get(g);
    return a === undefined || b === undefined ? 0 : b - a;
  }
  counts(g: string): { hits: number; misses: number } {
    return { hits: this.hits.get(g) ?? 0, misses: this.misses.get(g) ?? 0 };
  }
}

/** `--explain` line for a hit or a miss of a cacheable step (publish steps always run: not listed). */
export function explainLine(e: StepEvent): string | undefined {
  if (!e.cacheable) return undefined;
  const step = `${e.gadget} ${e.stage}${e.arch ? `@${e.arch}` : ""}`;
  if (e.type === "hit") return `${step}: hit`;
  if (e.type === "miss") return `${step}: miss: ${e.reason ?? "unknown"}`;
  return undefined;
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
  if (ctx.flagBool("watch")) {
    if (ctx.flagBool("dry")) throw usageError("--watch and --dry cannot be combined");
    return watch(ctx, { jobs, file });
  }
  const jsonFile = ctx.flagString("json-file");
  const recorder = new RunRecorder();
  const requested = ctx.args.length > 0 ? ctx.args : ["build"];
  const engine = await import("../../engine/project.js");
  let project: Project | undefined;
  let results: GadgetRunResult[] | undefined;
  // --json-file: the summary, whatever happens (a gadgetfile that does not load included)
  const summary = (error?: unknown) =>
    runSummary({ tasks: project?.tasks ?? requested, ...(project ? { project } : {}), ...(results ? { results } : {}), recorder, imageDigest: engine.imageDigest, imageReference: engine.imageReference, ...(error !== undefined ? { error } : {}) });
  const writeSummary = async (error?: unknown) => {
    if (!jsonFile) return;
    const { writeFileAtomic } = await import("../../store/atomic.js");
    await writeFileAtomic(resolve(ctx.cwd, jsonFile), JSON.stringify(summary(error), null, 2) + "\n", { fsync: false });
  };
  try {
    const env = { ...buildEnv(ctx), ...registryEnv(ctx) };
    project = await engine.loadProject({ cwd: ctx.cwd, ...(file ? { file } : {}), tasks: ctx.args });
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
    const explain = ctx.flagBool("explain");
    const progress = ctx.stderrIsTTY && !json && !explain;
    const ran = new Set<string>();
    const tasks = requested.join(" ");
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
        signal: ctx.signal,
        logger: runLogger(ctx),
        // gadgets build side by side: each one's lines say whose they are
        ...(several ? { loggerFor: (g: GadgetInfo) => runLogger(ctx, `[${g.name}] `) } : {}),
        ...(keepGoing ? { keepGoing } : {}),
        ...(failFast ? { failFast } : {}),
        onEvent: (e) => {
          recorder.onEvent(e);
          if (explain) {
            const l = explainLine(e);
            if (l) ctx.warn(l);
          }
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
  } catch (e) {
    await writeSummary(e).catch((w: unknown) => ctx.warn(`warning: could not write --json-file: ${(w as Error)?.message ?? String(w)}`));
    throw e;
  }
  await writeSummary();
  if (json) {
    ctx.out(toJson(summary(), false));
    for (const r of results) if (!r.ok) ctx.warn(formatError(r.error, ctx.verbose));
    return results.every((r) => r.ok) ? 0 : 1;
  }
  return (await reportResults(ctx, results, recorder)) ? 0 : 1;
}

/** The logger stages get: info and warnings on stderr, debug with -v; `prefix` names the gadget when several build at once. */
export function runLogger(ctx: CommandContext, prefix = ""): Logger {
  const lines = (t: string) => (prefix ? t.replace(/^(?=.)/gm, prefix) : t);
  return { info: (m) => ctx.warn(lines(m)), warn: (m) => ctx.warn(lines(`warning: ${m}`)), debug: (m) => (ctx.verbose ? ctx.warn(lines(m)) : undefined), diagnostics: (t) => ctx.warn(lines(t)) };
}

/**
 * `gadget run --watch`: the engine watches and rebuilds; this prints. After the first build (and
 * a reload) every gadget gets its line; after that, a gadget gets a line only when something was
 * rebuilt: it failed, its digest changed, or a cacheable step missed. SIGINT/SIGTERM stop it (exit 0).
 */
async function watch(ctx: CommandContext, o: { jobs: number | undefined; file: string | undefined }): Promise<number> {
  const [{ watchProject }, { imageDigest }] = await Promise.all([import("../../engine/watch.js"), import("../../engine/project.js")]);
  const explain = ctx.flagBool("explain");
  ctx.interrupts?.handOver(); // Ctrl-C ends watch mode with 0
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  let timer = new GadgetTimer();
  const cacheMisses = new Map<string, number>();
  const lastDigest = new Map<string, string | undefined>();
  try {
    await watchProject({
      cwd: ctx.cwd,
      ...(o.file ? { file: o.file } : {}),
      tasks: ctx.args,
      storeDir: ctx.storeDir(),
      ...(o.jobs ? { jobs: o.jobs } : {}),
      cache: !ctx.flagBool("no-cache"),
      env: { ...buildEnv(ctx), ...registryEnv(ctx) },
      logger: runLogger(ctx),
      signal: ac.signal,
      handlers: {
        onEvent: (e) => {
          timer.onEvent(e);
          if (e.type === "miss" && e.cacheable) cacheMisses.set(e.gadget, (cacheMisses.get(e.gadget) ?? 0) + 1);
          if (explain) {
            const l = explainLine(e);
            if (l) ctx.warn(l);
          }
        },
        onResults: (results, build) => {
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
        },
        onReload: (file, ms) => ctx.warn(`reloaded ${relative(ctx.cwd, file) || file} (${fmtMs(ms)})`),
        onError: (e) => ctx.warn(formatError(e, ctx.verbose)),
        onWatching: (n) => ctx.warn(`watching ${n} files (Ctrl-C to stop)`),
      },
    });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
  return 0;
}
