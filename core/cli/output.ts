/** Shared output helpers: error lines (DESIGN §2), aligned columns, relative times, JSON. */
import { GadgetError, isGadgetError, withoutSecrets } from "../errors.js";

/** `Error: <what> (<which>): <why>` + optional `hint:` line; stack only when verbose. */
export function formatError(e: unknown, verbose: boolean): string {
  const lines: string[] = [];
  if (isGadgetError(e)) {
    lines.push(`Error: ${e.message}`);
    if (e.hint) lines.push(`hint: ${e.hint}`);
  } else {
    const err = e as Error;
    lines.push(`Error: ${withoutSecrets((err?.message ?? String(e)).split("\n")[0]!)}`);
  }
  if (verbose && e instanceof Error && e.stack) lines.push(e.stack);
  return lines.join("\n");
}

export function exitCodeOf(e: unknown): number {
  return e instanceof GadgetError ? e.exitCode : 1;
}

/** Left-aligned columns separated by at least two spaces (trailing spaces trimmed). */
export function formatColumns(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 2)))
      .join("")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** "N minutes ago" style, as ig (go-humanize) prints CREATED on a terminal. */
export function timeAgo(then: Date, now: Date = new Date()): string {
  const s = Math.round((now.getTime() - then.getTime()) / 1000);
  if (Number.isNaN(s)) return "";
  if (s < 0) return "from now";
  const units: [number, string][] = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [7, "day"],
    [4.35, "week"],
    [12, "month"],
    [Number.POSITIVE_INFINITY, "year"],
  ];
  if (s < 1) return "now";
  let v = s;
  for (const [div, name] of units) {
    if (v < div) {
      const n = Math.floor(v);
      return `${n} ${name}${n === 1 ? "" : "s"} ago`;
    }
    v /= div;
  }
  return "";
}

export function toJson(value: unknown, pretty: boolean): string {
  return pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}
