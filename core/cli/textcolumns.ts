/**
 * The table layout of ig's `image list` (pkg/columns/formatter/textcolumns): columns joined by one
 * space. Without truncation (output not a terminal, or --no-trunc) every cell is printed as it is,
 * with no padding. With truncation each cell is cut to its column's width with a trailing `…`
 * (ellipsis.End) and padded with spaces to that width, the last column included; the widths come
 * from the terminal's width (scaler.go RecalculateWidths): fixed columns keep theirs, the others
 * share the rest in proportion to their default width (16), floored, and the leftover characters go
 * one by one to the non-fixed columns from the left. With no usable terminal width the default
 * widths stay.
 */
export interface TextColumn {
  name: string;
  /** Default width (ig's columns: 16 unless the column says otherwise). */
  width?: number;
  /** `fixed` in ig's column tag: never rescaled. */
  fixed?: boolean;
}

export interface TableOptions {
  /** Cut and pad cells to the column widths (ig: WithShouldTruncate). */
  truncate: boolean;
  /** Terminal width; 0 or undefined keeps the default widths. */
  terminalWidth?: number;
}

const DEFAULT_WIDTH = 16;
const ELLIPSIS = "…";

/** ellipsis.Shorten with ellipsis.End, on code points. */
export function shortenEnd(s: string, max: number): string {
  if (max <= 0) return "";
  const cps = Array.from(s);
  if (cps.length <= max) return s;
  if (max <= 1) return ELLIPSIS;
  return cps.slice(0, max - 1).join("") + ELLIPSIS;
}

/** scaler.go RecalculateWidths(maxWidth, force=false), for columns without min/max widths. */
export function scaleWidths(columns: TextColumn[], maxWidth: number): number[] {
  const widths = columns.map((c) => c.width ?? DEFAULT_WIDTH);
  if (columns.length === 0) return widths;
  const divider = columns.length - 1;
  let required = divider;
  let fixedTotal = divider;
  let notFixedTotal = 0;
  columns.forEach((c, i) => {
    if (c.fixed) {
      required += widths[i]!;
      fixedTotal += widths[i]!;
    } else {
      notFixedTotal += widths[i]!;
      required += 1;
    }
  });
  const max = Math.max(maxWidth, required);
  const out = widths.slice();
  let adjusted = 0;
  columns.forEach((c, i) => {
    if (c.fixed) return;
    out[i] = Math.floor((widths[i]! / notFixedTotal) * (max - fixedTotal));
    adjusted += out[i]!;
  });
  let leftover = max - (adjusted + fixedTotal);
  while (leftover > 0) {
    let spent = false;
    for (let i = 0; i < columns.length && leftover > 0; i++) {
      if (columns[i]!.fixed) continue;
      out[i]!++;
      leftover--;
      spent = true;
    }
    if (!spent) break;
  }
  return out;
}

/** Header (upper-cased names) and one line per row, each ending in "\n". */
export function formatTable(columns: TextColumn[], rows: string[][], opts: TableOptions): string {
  const widths = opts.truncate && opts.terminalWidth ? scaleWidths(columns, opts.terminalWidth) : columns.map((c) => c.width ?? DEFAULT_WIDTH);
  const cell = (s: string, i: number): string => {
    const w = widths[i]!;
    if (w <= 0) return "";
    if (!opts.truncate) return s;
    const short = shortenEnd(s, w);
    return short + " ".repeat(Math.max(0, w - Array.from(short).length));
  };
  const line = (cells: string[]) => cells.map(cell).join(" ") + "\n";
  return line(columns.map((c) => c.name.toUpperCase())) + rows.map(line).join("");
}

/**
 * docker/go-units HumanDuration (duration.go), the CREATED wording of `ig image list` on a terminal,
 * which ig lower-cases and follows with " ago" (cmd/common/image/list.go).
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** ig's CREATED cell on a terminal: `<humanDuration lower-cased> ago`, "" when not RFC 3339. */
export function createdAgo(created: string, now: Date = new Date()): string {
  if (!RFC3339.test(created)) return "";
  const t = Date.parse(created);
  if (Number.isNaN(t)) return "";
  return `${humanDuration(now.getTime() - t).toLowerCase()} ago`;
}
