/**
 * The one way stages run tools: no shell, argv as given, output captured. A failed process is
 * the error (zx style): ToolError carries the ProcessOutput fields and prints the tool's stderr
 * exactly as the tool wrote it (clang's diagnostics appear once, unmangled).
 */
import { spawn } from "node:child_process";
import { basename } from "node:path";
import { GadgetError, ToolError } from "../errors.js";
import type { ExecOptions, ProcessOutput } from "../types.js";

export { ToolError, isToolError, describeExit, firstDiagnostic } from "../errors.js";

export interface ExecRunOptions extends ExecOptions {
  signal?: AbortSignal;
  /** Base environment (default process.env); opts.env is merged over it. */
  baseEnv?: Record<string, string | undefined>;
}

/** Run `file args…` without a shell; resolve with its output, or throw ToolError / GadgetError. */
export function exec(file: string, args: string[], opts: ExecRunOptions = {}): Promise<ProcessOutput> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(abortError(file));
      return;
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...(opts.baseEnv ?? process.env), ...opts.env })) if (v !== undefined) env[k] = v;
    let child;
    try {
      child = spawn(file, args, { cwd: opts.cwd, env, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"], signal: opts.signal });
    } catch (e) {
      reject(spawnError(file, e));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    let failed = false;
    child.on("error", (e: NodeJS.ErrnoException) => {
      failed = true;
      if (e.name === "AbortError") reject(abortError(file));
      else reject(spawnError(file, e));
    });
    child.on("close", (exitCode, signal) => {
      if (failed) return;
      const result: ProcessOutput = {
        command: file,
        args,
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      if (opts.signal?.aborted) reject(abortError(file));
      else if ((exitCode !== 0 || signal) && !opts.nothrow) reject(new ToolError(result, opts));
      else resolve(result);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

function spawnError(file: string, e: unknown): GadgetError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") {
    return new GadgetError({ what: "tool not found", which: file, why: "not on PATH", hint: "run scripts/bootstrap (or install the package that provides it)", code: "TOOL_NOT_FOUND", cause: e });
  }
  return new GadgetError({ what: "cannot run tool", which: file, why: (e as Error)?.message ?? String(e), cause: e });
}

function abortError(file: string): GadgetError {
  return new GadgetError({ what: "interrupted", which: basename(file), why: "the run was cancelled", code: "ABORTED" });
}

/** A zx-style `$` bound to cwd/env/signal: template values become separate argv words, never shell text. */
export function makeDollar(base: ExecRunOptions): (pieces: TemplateStringsArray, ...values: unknown[]) => Promise<ProcessOutput> {
  return (pieces, ...values) => {
    const argv = templateArgv(pieces, values);
    if (argv.length === 0) return Promise.reject(new GadgetError({ what: "empty command", why: "$`` needs a command" }));
    return exec(argv[0]!, argv.slice(1), base);
  };
}

/** Split a template into argv: literal text on whitespace, each value (or array element) one word. */
export function templateArgv(pieces: TemplateStringsArray | readonly string[], values: unknown[]): string[] {
  const argv: string[] = [];
  let cur: string | null = null;
  const flush = () => {
    if (cur !== null) argv.push(cur);
    cur = null;
  };
  pieces.forEach((piece, i) => {
    for (const ch of piece) {
      if (/\s/.test(ch)) flush();
      else cur = (cur ?? "") + ch;
    }
    if (i < values.length) {
      const v = values[i];
      if (Array.isArray(v)) {
        flush();
        for (const x of v) argv.push(String(x));
      } else {
        cur = (cur ?? "") + String(v);
      }
    }
  });
  flush();
  return argv;
}
