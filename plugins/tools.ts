/**
 * Finding the tools the built-in stages run, with one-line errors that name the tool and the
 * Debian package to install; and the host's multiarch include directory (asked from clang, cached).
 */
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { GadgetError, ProcessOutput, StageContext } from "../core/index.js";
import { api, gadgetError } from "./api.js";

/** Tool → Debian package that provides it. */
export const TOOL_PACKAGES: Record<string, string> = {
  clang: "clang",
  "llvm-strip": "llvm",
  bpftool: "bpftool",
  tar: "tar",
  xz: "xz-utils",
  "wasm-validate": "wabt",
  go: "golang-go (Go >= 1.24 for wasip1 c-shared)",
  cargo: "cargo (with the wasm32-wasip1 target: rustup target add wasm32-wasip1)",
  tinygo: "tinygo (not packaged in Debian: see https://tinygo.org/getting-started/install/)",
};

const EXTRA_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];
const found = new Map<string, string>();

/** Absolute path of `name` on PATH (plus the sbin dirs, where Debian puts bpftool), or a GadgetError. */
export async function findTool(name: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<string> {
  const p = lookupTool(name, env);
  if (p === undefined) throw await missingTool(name);
  return p;
}

/** Absolute path of `name` on PATH (plus the sbin dirs), or undefined. */
export function lookupTool(name: string, env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const key = `${env.PATH ?? ""}\0${name}`;
  const hit = found.get(key);
  if (hit) return hit;
  if (name.includes("/")) return name;
  const dirs = [...(env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      found.set(key, p);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export function missingTool(name: string): Promise<Error> {
  const pkg = TOOL_PACKAGES[name] ?? name;
  return gadgetError({
    what: "tool not found",
    which: name,
    why: `${name} is not on PATH`,
    hint: `install the Debian package ${pkg} (scripts/bootstrap installs everything gadget needs)`,
    code: "TOOL_NOT_FOUND",
  });
}

let multiarch: Promise<string> | undefined;

/**
 * The host's multiarch triple (`x86_64-linux-gnu`), derived as TOOLCHAIN.md says — asked from
 * the compiler (`clang -print-multiarch`, what `gcc -print-multiarch` prints) — once per
 * process; both architectures' compiles share the answer.
 */
export function hostMultiarch(ctx: Pick<StageContext, "exec" | "env">, clang?: string): Promise<string> {
  if (!multiarch) {
    multiarch = (async () => {
      const out = await ctx.exec(clang ?? (await findTool("clang", ctx.env)), ["-print-multiarch"], { nothrow: true });
      const triple = out.stdout.trim();
      if (out.exitCode !== 0 || !/^[a-z0-9_]+-[a-z0-9_-]+$/.test(triple)) {
        throw await gadgetError({ what: "cannot find the host's multiarch include directory", which: "clang -print-multiarch", why: triple ? `printed ${JSON.stringify(triple)}` : out.stderr.trim() || "printed nothing", hint: "install clang from Debian (scripts/bootstrap)" });
      }
      return triple;
    })();
    multiarch.catch(() => (multiarch = undefined));
  }
  return multiarch;
}

/** Check kernel uapi headers for the host triple; one-line error naming linux-libc-dev otherwise. */
export async function checkHostHeaders(triple: string): Promise<void> {
  if (!existsSync(`/usr/include/${triple}/asm/types.h`)) {
    throw await gadgetError({
      what: "kernel headers not found",
      which: `/usr/include/${triple}/asm/types.h`,
      why: "clang needs the uapi headers of the host architecture",
      hint: "install the Debian package linux-libc-dev",
      code: "HEADERS_NOT_FOUND",
    });
  }
}

/** Hint for a clang "file not found" diagnostic: which Debian package has that header. */
export function headerHint(stderr: string): string | undefined {
  // clang 14 crashes on CO-RE type matching (bpf_core_type_matches), which clang 15 added
  if (stderr.includes("Incorrect flag for llvm.bpf.preserve.type.info intrinsic")) {
    return "this clang cannot compile bpf_core_type_matches() (clang >= 15 can): build with a newer clang (e.g. clang-19, first on PATH)";
  }
  const m = /fatal error: '([^']+)' file not found/.exec(stderr);
  if (!m) return undefined;
  const h = m[1]!;
  if (h.startsWith("bpf/")) return `<${h}> comes from libbpf: install the Debian package libbpf-dev`;
  if (h.startsWith("linux/") || h.startsWith("asm/") || h.startsWith("asm-generic/")) return `<${h}> comes from the kernel uapi headers: install the Debian package linux-libc-dev`;
  if (h === "vmlinux.h") return "generate it with `bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h` (x86 only) or use per-arch headers";
  if (h.startsWith("gadget/")) return `<${h}> is one of Inspektor Gadget's headers: put them in /usr/include/gadget or add \`-I <dir>\` to cflags in build.yaml`;
  return `check the include path of <${h}> (add \`-I <dir>\` to cflags in build.yaml)`;
}

/**
 * A tool failure: a GadgetError whose message is the one-line summary followed by the tool's
 * own stderr verbatim — clang's file:line:col diagnostics appear exactly once. The process's
 * output is attached (command, args, signal, stdout, stderr, toolExitCode); `exitCode` stays
 * the CLI's (1), not the tool's.
 */
export interface ToolFailure extends GadgetError {
  command: string;
  args: string[];
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  toolExitCode: number | null;
}

export async function toolFailure(out: ProcessOutput, what: string, hint?: string): Promise<ToolFailure> {
  const { GadgetError } = await api();
  const base = out.command.slice(out.command.lastIndexOf("/") + 1);
  const status = out.signal ? `killed by ${out.signal}` : `exit status ${out.exitCode}`;
  const err = new GadgetError({ what, which: base, why: status, hint, code: "TOOL_FAILED" }) as ToolFailure;
  Object.assign(err, { command: out.command, args: out.args, signal: out.signal, stdout: out.stdout, stderr: out.stderr, toolExitCode: out.exitCode });
  const diag = out.stderr.trimEnd();
  err.message = diag ? `${what} (${base}): ${status}:\n${diag}` : `${what} (${base}): ${status}`;
  return err;
}
