/**
 * How a command ends early (DESIGN §13), once for every command:
 * - SIGINT / SIGTERM abort what is in flight at once (`ctx.signal`: registry requests, tools the
 *   engine runs): one line on stderr naming what was interrupted, the temp files this process was
 *   writing removed, exit 130 / 143 — after the command has unwound, or after a short grace
 *   period when it does not (a local export or import in the middle of a write). A second signal
 *   ends it at once.
 * - A closed stdout or stderr (EPIPE: `gadget run --dry | true`, `gadget image list | head -1`)
 *   ends the program quietly with 141, as SIGPIPE ends other tools: no message, no stack trace.
 * From the moment either happens, the command's own output is dropped.
 */
import { writeSync } from "node:fs";
import { GadgetError } from "../errors.js";
import { removeLiveTempsSync } from "../store/atomic.js";

/** How long an interrupted command may take to unwind (abort its requests, remove its scratch files). */
export const GRACE_MS = 1000;

const EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };
/** 128 + SIGPIPE. */
export const EPIPE_EXIT = 141;

export interface Interrupts {
  /** Aborted on SIGINT/SIGTERM (reason: a GadgetError with code ABORTED) and on a closed stdout. */
  readonly signal: AbortSignal;
  /** True once interrupted: output is dropped from then on. */
  readonly fired: boolean;
  /** What the command is doing, for the interrupt line: "pushing host/repo:v1" (a function is asked when the signal comes). */
  doing(what: string | (() => string)): void;
  /** The command handles SIGINT/SIGTERM itself from now on (watch mode's Ctrl-C ends it with 0). */
  handOver(): void;
  /** The command settled after being interrupted: clean up and exit with the interrupt's code. */
  finish(): never;
  /** Remove the handlers (the command ended normally). */
  dispose(): void;
}

export interface InterruptOptions {
  /** The default description: "gadget image push". */
  command: string;
  graceMs?: number;
  /** Where the interrupt line goes (default: fd 2, written synchronously). */
  writeLine?: (line: string) => void;
  exit?: (code: number) => never;
}

export function installInterrupts(o: InterruptOptions): Interrupts {
  const ac = new AbortController();
  let doing: string | (() => string) = o.command;
  let code: number | undefined;
  let finished = false;
  let graceTimer: NodeJS.Timeout | undefined;
  /** The command has returned: nothing left to unwind. */
  let done = false;
  const writeLine =
    o.writeLine ??
    ((line: string) => {
      try {
        writeSync(2, line + "\n");
      } catch {
        /* stderr is gone too */
      }
    });
  const exit = o.exit ?? ((c: number) => process.exit(c));

  const finish = (): never => {
    if (!finished) {
      finished = true;
      clearTimeout(graceTimer);
      removeLiveTempsSync();
    }
    return exit(code ?? 1);
  };

  const describe = (): string => {
    try {
      return typeof doing === "function" ? doing() : doing;
    } catch {
      return o.command;
    }
  };

  const onSignal = (sig: NodeJS.Signals): void => {
    if (code !== undefined) {
      finish(); // a second signal: no more waiting
      return;
    }
    code = EXIT_CODES[sig] ?? 1;
    const what = describe();
    writeLine(`Error: interrupted (${what}): received ${sig}`);
    ac.abort(new GadgetError({ what: "interrupted", which: what, why: `received ${sig}`, code: "ABORTED" }));
    if (done) finish();
    graceTimer = setTimeout(finish, o.graceMs ?? GRACE_MS);
  };

  const onOutputError = (e: NodeJS.ErrnoException): void => {
    if (code !== undefined) return;
    if (e?.code === "EPIPE") {
      code = EPIPE_EXIT;
    } else {
      code = 1;
      writeLine(`Error: writing output: ${e?.message ?? String(e)}`);
    }
    ac.abort(new GadgetError({ what: "output closed", which: "stdout", why: "the reader went away", code: "EPIPE" }));
    if (done) finish();
    graceTimer = setTimeout(finish, o.graceMs ?? GRACE_MS);
  };

  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.stdout.on("error", onOutputError);
  process.stderr.on("error", onOutputError);
  let handed = false;

  return {
    signal: ac.signal,
    get fired() {
      return code !== undefined;
    },
    doing(what) {
      doing = what;
    },
    handOver() {
      if (handed) return;
      handed = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
    finish,
    dispose() {
      done = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      // the output listeners stay: a late EPIPE (output still buffered when the command returned) ends quietly too
    },
  };
}
