/** Durations as users write them on the command line and in a gadgetfile: "90", "90s", "500ms", "2m", "1h", "7d". */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds (a bare number is seconds); undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? "s"]!;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}
