/**
 * Errors as data (DESIGN §2): every failure the CLI reports is a GadgetError with
 * `what` failed, `which` file/field/reference, `why`, and an optional `hint`.
 * The CLI prints `Error: <what> (<which>): <why>` plus `hint: …` — one line each.
 */
export interface ErrorLocation {
  file: string;
  line?: number;
  column?: number;
  lineText?: string;
}

export interface GadgetErrorInit {
  what: string;
  which?: string;
  why?: string;
  hint?: string;
  /** 1 = failure (default), 2 = usage error */
  exitCode?: 1 | 2;
  location?: ErrorLocation;
  cause?: unknown;
  /** Machine-readable code, e.g. "NOT_FOUND", "DIGEST_MISMATCH", "USAGE". */
  code?: string;
}

export class GadgetError extends Error {
  readonly what: string;
  readonly which: string | undefined;
  readonly why: string | undefined;
  readonly hint: string | undefined;
  readonly exitCode: 1 | 2;
  readonly location: ErrorLocation | undefined;
  readonly code: string | undefined;

  constructor(init: GadgetErrorInit) {
    super(formatMessage(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "GadgetError";
    this.what = init.what;
    this.which = init.which;
    this.why = init.why;
    this.hint = init.hint;
    this.exitCode = init.exitCode ?? 1;
    this.location = init.location;
    this.code = init.code;
  }
}

function formatMessage(init: GadgetErrorInit): string {
  let s = init.what;
  if (init.which) s += ` (${init.which})`;
  if (init.why) s += `: ${init.why}`;
  return s.replace(/\s*\n\s*/g, " ");
}

export function usageError(why: string, hint?: string): GadgetError {
  return new GadgetError({ what: "invalid usage", why, hint, exitCode: 2, code: "USAGE" });
}

export function isGadgetError(e: unknown): e is GadgetError {
  return e instanceof GadgetError;
}

/** Node's system errors (ENOENT, EACCES, ENOSPC…) → a short reason. */
export function describeSystemError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOSPC":
      return "no space left on device (ENOSPC)";
    case "EROFS":
      return "read-only file system";
    case "ENOTDIR":
      return "not a directory";
    case "EISDIR":
      return "is a directory";
    case "EDQUOT":
      return "disk quota exceeded";
    default:
      return err?.message ?? String(e);
  }
}
