/**
 * `gadget run --profile FILE`: the run as Chrome trace-event JSON (the "JSON Object Format" that
 * Perfetto and chrome://tracing open). One lane (thread) per gadget and architecture; on it, one
 * complete event ("ph": "X") per step, from the moment the step started (cache lookup included)
 * to its end, with a nested "queued" event for the time it waited for a --jobs slot. Times are
 * microseconds since the process started. Pure: events in, JSON out.
 */
import type { StepEvent } from "../engine/run-graph.js";

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: "X" | "M" | "i";
  /** Microseconds. */
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: "g" | "p" | "t";
  args?: Record<string, unknown>;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
  otherData: Record<string, string>;
}

const PID = 1;
const us = (ms: number) => Math.round(ms * 1000);

export class TraceProfile {
  private readonly events: TraceEvent[] = [];
  private readonly lanes = new Map<string, number>();
  private readonly cacheOf = new Map<string, "hit" | "miss">();
  private first = Infinity;
  private last = 0;

  constructor(private readonly meta: Record<string, string> = {}) {}

  private lane(gadget: string, arch: string | undefined): number {
    const name = arch ? `${gadget} ${arch}` : gadget;
    let tid = this.lanes.get(name);
    if (tid === undefined) {
      tid = this.lanes.size + 1;
      this.lanes.set(name, tid);
    }
    return tid;
  }

  onEvent(e: StepEvent): void {
    const id = `${e.gadget}\0${e.step}\0${e.arch ?? ""}`;
    if (e.type === "hit" || e.type === "miss") this.cacheOf.set(id, e.type);
    if ((e.type !== "done" && e.type !== "fail") || !e.spans || e.spans.length === 0) return;
    const start = e.spans[0]![0];
    const end = e.spans[e.spans.length - 1]![1];
    this.first = Math.min(this.first, start);
    this.last = Math.max(this.last, end);
    const tid = this.lane(e.gadget, e.arch);
    const queuedMs = e.spans.length > 1 ? e.spans[1]![0] - e.spans[0]![1] : 0;
    this.events.push({
      name: `${e.stage}${e.arch ? `@${e.arch}` : ""}`,
      cat: e.cacheable ? "step" : "publish",
      ph: "X",
      ts: us(start),
      dur: us(end - start),
      pid: PID,
      tid,
      args: {
        gadget: e.gadget,
        stage: e.stage,
        ...(e.arch ? { arch: e.arch } : {}),
        cache: this.cacheOf.get(id) ?? (e.cacheable ? "-" : "not cached"),
        status: e.type === "fail" ? "failed" : "ok",
        ownMs: Math.round((e.ms ?? 0) * 10) / 10,
        queuedMs: Math.round(queuedMs * 10) / 10,
      },
    });
    if (e.spans.length > 1) {
      this.events.push({ name: "queued (waiting for a --jobs slot)", cat: "queue", ph: "X", ts: us(e.spans[0]![1]), dur: us(queuedMs), pid: PID, tid });
    }
  }

  toJson(): TraceFile {
    const meta: TraceEvent[] = [{ name: "process_name", ph: "M", ts: 0, pid: PID, tid: 0, args: { name: "gadget run" } }];
    for (const [name, tid] of this.lanes) {
      meta.push({ name: "thread_name", ph: "M", ts: 0, pid: PID, tid, args: { name } });
      meta.push({ name: "thread_sort_index", ph: "M", ts: 0, pid: PID, tid, args: { sort_index: tid } });
    }
    const span: TraceEvent[] = Number.isFinite(this.first) ? [{ name: "steps", cat: "run", ph: "X", ts: us(this.first), dur: us(this.last - this.first), pid: PID, tid: 0 }] : [];
    meta.push({ name: "thread_name", ph: "M", ts: 0, pid: PID, tid: 0, args: { name: "run" } });
    return { traceEvents: [...meta, ...span, ...this.events], displayTimeUnit: "ms", otherData: { ...this.meta } };
  }
}
