/** --concurrency: a whole number from 1 to 64; NaN when it is not one, undefined when not given. */
export function parseConcurrency(v: string | number | undefined): number | undefined {
  if (v === undefined || v === "") return undefined;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) return NaN;
  return n;
}
