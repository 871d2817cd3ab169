/**
 * What `gadget run` reports as data: `--json` prints it, `--json-file FILE` writes it (also when
 * the gadgetfile does not load, so a CI step always has a summary to read). Built from the
 * engine's step events and results:
 *
 *   { ok, tasks, error?,
 *     gadgets: [{ name, ok, status, ms, hits, misses, digest?, reference?, error?,
 *                 steps: [{ stage, arch?, status: hit|ran|failed, ms }], results }],
 *     publish: [{ type, step, gadgets: [{ name, ...result }] }       // push: uploaded/mounted/skipped blobs, signatures
 *               | { type, step, gadgets: [names], result }] }        // the same result for all: a tar, once
 */
import type { GadgetRunResult, StepEvent } from "../engine/run-graph.js";
import type { Project } from "../engine/project.js";
import { isGadgetError } from "../errors.js";

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

export interface StepRecord {
  stage: string;
  arch?: string;
  status: "hit" | "ran" | "failed";
  ms: number;
}

/** Collects the engine's step events: wall time, hits and misses, steps, results by step, what is in flight. */
export class RunRecorder {
  /** Per gadget, when its steps were working: its time is their union (time queued for a --jobs slot left out). */
  private readonly timer = new GadgetTimer();
  private readonly hits = new Map<string, number>();
  private readonly remoteHits = new Map<string, number>();
  private readonly misses = new Map<string, number>();
  private readonly steps = new Map<string, StepRecord[]>();
  private readonly hitSteps = new Set<string>();
  /** gadget → step index → what the stage reported. */
  readonly stepResults = new Map<string, Map<number, Record<string, unknown>>>();
  private readonly running = new Map<string, string>();

  onEvent(e: StepEvent): void {
    this.timer.onEvent(e);
    const id = `${e.gadget}\0${e.step}\0${e.arch ?? ""}`;
    if (e.type === "start") {
      this.running.set(id, `${e.stage}${e.arch ? `@${e.arch}` : ""} ${e.gadget}`);
    }
    if (e.type === "hit") {
      this.hits.set(e.gadget, (this.hits.get(e.gadget) ?? 0) + 1);
      if (e.tier === "remote") this.remoteHits.set(e.gadget, (this.remoteHits.get(e.gadget) ?? 0) + 1);
      this.hitSteps.add(id);
    }
    if (e.type === "miss") this.misses.set(e.gadget, (this.misses.get(e.gadget) ?? 0) + 1);
    if (e.type === "stop") this.running.delete(id);
    if (e.type === "done" || e.type === "fail") {
      this.running.delete(id);
      const status = e.type === "fail" ? "failed" : this.hitSteps.has(id) ? "hit" : "ran";
      const list = this.steps.get(e.gadget) ?? [];
      list.push({ stage: e.stage, ...(e.arch ? { arch: e.arch } : {}), status, ms: Math.round(e.ms ?? 0) });
      this.steps.set(e.gadget, list);
      if (e.type === "done" && e.result && !e.arch) {
        const m = this.stepResults.get(e.gadget) ?? new Map<number, Record<string, unknown>>();
        m.set(e.step, e.result);
        this.stepResults.set(e.gadget, m);
      }
    }
  }

  ms(g: string): number {
    return this.timer.ms(g);
  }

  /** Cache hits (local + remote), of which local and remote, and misses. */
  counts(g: string): { hits: number; localHits: number; remoteHits: number; misses: number } {
    const hits = this.hits.get(g) ?? 0;
    const remoteHits = this.remoteHits.get(g) ?? 0;
    return { hits, localHits: hits - remoteHits, remoteHits, misses: this.misses.get(g) ?? 0 };
  }

  stepsOf(g: string): StepRecord[] {
    return this.steps.get(g) ?? [];
  }

  /** The steps running now: "push a", "clang@amd64 b". */
  inFlight(): string[] {
    return [...this.running.values()];
  }
}

function errorText(e: unknown): string {
  return (e as { message?: string } | undefined)?.message ?? String(e);
}

export interface SummaryInput {
  tasks: string[];
  project?: Project;
  results?: GadgetRunResult[];
  recorder: RunRecorder;
  imageDigest?: (r: GadgetRunResult) => string | undefined;
  imageReference?: (r: GadgetRunResult) => string | undefined;
  /** A failure of the whole run (the gadgetfile did not load, nothing to run…). */
  error?: unknown;
}

export function runSummary(i: SummaryInput): Record<string, unknown> {
  const results = i.results ?? [];
  const gadgets = results.map((r) => {
    const d = i.imageDigest?.(r);
    const ref = i.imageReference?.(r);
    return {
      name: r.gadget.name,
      ok: r.ok,
      status: r.status,
      ms: Math.round(i.recorder.ms(r.gadget.name)),
      ...i.recorder.counts(r.gadget.name),
      ...(d ? { digest: d } : {}),
      ...(ref ? { reference: ref } : {}),
      ...(r.ok ? {} : { error: errorText(r.error) }),
      steps: i.recorder.stepsOf(r.gadget.name),
      results: r.results,
    };
  });
  const out: Record<string, unknown> = {
    ok: i.error === undefined && results.length > 0 && results.every((r) => r.ok),
    tasks: i.tasks,
  };
  if (i.error !== undefined) {
    const e = i.error;
    out.error = { message: errorText(e), ...(isGadgetError(e) && e.code ? { code: e.code } : {}), ...(isGadgetError(e) && e.hint ? { hint: e.hint } : {}) };
  }
  out.cache = {
    localHits: gadgets.reduce((n, g) => n + g.localHits, 0),
    remoteHits: gadgets.reduce((n, g) => n + g.remoteHits, 0),
    misses: gadgets.reduce((n, g) => n + g.misses, 0),
  };
  out.gadgets = gadgets;
  out.publish = i.project ? publishSummary(i.project, results, i.recorder) : [];
  return out;
}

/** One entry per publish target step: each gadget's result, or one result when all are the same (a shared tar). */
function publishSummary(p: Project, results: GadgetRunResult[], rec: RunRecorder): unknown[] {
  const out: unknown[] = [];
  p.steps.forEach((s, index) => {
    if (!s.publish) return;
    const type = typeof s.spec === "string" ? s.spec : s.spec.stage;
    const per = results
      .map((r) => ({ name: r.gadget.name, result: rec.stepResults.get(r.gadget.name)?.get(index) }))
      .filter((x): x is { name: string; result: Record<string, unknown> } => x.result !== undefined);
    const same = per.length > 1 && per.every((x) => JSON.stringify(x.result) === JSON.stringify(per[0]!.result));
    if (same) out.push({ type, step: index, gadgets: per.map((x) => x.name), result: per[0]!.result });
    else out.push({ type, step: index, gadgets: per.map((x) => ({ name: x.name, ...x.result })) });
  });
  return out;
}
