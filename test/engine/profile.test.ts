/**
 * `gadget run --profile FILE` (issue 22): Chrome trace-event JSON — checked against the trace
 * event format's rules for the events it uses (complete "X" events with ts/dur in microseconds,
 * metadata "M" events naming the process and the lanes) — with one span per step, per gadget,
 * per arch, and the time a step waited for a --jobs slot nested inside its span.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { copyFixture, requireTool, type Repo } from "./helpers.js";

interface Ev {
  name: unknown;
  ph: unknown;
  ts: unknown;
  dur?: unknown;
  pid: unknown;
  tid: unknown;
  cat?: unknown;
  args?: Record<string, unknown>;
}

/** The trace event format's rules for what --profile writes; returns the problems found. */
function traceProblems(doc: unknown): string[] {
  const p: string[] = [];
  if (typeof doc !== "object" || doc === null || !Array.isArray((doc as { traceEvents?: unknown }).traceEvents)) return ["not an object with a traceEvents array"];
  const unit = (doc as { displayTimeUnit?: unknown }).displayTimeUnit;
  if (unit !== undefined && unit !== "ms" && unit !== "ns") p.push(`displayTimeUnit ${String(unit)}`);
  (doc as { traceEvents: Ev[] }).traceEvents.forEach((e, i) => {
    const at = `traceEvents[${i}]`;
    if (typeof e.name !== "string" || e.name === "") p.push(`${at}.name`);
    if (!["X", "M"].includes(e.ph as string)) p.push(`${at}.ph ${String(e.ph)}`);
    if (typeof e.ts !== "number" || !Number.isFinite(e.ts) || e.ts < 0) p.push(`${at}.ts`);
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) p.push(`${at}.pid/tid`);
    if (e.cat !== undefined && typeof e.cat !== "string") p.push(`${at}.cat`);
    if (e.ph === "X" && (typeof e.dur !== "number" || e.dur < 0)) p.push(`${at}.dur`);
    if (e.ph === "M") {
      if (!["process_name", "thread_name", "thread_sort_index"].includes(e.name as string)) p.push(`${at}: unknown metadata ${String(e.name)}`);
      if (e.name !== "thread_sort_index" && typeof e.args?.name !== "string") p.push(`${at}.args.name`);
    }
  });
  return p;
}

describe("gadget run --profile", () => {
  let repo: Repo;
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("repo3");
  });
  afterAll(async () => repo?.cleanup());

  it("a cold build with --jobs 1: valid trace JSON, a span per step per gadget per arch, queue time nested", async () => {
    const r = await repo.run(["run", "--jobs", "1", "--profile", "trace.json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(await readFile(join(repo.dir, "trace.json"), "utf8")) as { traceEvents: (Ev & { ts: number; dur: number; tid: number; args: Record<string, unknown> })[] };
    expect(traceProblems(doc)).toEqual([]);
    const lanes = new Map(doc.traceEvents.filter((e) => e.name === "thread_name").map((e) => [e.tid, e.args.name]));
    const steps = doc.traceEvents.filter((e) => e.ph === "X" && (e.cat === "step" || e.cat === "publish"));
    const gadgets = ["exec_count", "open_count", "tcp_count"];
    const expected = gadgets.flatMap((g) => ["clang@amd64", "clang@arm64", "strip@amd64", "strip@arm64", "wasm", "oci-pack", "store-tag"].map((s) => `${g} ${s}`));
    expect(steps.map((e) => `${e.args.gadget} ${e.name}`).sort()).toEqual(expected.sort());
    for (const e of steps) {
      // its lane is its gadget (and arch)
      expect(lanes.get(e.tid)).toBe(e.args.arch ? `${e.args.gadget} ${e.args.arch}` : e.args.gadget);
      expect(e.args.cache).toBe(e.cat === "step" ? "miss" : "not cached");
    }
    // one slot for 21 steps: some waited, and each wait lies inside its step's span, on its lane
    const queued = doc.traceEvents.filter((e) => e.cat === "queue");
    expect(queued.length).toBeGreaterThan(0);
    for (const q of queued) {
      const owner = steps.find((s) => s.tid === q.tid && s.ts <= q.ts && q.ts + q.dur <= s.ts + s.dur);
      expect(owner, `queue event at ${q.ts} on lane ${q.tid}`).toBeDefined();
      expect(owner!.args.queuedMs as number).toBeCloseTo(q.dur / 1000, 0);
    }
    // --jobs 1: no two step spans' working parts overlap in time (minus their queue time)
    const work = steps
      .map((s) => {
        const q = queued.find((x) => x.tid === s.tid && x.ts >= s.ts && x.ts + x.dur <= s.ts + s.dur);
        return q ? [q.ts + q.dur, s.ts + s.dur] : [s.ts, s.ts + s.dur];
      })
      .filter(([a, b]) => b! - a! > 2000) // lookups take no slot; compare the steps that ran
      .sort((a, b) => a[0]! - b[0]!);
    for (let i = 1; i < work.length; i++) expect(work[i]![0]!).toBeGreaterThanOrEqual(work[i - 1]![1]! - 1000);
  });

  it("a second run: every cached step is a hit in the trace", async () => {
    const r = await repo.run(["run", "--profile", "trace2.json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(await readFile(join(repo.dir, "trace2.json"), "utf8")) as { traceEvents: (Ev & { args: Record<string, unknown> })[] };
    expect(traceProblems(doc)).toEqual([]);
    const cached = doc.traceEvents.filter((e) => e.cat === "step");
    expect(cached).toHaveLength(18);
    expect(new Set(cached.map((e) => e.args.cache))).toEqual(new Set(["hit"]));
  });
});
