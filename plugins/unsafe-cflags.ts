/**
 * cflags that make clang load or run code from wherever they point: `-fplugin=`,
 * `-fpass-plugin=`, `-Xclang -load` (and `-Xclang=-load`, `-mllvm -load`), `-B<dir>` / `--prefix`
 * (where clang finds cc1, as and ld), `--ld-path=` / `-fuse-ld=<path>`, and `@file` response files
 * (which may hold any of these). build.yaml is data a gadget folder carries, yet
 * `cflags: ["-fplugin=./evil.so"]` ran the folder's code on the host (as root, for root's
 * builds). They are refused unless the user allows them: `--allow-unsafe-cflags` on
 * `gadget image build` / `gadget run`, GADGET_ALLOW_UNSAFE_CFLAGS=1, or the clang step option
 * `allowUnsafeCflags: true` in a gadgetfile.
 */
import { gadgetError } from "./api.js";

export const ALLOW_UNSAFE_CFLAGS_ENV = "GADGET_ALLOW_UNSAFE_CFLAGS";

export interface UnsafeCflag {
  /** The offending argument(s), as written. */
  arg: string;
  why: string;
}

const LOADS_PLUGIN = "loads a shared object into clang";

/** A cc1 or LLVM option (after -Xclang / -mllvm) that loads code. */
function loadsCode(inner: string): boolean {
  return inner === "-load" || inner.startsWith("-load=") || /^-f(pass-)?plugin(=|$)/.test(inner);
}

/** The first cflag that loads or runs code from a path, or undefined when there is none. */
export function findUnsafeCflag(args: readonly string[]): UnsafeCflag | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (a.startsWith("@")) return { arg: a, why: "a response file can hold any flag, including ones that load code" };
    if (/^-f(pass-)?plugin(=|$)/.test(a)) return { arg: a, why: LOADS_PLUGIN };
    if (a === "-Xclang" || a === "-mllvm") {
      if (next !== undefined && loadsCode(next)) return { arg: `${a} ${next}`, why: LOADS_PLUGIN };
      i++; // the next word belongs to this flag
      continue;
    }
    if (a.startsWith("-Xclang=") || a.startsWith("-mllvm=")) {
      if (loadsCode(a.slice(a.indexOf("=") + 1))) return { arg: a, why: LOADS_PLUGIN };
      continue;
    }
    if (a.startsWith("-B") || a === "--prefix" || a.startsWith("--prefix=")) return { arg: a, why: "makes clang run its compiler, assembler and linker programs from that folder" };
    if (a === "--ld-path" || a.startsWith("--ld-path=")) return { arg: a, why: "makes clang run that program as its linker" };
    if (a.startsWith("-fuse-ld=") && a.includes("/")) return { arg: a, why: "makes clang run that program as its linker" };
  }
  return undefined;
}

/** Throw a one-line error for the first unsafe cflag, unless allowed. */
export async function refuseUnsafeCflags(cflags: readonly string[], opts: { allow: boolean; gadget: string }): Promise<void> {
  if (opts.allow) return;
  const bad = findUnsafeCflag(cflags);
  if (!bad) return;
  throw await gadgetError({
    what: "refusing a cflag that runs code",
    which: `cflags of ${opts.gadget}`,
    why: `${bad.arg} ${bad.why}`,
    hint: `a build runs what the gadget folder says: build only folders you trust; to allow it, pass --allow-unsafe-cflags (or set ${ALLOW_UNSAFE_CFLAGS_ENV}=1)`,
    code: "UNSAFE_CFLAGS",
  });
}
