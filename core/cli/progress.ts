/**
 * Transfer progress on a terminal (stderr only, only on a TTY): one line per finished blob and a
 * live status line with blob count, bytes and rate. Never used for --json or non-TTY output.
 */
import type { Writable } from "node:stream";
import type { ProgressEvent } from "../registry/progress-events.js";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function short(d: string): string {
  return d.slice(d.indexOf(":") + 1, d.indexOf(":") + 13);
}

export interface ProgressDisplay {
  onProgress: (e: unknown) => void;
  finish(): void;
}

export function createProgress(stream: Writable, verb: string): ProgressDisplay {
  const started = Date.now();
  const active = new Map<string, { size: number; bytes: number }>();
  let doneBlobs = 0;
  let totalBytes = 0;
  let lastDraw = 0;
  let drawn = false;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    let inflight = 0;
    for (const a of active.values()) inflight += a.bytes;
    const bytes = totalBytes + inflight;
    const secs = Math.max(0.001, (now - started) / 1000);
    const parts = [...active.entries()].slice(0, 3).map(([d, a]) => `${short(d)} ${a.size ? Math.floor((a.bytes / a.size) * 100) : 100}%`);
    stream.write(`\r\x1b[2K${verb} ${doneBlobs} done, ${active.size} active ${parts.length ? `[${parts.join(", ")}] ` : ""}${formatBytes(bytes)} ${formatBytes(bytes / secs)}/s`);
    drawn = true;
  };
  const line = (s: string) => {
    stream.write(`\r\x1b[2K${s}\n`);
    draw(true);
  };
  return {
    onProgress(raw: unknown) {
      const e = raw as ProgressEvent;
      switch (e.type) {
        case "start":
          active.set(e.digest, { size: e.size, bytes: 0 });
          draw();
          break;
        case "bytes": {
          // only transfers that started (manifests read while walking the graph are not shown)
          const a = active.get(e.digest);
          if (a) {
            a.bytes = e.bytes;
            draw();
          }
          break;
        }
        case "done":
          active.delete(e.digest);
          doneBlobs++;
          totalBytes += e.size;
          line(`${short(e.digest)}: done (${formatBytes(e.size)})`);
          break;
        case "skip":
          line(`${short(e.digest)}: already exists`);
          break;
        case "mount":
          active.delete(e.digest);
          line(`${short(e.digest)}: mounted from ${e.from}`);
          break;
      }
    },
    finish() {
      if (drawn) stream.write("\r\x1b[2K");
    },
  };
}

// ---- archive transfers (export, import): one line with bytes, percentage and rate ---------------
// Redrawn at most ten times a second and erased when the transfer ends, so the result lines on
// stdout stay clean.

export interface ProgressLike {
  bytes: number;
  total?: number;
  entry?: string;
  done?: boolean;
}

export function progressLine(verb: string, e: ProgressLike, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (e.bytes * 1000) / elapsedMs : 0;
  const amount = e.total ? `${formatBytes(e.bytes)} / ${formatBytes(e.total)} (${Math.min(100, Math.floor((e.bytes * 100) / Math.max(1, e.total)))}%)` : formatBytes(e.bytes);
  return `${verb} ${amount}  ${formatBytes(rate)}/s`;
}

/** Returns an onProgress callback and a stop() that erases the line. */
export function ttyProgress(stderr: Writable, verb: string, now: () => number = Date.now): { onProgress: (e: unknown) => void; stop: () => void } {
  const start = now();
  let last = 0;
  let drawn = false;
  const onProgress = (raw: unknown) => {
    const e = raw as ProgressLike;
    const t = now();
    if (!e.done && t - last < 100) return;
    last = t;
    stderr.write(`\r\x1b[K${progressLine(verb, e, t - start)}`);
    drawn = true;
  };
  const stop = () => {
    if (drawn) stderr.write("\r\x1b[K");
    drawn = false;
  };
  return { onProgress, stop };
}
