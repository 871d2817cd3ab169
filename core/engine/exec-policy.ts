/**
 * When a `--exec` instance is (re)started (issue 21), as a pure function of what ran before and
 * what was just built. A build is the only trigger: an instance that exits by itself is never
 * restarted for exiting, so nothing restarts in a loop. On top of that, an instance that keeps
 * failing right after it starts is held until its image or command changes — rebuilds that
 * produce the same image (a save that changes nothing, a reloaded gadgetfile) do not start it again.
 */

/** An instance that exits non-zero (or on a signal) this soon after starting counts as a quick failure. */
export const QUICK_EXIT_MS = 1000;
/** This many quick failures in a row make a crash loop. */
export const CRASH_LOOP_LIMIT = 3;

/** What the policy knows about one (gadget, command) slot. */
export interface SlotHistory {
  /** The argv and digest of the last instance started. */
  argv: readonly string[];
  digest: string;
  running: boolean;
  /** Quick failures in a row (reset by an instance that lives or exits 0). */
  quickFailures: number;
}

export type ExecDecision =
  /** Nothing ran yet, or the last instance exited: start one. */
  | { action: "start" }
  /** Stop the running instance, then start the new one. */
  | { action: "restart" }
  /** The running instance is already this image and command. */
  | { action: "keep" }
  /** The build failed: the running instance (if any) stays. */
  | { action: "keep-failed"; running: boolean }
  /** A crash loop on the same image and command: not started until one of them changes. */
  | { action: "hold"; quickFailures: number };

export function decideExec(prev: SlotHistory | undefined, next: { ok: false } | { ok: true; argv: readonly string[]; digest: string }): ExecDecision {
  if (!next.ok) return { action: "keep-failed", running: prev?.running ?? false };
  if (!prev) return { action: "start" };
  const same = prev.digest === next.digest && sameArgv(prev.argv, next.argv);
  if (prev.running) return same ? { action: "keep" } : { action: "restart" };
  if (same && prev.quickFailures >= CRASH_LOOP_LIMIT) return { action: "hold", quickFailures: prev.quickFailures };
  return { action: "start" };
}

/** The quick-failure count after an instance ended by itself. */
export function afterExit(quickFailures: number, exit: { code: number | null; signal: string | null; uptimeMs: number }): number {
  const failed = exit.signal !== null || exit.code !== 0;
  return failed && exit.uptimeMs < QUICK_EXIT_MS ? quickFailures + 1 : 0;
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
