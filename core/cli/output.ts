/** Shared output helpers: error lines (DESIGN §2), JSON. */
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

export function toJson(value: unknown, pretty: boolean): string {
  return pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
}
