/**
 * A one-line progress display for archive transfers (bytes, percentage, rate) on a TTY stderr.
 * Redrawn at most ten times a second and erased when the transfer ends, so the result lines on
 * stdout stay clean. Never used when stderr is not a terminal (DESIGN §2).
 */
import type { Writable } from "node:stream";

export interface ProgressLike {
  bytes: number;
  total?: number;
  entry?: string;
  done?: boolean;
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
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
