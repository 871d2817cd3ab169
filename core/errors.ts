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

/**
 * Every machine-readable error code gadget sets (`GadgetError.code`): tests and callers branch
 * on these, never on message text.
 */
export type ErrorCode =
  // usage and input
  | "USAGE"
  | "INVALID_REFERENCE"
  | "NOT_FOUND"
  | "EXISTS"
  | "TOO_LARGE"
  | "TOO_DEEP"
  | "CYCLE"
  | "INVALID_CONTENT"
  | "DIGEST_MISMATCH"
  | "SIZE_MISMATCH"
  | "ABORTED"
  | "EPIPE"
  | "STORE"
  | "UNSAFE_TEMP_DIR"
  | "INVALID_ARCHIVE"
  | "GZIP_BOMB"
  | "MISSING_BLOB"
  | "WRITE_FAILED"
  | SystemErrorCode
  // gadgetfile, stages, tools
  | "GADGETFILE_INVALID"
  | "GADGETFILE_SYNTAX"
  | "GADGETFILE_THROWS"
  | "UNKNOWN_TASK"
  | "TASK_CYCLE"
  | "UNKNOWN_STAGE"
  | "STAGE_OPTIONS"
  | "STAGE_RESULT"
  /** A gadget that built but was not published because another gadget failed (all or nothing). */
  | "NOT_PUBLISHED"
  /** A gadget left unfinished by --fail-fast after another gadget failed. */
  | "STOPPED"
  | "PLUGIN_NOT_FOUND"
  | "PLUGIN_INVALID"
  | "TOOL_NOT_FOUND"
  | "TOOL_TOO_OLD"
  | "TOOL_FAILED"
  | "HEADERS_NOT_FOUND"
  // gadget contents
  | "BAD_BUILD_FILE"
  | "BAD_METADATA"
  | "BAD_ELF"
  | "BAD_BTF"
  | "NO_BTF"
  | "BAD_WASM"
  | "UNRESOLVED_SYMBOL"
  | "UNSAFE_CFLAGS"
  /** A bug in gadget's BPF object reader (reported as a reading error, never as a raw exception). */
  | "BPF_READER_INTERNAL"
  // gadget check
  | "NO_EBPF"
  | "BAD_KERNEL"
  | "NO_LOADER"
  | "VM_TIMEOUT"
  | "VERIFIER_REFUSED"
  | "VM_FAILED"
  | "TYPE_ERRORS"
  // registries and credentials
  | "NETWORK"
  | "TLS"
  | "PROTOCOL"
  | "UNAUTHORIZED"
  | "DENIED"
  | "AUTH"
  | "AUTH_CONFIG"
  | "AUTH_HELPER"
  | "NOT_LOGGED_IN"
  | "CERT_DIR"
  | "PLAIN_HTTP_TO_HTTPS"
  | "DOWNGRADE"
  | "DEADLINE"
  // signing
  | "BAD_KEY"
  | "UNREADABLE_KEY"
  | "UNSUPPORTED_KEY"
  | "WRONG_KEY_TYPE"
  | "PASSWORD_REQUIRED"
  | "BAD_PASSWORD"
  | "NOT_VERIFIED"
  | "BAD_SIGNATURE"
  | "NO_SIGNATURE"
  | "NOT_SIGNED_BY_KEYS"
  // an HTTP status a registry answered with and nothing more specific describes
  | `HTTP_${number}`;

/** The system errors that are passed on as codes (a full disk, a read-only store…). */
export type SystemErrorCode = "ENOSPC" | "EDQUOT" | "EROFS" | "EACCES" | "EPERM" | "ENOENT" | "EIO" | "EISDIR" | "ENOTDIR";
const SYSTEM_CODES: ReadonlySet<string> = new Set<SystemErrorCode>(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "ENOENT", "EIO", "EISDIR", "ENOTDIR"]);

/** A Node system error's code when it is one gadget passes on, else undefined. */
export function systemErrorCode(e: unknown): SystemErrorCode | undefined {
  const c = (e as NodeJS.ErrnoException | null)?.code;
  return typeof c === "string" && SYSTEM_CODES.has(c) ? (c as SystemErrorCode) : undefined;
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
  /** Machine-readable details for callers (e.g. the verifier's results of a refused gadget). */
  data?: unknown;
  /** Machine-readable code, e.g. "NOT_FOUND", "DIGEST_MISMATCH", "USAGE". */
  code?: ErrorCode;
}

export class GadgetError extends Error {
  readonly what: string;
  readonly which: string | undefined;
  readonly why: string | undefined;
  readonly hint: string | undefined;
  readonly exitCode: 1 | 2;
  readonly location: ErrorLocation | undefined;
  readonly data: unknown;
  readonly code: ErrorCode | undefined;

