/**
 * How long a registry may take: an overall deadline for the whole operation (a pull, a push, a
 * login's check) and an idle timeout per request (no byte for that long fails the request; it
 * is retried like any network error, within the deadline). `--timeout DURATION` or
 * GADGET_REGISTRY_TIMEOUT set the deadline (default 10m; 0 = none); the idle timeout is 30 s, or
 * the deadline when that is shorter. A registry trickling a byte at a time thus ends at the
 * deadline instead of holding the store's writer lock for ever.
 */
import { parseDuration } from "../duration.js";
import { GadgetError } from "../errors.js";

export interface RegistryTimeouts {
  /** The whole operation, from the client's creation (0 = no deadline). */
  deadlineMs: number;
  /** Longest wait for the headers or the next body bytes of one request. */
  idleMs: number;
}

export const DEFAULT_DEADLINE_MS = 10 * 60_000;
export const DEFAULT_IDLE_MS = 30_000;
export const TIMEOUT_ENV = "GADGET_REGISTRY_TIMEOUT";

export { parseDuration };

/** The timeouts from the --timeout flag, else GADGET_REGISTRY_TIMEOUT, else the defaults. */
export function registryTimeouts(flag: string | undefined, env: NodeJS.ProcessEnv | Readonly<Record<string, string | undefined>>): RegistryTimeouts {
  const fromEnv = env[TIMEOUT_ENV];
  const [text, which] = flag !== undefined ? [flag, "--timeout"] : fromEnv !== undefined && fromEnv !== "" ? [fromEnv, TIMEOUT_ENV] : [undefined, ""];
  let deadlineMs = DEFAULT_DEADLINE_MS;
  if (text !== undefined) {
    const ms = parseDuration(text);
    if (ms === undefined) {
      throw new GadgetError({ what: "invalid usage", which, why: `${JSON.stringify(text)} is not a duration: expected e.g. 90s, 5m or 1h (0 = no deadline)`, exitCode: 2, code: "USAGE" });
    }
    deadlineMs = ms;
  }
  return { deadlineMs, idleMs: deadlineMs > 0 ? Math.min(DEFAULT_IDLE_MS, deadlineMs) : DEFAULT_IDLE_MS };
}

/** "2 s", "10 min" — for messages. */
export function describeDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

export function deadlineError(registry: string, deadlineMs: number): GadgetError {
  return new GadgetError({
    what: "registry too slow",
    which: registry,
    why: `the ${describeDuration(deadlineMs)} deadline passed before the operation finished`,
    hint: `allow more time with --timeout DURATION or ${TIMEOUT_ENV} (e.g. 30m; 0 = no deadline)`,
    code: "DEADLINE",
  });
}
