/**
 * Finding the tools the built-in stages run, with one-line errors that name the tool and the
 * Debian package to install; and the host's multiarch include directory (asked from clang).
 * The lookups are memoized by everything they depend on (PATH, the tool's path): caches of
 * facts about the machine, not state of a run.
 */
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { GadgetError, type StageContext } from "../core/types.js";

/** Tool → Debian package that provides it. */
export const TOOL_PACKAGES: Record<string, string> = {
  clang: "clang",
  "llvm-strip": "llvm",
  bpftool: "bpftool",
  tar: "tar",
  xz: "xz-utils",
  "wasm-validate": "wabt",
};

/** Tools Debian does not provide (or provides too old): how to install them instead. */
export const TOOL_INSTALL_HINTS: Record<string, string> = {
  go: "install Go >= 1.24 from https://go.dev/dl/ and put its bin folder (e.g. /usr/local/go/bin) on PATH (Debian 12's golang-go is 1.19, too old for wasip1)",
  cargo: "install Rust with rustup (https://rustup.rs), then run `rustup target add wasm32-wasip1`",
  tinygo: "install tinygo (not packaged in Debian: https://tinygo.org/getting-started/install/)",
};

const EXTRA_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];
const found = new Map<string, string>();

/** Absolute path of `name` on PATH (plus the sbin dirs, where Debian puts bpftool), or a GadgetError. */
export async function findTool(name: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<string> {
  const p = lookupTool(name, env);
  if (p === undefined) throw missingTool(name);
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

export function missingTool(name: string): GadgetError {
  const pkg = TOOL_PACKAGES[name] ?? name;
  return new GadgetError({
    what: "tool not found",
    which: name,
    why: `${name} is not on PATH`,
    hint: TOOL_INSTALL_HINTS[name] ?? `install the Debian package ${pkg} (scripts/bootstrap installs everything gadget needs)`,
    code: "TOOL_NOT_FOUND",
  });
}

const multiarchByClang = new Map<string, Promise<string>>();

/**
 * The host's multiarch triple (`x86_64-linux-gnu`), derived as TOOLCHAIN.md says — asked from
 * the compiler (`clang -print-multiarch`, what `gcc -print-multiarch` prints) — once per clang
 * binary; both architectures' compiles share the answer.
 */
export function hostMultiarch(exec: StageContext["exec"], clang: string): Promise<string> {
  let p = multiarchByClang.get(clang);
  if (!p) {
    p = (async () => {
      const out = await exec(clang, ["-print-multiarch"], { nothrow: true });
      const triple = out.stdout.trim();
      if (out.exitCode !== 0 || !/^[a-z0-9_]+-[a-z0-9_-]+$/.test(triple)) {
        throw new GadgetError({ what: "cannot find the host's multiarch include directory", which: "clang -print-multiarch", why: triple ? `printed ${JSON.stringify(triple)}` : out.stderr.trim() || "printed nothing", hint: "install clang from Debian (scripts/bootstrap)" });
      }
      return triple;
    })();
    multiarchByClang.set(clang, p);
    p.catch(() => multiarchByClang.delete(clang));
  }
  return p;
}

/** Check kernel uapi headers for the host triple; one-line error naming linux-libc-dev otherwise. */
export function checkHostHeaders(triple: string): void {
  if (!existsSync(`/usr/include/${triple}/asm/types.h`)) {
    throw new GadgetError({
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