  constructor(init: GadgetErrorInit) {
    // a user:password@ written into an address or reference, or a private key passed where a
    // file name belongs, is never echoed back
    const what = withoutSecrets(init.what);
    const which = init.which === undefined ? undefined : withoutSecrets(init.which);
    const why = init.why === undefined ? undefined : withoutSecrets(init.why);
    super(formatMessage({ what, which, why, location: init.location }), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "GadgetError";
    this.what = what;
    this.which = which;
    this.why = why;
    this.hint = init.hint === undefined ? undefined : withoutSecrets(init.hint);
    this.exitCode = init.exitCode ?? 1;
    this.location = init.location;
    this.data = init.data;
    this.code = init.code;
  }
}

/** `file:line:column` (as much as is known). */
export function formatLocation(loc: ErrorLocation): string {
  return `${loc.file}${loc.line ? `:${loc.line}${loc.column ? `:${loc.column}` : ""}` : ""}`;
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

/** A PEM private key block (or what is left of one, cut short or with its line breaks flattened). */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;

/** Text with private key material replaced by `<private key>`. */
export function withoutKeyMaterial(text: string): string {
  if (!text.includes("PRIVATE KEY-----")) return text;
  return text.replace(PRIVATE_KEY_PEM, "<private key>");
}

/** Text with userinfo and private key material removed: what every echoed value goes through. */
export function withoutSecrets(text: string): string {
  return withoutKeyMaterial(withoutUserinfo(text));
}

function formatMessage(init: Pick<GadgetErrorInit, "what" | "which" | "why" | "location">): string {
  let s = init.what;
  // `which` names the file/field/reference; without one, the location is the "which".
  const which = init.which ?? (init.location ? formatLocation(init.location) : undefined);
  if (which) s += ` (${which})`;
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

// ---- tool failures ---------------------------------------------------------------------------

/** What a finished process produced (the shape of zx's ProcessOutput). */
interface ToolOutput {
  command: string;
  args: string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Human text for an exit status, in one place. */
export function describeExit(exitCode: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`;
  if (exitCode === 127) return "exit status 127 (command not found)";
  if (exitCode === 126) return "exit status 126 (not executable)";
  return `exit status ${exitCode}`;
}

/** The hint for exit statuses that mean the tool itself could not run. */
function exitHint(exitCode: number | null): string | undefined {
  if (exitCode === 127) return "the tool or a program it runs is not installed: run scripts/bootstrap";
  if (exitCode === 126) return "the tool is not executable: check its permissions";
  return undefined;
}

/**
 * The first `file:line:col` diagnostic in a tool's stderr (clang/gcc `error:`, Go's
 * `./x.go:3:5: …`): where the problem is, as data (`GadgetError.location`).
 */
export function firstDiagnostic(stderr: string): ErrorLocation | undefined {
  const re = /^([^\s:][^:\n]*):(\d+):(\d+): (?:fatal error|error)?/gm;
  let fallback: ErrorLocation | undefined;
  for (let m = re.exec(stderr); m; m = re.exec(stderr)) {
    const loc: ErrorLocation = { file: m[1]!, line: Number(m[2]), column: Number(m[3]) };
    const lineEnd = stderr.indexOf("\n", m.index);
    const text = stderr.slice(m.index, lineEnd < 0 ? undefined : lineEnd);
    if (/: (fatal error|error):/.test(text)) return { ...loc, lineText: text };
    fallback ??= { ...loc, lineText: text };
  }
  return fallback;
}

/**
 * A failed tool run. It is a GadgetError (the CLI exits 1 and prints the message: the one-line
 * summary `<what> (<tool>): exit status N`, then the tool's stderr verbatim — clang's
 * diagnostics appear once, unmangled); the ProcessOutput is `output` (its `exitCode` is the
 * tool's status — GadgetError's own `exitCode` is the CLI's), with command/args/stdout/stderr/
 * signal mirrored, and the first diagnostic as `location`.
 */
export class ToolError extends GadgetError {
  readonly output: ToolOutput;
  readonly command: string;
  readonly args: string[];
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;

  constructor(out: ToolOutput, opts: { what?: string; hint?: string | ((out: ToolOutput) => string | undefined) } = {}) {
    const tool = out.command.slice(out.command.lastIndexOf("/") + 1);
    const what = opts.what ?? `${tool} failed`;
    const why = describeExit(out.exitCode, out.signal);
    const location = firstDiagnostic(out.stderr);
    const hint = (typeof opts.hint === "function" ? opts.hint(out) : opts.hint) ?? exitHint(out.exitCode);
    super({ what, which: tool, why, hint, code: "TOOL_FAILED", ...(location ? { location } : {}) });
    this.name = "ToolError";
    this.command = out.command;
    this.args = out.args;
    this.output = out;
    this.status = out.exitCode;
    this.signal = out.signal;
    this.stdout = out.stdout;
    this.stderr = out.stderr;
    const diag = out.stderr.trimEnd();
    this.message = diag ? `${what} (${tool}): ${why}:\n${diag}` : `${what} (${tool}): ${why}`;
  }
}

export function isToolError(e: unknown): e is ToolError {
  return e instanceof ToolError;
}
