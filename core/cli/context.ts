/** What a command gets: parsed args, streams, environment, and the store it works on. */
import { homedir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { FlagValues } from "./args.js";
import type { LayoutStore, OpenOptions } from "../store/layout-store.js";
import type { Interrupts } from "./interrupt.js";

export interface CommandContext {
  args: string[];
  /** How many of `args` came before a `--` on the command line (undefined: no `--`). */
  dashDash?: number;
  flags: FlagValues;
  env: NodeJS.ProcessEnv;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  verbose: boolean;
  cwd: string;
  /** Aborted when the command is interrupted (SIGINT/SIGTERM) or its stdout closes: pass it to whatever can stop early. */
  signal: AbortSignal;
  /** Name what the command is doing for the interrupt line; hand signals over (watch mode). */
  interrupts?: Pick<Interrupts, "doing" | "handOver">;
  /** Write one result line to stdout. */
  out(line: string): void;
  /** Write one status/warning line to stderr. */
  warn(line: string): void;
  storeDir(): string;
  openStore(opts?: OpenOptions): Promise<LayoutStore>;
  flagString(name: string): string | undefined;
  flagBool(name: string): boolean;
  flagList(name: string): string[];
}

/**
 * The environment a build runs with: `--allow-unsafe-cflags` becomes GADGET_ALLOW_UNSAFE_CFLAGS=1,
 * which the clang stage reads (plugins/unsafe-cflags.ts) — also when the user sets it directly.
 */
export function buildEnv(ctx: Pick<CommandContext, "env" | "flagBool">): NodeJS.ProcessEnv {
  return ctx.flagBool("allow-unsafe-cflags") ? { ...ctx.env, GADGET_ALLOW_UNSAFE_CFLAGS: "1" } : ctx.env;
}

/** ig's default store location (DESIGN §5). */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GADGET_OCI_STORE) return env.GADGET_OCI_STORE;
  if (process.getuid?.() === 0) return "/var/lib/ig/oci-store";
  return join(env.HOME || homedir(), ".ig", "oci-store");
}

export function createContext(init: {
  args: string[];
  flags: FlagValues;
  env?: NodeJS.ProcessEnv;
  stdin?: Readable;
  stdout?: Writable & { isTTY?: boolean };
  stderr?: Writable & { isTTY?: boolean };
  cwd?: string;
  interrupts?: Interrupts;
  dashDash?: number;
}): CommandContext {
  const env = init.env ?? process.env;
  const stdout = init.stdout ?? process.stdout;
  const stderr = init.stderr ?? process.stderr;
  const flags = init.flags;
  const interrupts = init.interrupts;
  // once interrupted, the command's own output is dropped: the interrupt line is the last word
  const live = () => !interrupts?.fired;
  const ctx: CommandContext = {
    args: init.args,
    ...(init.dashDash !== undefined ? { dashDash: init.dashDash } : {}),
    flags,
    env,
    stdin: init.stdin ?? process.stdin,
    stdout,
    stderr,
    stdoutIsTTY: Boolean(stdout.isTTY),
    stderrIsTTY: Boolean(stderr.isTTY),
    verbose: Boolean(flags.verbose) || env.GADGET_DEBUG === "1",
    cwd: init.cwd ?? process.cwd(),
    signal: interrupts?.signal ?? new AbortController().signal,
    ...(interrupts ? { interrupts } : {}),
    out: (line) => void (live() && stdout.write(line + "\n")),
    warn: (line) => void (live() && stderr.write(line + "\n")),
    storeDir: () => (typeof flags["oci-store"] === "string" && flags["oci-store"] !== "" ? (flags["oci-store"] as string) : defaultStoreDir(env)),
    openStore: async (opts) => (await import("../store/layout-store.js")).LayoutStore.open(ctx.storeDir(), opts),
    flagString: (name) => {
      const v = flags[name];
      return typeof v === "string" ? v : undefined;
    },
    flagBool: (name) => flags[name] === true,
    flagList: (name) => {
      const v = flags[name];
      return Array.isArray(v) ? v : typeof v === "string" ? v.split(",").filter(Boolean) : [];
    },
  };
  return ctx;
}
