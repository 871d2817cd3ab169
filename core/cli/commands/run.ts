/** `gadget run [TASK…]`: run gadgetfile tasks over every gadget (DESIGN §7). */
import { GadgetError, usageError } from "../../errors.js";
import { buildEnv, type CommandContext } from "../context.js";
import { formatError, toJson } from "../output.js";
import { relative } from "node:path";
import type { Logger } from "../../types.js";
import type { GadgetRunResult, StepEvent } from "../../engine/run-graph.js";
import type { Project } from "../../engine/project.js";
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

/** Total length of the union of intervals (concurrent steps of one gadget count once). */
export function unionMs(spans: [number, number][]): number {
  let total = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const [a, b] of [...spans].sort((x, y) => x[0] - y[0])) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

/** Time per gadget: while at least one of its steps was working — not while they waited for a --jobs slot. */
export class GadgetTimer {
  private readonly spans = new Map<string, [number, number][]>();
  private readonly hits = new Map<string, number>();
  private readonly misses = new Map<string, number>();
  onEvent(e: StepEvent): void {
    if ((e.type === "done" || e.type === "fail") && e.spans) {
      const l = this.spans.get(e.gadget) ?? [];
      l.push(...e.spans);
      this.spans.set(e.gadget, l);
    }
    if (!e.cacheable) return;
    if (e.type === "hit") this.hits.set(e.gadget, (this.hits.get(e.gadget) ?? 0) + 1);
    if (e.type === "miss") this.misses.set(e.gadget, (this.misses.get(e.gadget) ?? 0) + 1);
  }
  ms(g: string): number {
    return unionMs(this.spans.get(g) ?? []);
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
  counts(): { hits: number; misses: number } {
    const hits = this.events.filter((e) => e.type === "hit").length;
    return { hits, misses: this.events.length - hits };
  }
  clear(): void {
    this.events.length = 0;
  }
}

/** `explain: 18 hits, 0 misses; cache 1.20 MB in .gadget (42 entries, bound 2.00 GB)` */
export async function explainSummary(log: ExplainLog, projectRoot: string, env: Record<string, string | undefined>): Promise<string> {
  const [{ cacheUsage, cacheLimit }, { CACHE_DIR }, { formatBytes }, { join }] = await Promise.all([import("../../engine/cache-prune.js"), import("../../engine/cache.js"), import("../progress.js"), import("node:path")]);
  const { hits, misses } = log.counts();
  const usage = await cacheUsage(join(projectRoot, CACHE_DIR));
  let bound: string;
  try {
    const max = cacheLimit(env);
    bound = max === undefined ? "no size bound" : `bound ${formatBytes(max)}`;
  } catch (e) {
    bound = (e as Error).message;
  }
  return `explain: ${hits} hit${hits === 1 ? "" : "s"}, ${misses} miss${misses === 1 ? "" : "es"}; cache ${formatBytes(usage.bytes)} in ${CACHE_DIR} (${usage.entries} entries, ${bound})`;
}

/** The command line's options for stages (`--validate-metadata=BOOL`), given only when set. */
export function optionOverrides(ctx: CommandContext): Record<string, unknown> | undefined {
  const v = ctx.flags["validate-metadata"];
  return typeof v === "boolean" ? { validateMetadata: v } : undefined;
}

/** `✓ trace_open 182 ms sha256:…` / `✗ trace_open 90 ms` (+ the error, on stderr). */
export async function reportResults(ctx: CommandContext, results: GadgetRunResult[], timer: GadgetTimer): Promise<boolean> {
  const { imageDigest } = await import("../../engine/project.js");
  let ok = true;
  for (const r of results) {
    const ms = fmtMs(timer.ms(r.gadget.name));
    if (r.ok) {
      const d = imageDigest(r);
      ctx.out(`✓ ${r.gadget.name} ${ms}${d ? ` ${d}` : ""}`);
    } else {
      ok = false;
      ctx.out(`✗ ${r.gadget.name} ${ms}`);
      ctx.warn(formatError(r.error, ctx.verbose));
    }
  }
  return ok;
}

export function resultsJson(results: GadgetRunResult[], timer: GadgetTimer, tasks: string[], imageDigest: (r: GadgetRunResult) => string | undefined, imageReference: (r: GadgetRunResult) => string | undefined): unknown {
  return {
    ok: results.every((r) => r.ok),
    tasks,
    gadgets: results.map((r) => {
      const d = imageDigest(r);
      const ref = imageReference(r);
      const err = r.error as { message?: string } | undefined;
      return {
        name: r.gadget.name,
        ok: r.ok,
        ms: Math.round(timer.ms(r.gadget.name)),
        ...timer.counts(r.gadget.name),
        ...(d ? { digest: d } : {}),
        ...(ref ? { reference: ref } : {}),
        ...(r.ok ? {} : { error: err?.message ?? String(r.error) }),
        results: r.results,
      };
    }),
  };
}

function printPlan(ctx: CommandContext, p: Project): void {
  const rel = (d: string) => {
    const r = d.startsWith(p.gadgetfile.dir + "/") ? d.slice(p.gadgetfile.dir.length + 1) : d;
    return r || ".";
  };
  ctx.out(`tasks: ${p.tasks.join(" → ")}`);
  ctx.out("steps:");
  for (const s of p.steps) {
    const name = typeof s.spec === "string" ? s.spec : s.spec.stage;
    const stage = p.stages.get(name)!;
    const opts = typeof s.spec === "string" ? undefined : s.spec.options;
    ctx.out(`  ${s.task}: ${name}${stage.perArch ? " (per arch)" : ""}${opts && Object.keys(opts).length ? ` ${JSON.stringify(opts)}` : ""}`);
  }
  ctx.out(`gadgets (${p.gadgets.length}):`);
  for (const g of p.gadgets) ctx.out(`  ${g.name}  ${rel(g.dir)}  ${g.archs.join(",")}${g.tag ? `  ${g.tag}` : ""}`);
}

export async function run(ctx: CommandContext): Promise<number> {
  const jobs = parseJobs(ctx.flagString("jobs"));
  const json = ctx.flagBool("json");
  const file = ctx.flagString("file");
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
  const { loadProject, runProject, imageDigest, imageReference } = await import("../../engine/project.js");
  const project = await loadProject({ cwd: ctx.cwd, ...(file ? { file } : {}), tasks: ctx.args, ...(only.length ? { gadgets: only } : {}), ...(overrides ? { optionOverrides: overrides } : {}) });
  if (ctx.flagBool("dry")) {
    if (json) {
      ctx.out(
        toJson(
          {
            tasks: project.tasks,
            steps: project.steps.map((s) => ({ task: s.task, stage: typeof s.spec === "string" ? s.spec : s.spec.stage, ...(typeof s.spec === "string" ? {} : { options: s.spec.options ?? {} }) })),
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
  const explained = new ExplainLog();
  const timer = new GadgetTimer();
  const progress = ctx.stderrIsTTY && !json && !explain;
  const ran = new Set<string>();
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  process.once("SIGTERM", onSig);
  let results: GadgetRunResult[];
  try {
    results = await runProject(project, {
      storeDir: ctx.storeDir(),
      ...(jobs ? { jobs } : {}),
      cache: !ctx.flagBool("no-cache"),
      env: buildEnv(ctx),
      signal: ac.signal,
      logger: runLogger(ctx),
      onEvent: (e) => {
        timer.onEvent(e);
        explained.onEvent(e);
        if (progress && e.type === "miss") ran.add(`${e.gadget}\0${e.stage}\0${e.arch ?? ""}`);
        // Progress (DESIGN §2): one status line per step that ran, on a terminal only.
        if (progress && e.type === "done" && ran.has(`${e.gadget}\0${e.stage}\0${e.arch ?? ""}`)) {
          ctx.warn(`  ${e.gadget} ${e.stage}${e.arch ? `@${e.arch}` : ""} ${fmtMs(e.ms ?? 0)}`);
        }
      },
    });
  } finally {
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
    await (await import("../../engine/pool.js")).closePool();
  }
  if (ac.signal.aborted) return 130;
  if (explain) {
    for (const l of explained.lines(project.gadgets.map((g) => g.name))) ctx.warn(l);
    ctx.warn(await explainSummary(explained, project.gadgetfile.dir, ctx.env));
  }
  if (json) {
    ctx.out(toJson(resultsJson(results, timer, project.tasks, imageDigest, imageReference), false));
    for (const r of results) if (!r.ok) ctx.warn(formatError(r.error, ctx.verbose));
    return results.every((r) => r.ok) ? 0 : 1;
  }
  return (await reportResults(ctx, results, timer)) ? 0 : 1;
}

/** The logger stages get: info and warnings on stderr, debug with -v. */
export function runLogger(ctx: CommandContext): Logger {
  return { info: (m) => ctx.warn(m), warn: (m) => ctx.warn(`warning: ${m}`), debug: (m) => (ctx.verbose ? ctx.warn(m) : undefined), diagnostics: (t) => ctx.warn(t) };
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
      env: buildEnv(ctx),
      logger: runLogger(ctx),
      signal: ac.signal,
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
