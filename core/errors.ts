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
    // a user:password@ written into an address or reference is never echoed back
    const what = withoutUserinfo(init.what);
    const which = init.which === undefined ? undefined : withoutUserinfo(init.which);
    const why = init.why === undefined ? undefined : withoutUserinfo(init.why);
    super(formatMessage({ what, which, why }), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "GadgetError";
    this.what = what;
    this.which = which;
    this.why = why;
    this.hint = init.hint === undefined ? undefined : withoutUserinfo(init.hint);
    this.exitCode = init.exitCode ?? 1;
    this.location = init.location;
    this.code = init.code;
  }
}

/** `scheme://user:password@` (the password may contain `@`; the host part ends at / ? # or space). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>]*@/gi;
/** `user:password@host…` at the start of a word (a reference without a scheme); `name:tag@sha256:…` is a digest, not userinfo. */
const BARE_USERINFO = /(^|[\s"'(=,[])[^\s"'(/@:,[]+:[^\s"'/]*@(?!sha\d+:)/g;

/**
 * Text with every user name and password written into an address removed
 * (`https://alice:pw@host/x` → `https://host/x`, `alice:pw@host/x:v1` → `host/x:v1`). The one
 * helper for every echoed reference: GadgetError applies it to what it prints.
 */
export function withoutUserinfo(text: string): string {
  if (!text.includes("@")) return text;
  return text.replace(URL_USERINFO, "$1").replace(BARE_USERINFO, "$1");
}

function formatMessage(init: Pick<GadgetErrorInit, "what" | "which" | "why">): string {
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
