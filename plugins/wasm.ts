/**
 * wasm: the gadget's WebAssembly module (per gadget, arch-independent). A prebuilt `.wasm` is
 * validated (magic, version, WebAssembly.validate); `.go` is built with ig's argv (needs Go ≥
 * 1.24 for wasip1 c-shared); `.rs` with cargo for wasm32-wasip1; `.c` with clang
 * `--target=wasm32-wasi` as a reactor module (wasi-libc); `tinygo: true` builds `.go` with
 * tinygo instead. Output artifact "wasm" (program.wasm); no-op when the gadget has none.
 */
import { copyFile, readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { defineStage, GadgetError, t, type Infer, type StageContext } from "../core/types.js";
import { findTool } from "./tools.js";

const options = t.object({
  /** Build `.go` sources with tinygo (`tinygo build -target=wasip1 -buildmode=c-shared`). */
  tinygo: t.boolean(),
  /** Extra clang arguments for `.c` modules. */
  cflags: t.array(t.string()),
});
export type WasmOptions = Infer<typeof options>;

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** Check bytes are a valid WebAssembly module; a one-line reason otherwise. */
export function wasmProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 8 || !WASM_MAGIC.every((b, i) => bytes[i] === b)) return "not a WebAssembly module (missing \\0asm magic)";
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== 1) return `unsupported WebAssembly binary version ${version} (expected 1)`;
  try {
    if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
      try {
        new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
      } catch (e) {
        return `invalid WebAssembly module: ${(e as Error).message.replace(/^WebAssembly\.Module\(\): /, "")}`;
      }
      return "invalid WebAssembly module";
    }
  } catch (e) {
    return `invalid WebAssembly module: ${(e as Error).message}`;
  }
  return undefined;
}

export async function validateWasmFile(path: string): Promise<void> {
  const problem = wasmProblem(await readFile(path));
  if (problem) throw new GadgetError({ what: "invalid wasm module", which: path, why: problem, hint: "rebuild the module (it must be a WebAssembly binary, not text or a truncated file)", code: "BAD_WASM" });
}

async function goVersion(ctx: StageContext<WasmOptions>, go: string): Promise<string> {
  const out = await ctx.exec(go, ["env", "GOVERSION"], { nothrow: true });
  return out.stdout.trim() || "unknown";
}

/** "go1.22.3" → [1, 22] */
function goMinor(v: string): [number, number] | undefined {
  const m = /^go(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

async function buildGo(ctx: StageContext<WasmOptions>, src: string, out: string): Promise<void> {
  if (ctx.options.tinygo) {
    let tinygo: string;
    try {
      tinygo = await findTool("tinygo", ctx.env);
    } catch {
      throw new GadgetError({ what: "tool not found", which: "tinygo", why: "the wasm stage's tinygo option needs tinygo on PATH", hint: "install tinygo (not packaged in Debian: https://tinygo.org/getting-started/install/) or drop `tinygo: true` to use go", code: "TOOL_NOT_FOUND" });
    }
    const args = ["build", "-o", out, "-target=wasip1", "-buildmode=c-shared", "-no-debug", basename(src)];
    await ctx.exec(tinygo, args, { cwd: dirname(src), what: `building ${basename(src)} with tinygo` });
    return;
  }
  let go: string;
  try {
    go = await findTool("go", ctx.env);
  } catch {
    throw new GadgetError({ what: "tool not found", which: "go", why: `${basename(src)} needs Go >= 1.24 (wasip1 with -buildmode=c-shared); none found on PATH`, hint: "install Go 1.24 or newer (https://go.dev/dl/), or ship a prebuilt .wasm", code: "TOOL_NOT_FOUND" });
  }
  const version = await goVersion(ctx, go);
  const mm = goMinor(version);
  if (!mm || mm[0] < 1 || (mm[0] === 1 && mm[1] < 24)) {
    throw new GadgetError({ what: "Go too old for wasm", which: go, why: `building ${basename(src)} needs Go >= 1.24 (wasip1 with -buildmode=c-shared), found ${version}`, hint: "install Go 1.24 or newer (https://go.dev/dl/), or ship a prebuilt .wasm", code: "TOOL_TOO_OLD" });
  }
  // ig's argv (cmd/common/image/build-step.go)
  const args = ["build", "-C", dirname(src), "-o", out, "-buildmode=c-shared", "-ldflags", "-w -s", basename(src)];
  await ctx.exec(go, args, { env: { CGO_ENABLED: "0", GOOS: "wasip1", GOARCH: "wasm" }, what: `building ${basename(src)} to wasm` });
}

async function buildRust(ctx: StageContext<WasmOptions>, src: string, out: string): Promise<void> {
  let cargo: string;
  try {
    cargo = await findTool("cargo", ctx.env);
  } catch {
    throw new GadgetError({ what: "tool not found", which: "cargo", why: `${basename(src)} needs cargo with the wasm32-wasip1 target`, hint: "install Rust (rustup) and run `rustup target add wasm32-wasip1`, or ship a prebuilt .wasm", code: "TOOL_NOT_FOUND" });
  }
  const manifest = join(dirname(src), "..", "Cargo.toml");
  if (!existsSync(manifest)) throw new GadgetError({ what: "Cargo.toml not found", which: manifest, why: "ig builds Rust wasm modules from the crate whose src/ holds the .rs file" });
  const targetDir = join(ctx.outDir, "cargo");
  await ctx.exec(cargo, ["build", "--target", "wasm32-wasip1", "--release", "--manifest-path", manifest], {
    env: { CARGO_TARGET_DIR: targetDir },
    what: "building the Rust wasm module",
    hint: (out) => (/wasm32-wasip1/.test(out.stderr) && /(not installed|may not be installed|can't find crate)/.test(out.stderr) ? "run `rustup target add wasm32-wasip1`" : undefined),
  });
  const name = /^\s*name\s*=\s*"([^"]+)"/m.exec(await readFile(manifest, "utf8"))?.[1];
  if (!name) throw new GadgetError({ what: "cannot read the package name", which: manifest });
  await copyFile(join(targetDir, "wasm32-wasip1", "release", `${name.replace(/-/g, "_")}.wasm`), out).catch(() => copyFile(join(targetDir, "wasm32-wasip1", "release", `${name}.wasm`), out));
}

const WASI_LIBC = "/usr/lib/wasm32-wasi/libc.a";

/** clang argv for a C wasm module (a WASI reactor: exports stay, no main). */
export function wasmClangArgs(src: string, out: string, gadgetDir: string, cflags: string[] = []): string[] {
  return ["--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-Wl,--export-dynamic", "-Wl,--strip-debug", `-ffile-prefix-map=${gadgetDir}=.`, ...cflags, "-o", out, src];
}

async function buildC(ctx: StageContext<WasmOptions>, src: string, out: string): Promise<void> {
  const clang = await findTool("clang", ctx.env);
  if (!existsSync(WASI_LIBC)) {
    throw new GadgetError({ what: "WASI libc not found", which: WASI_LIBC, why: "building a wasm module from C needs the WASI sysroot", hint: "install the Debian packages wasi-libc and libclang-rt-14-dev-wasm32", code: "TOOL_NOT_FOUND" });
  }
  const rel = src.startsWith(ctx.gadget.dir + "/") ? src.slice(ctx.gadget.dir.length + 1) : src;
  await ctx.exec(clang, wasmClangArgs(rel, out, ctx.gadget.dir, ctx.options.cflags), {
    cwd: ctx.gadget.dir,
    what: `building ${rel} to wasm`,
    hint: (res) => (/wasm-ld|lld/.test(res.stderr) && /not found|No such file/.test(res.stderr) ? "install the Debian package lld" : /clang_rt\.builtins-wasm32/.test(res.stderr) ? "install the Debian package libclang-rt-14-dev-wasm32" : undefined),
  });
}

export const wasmStage = defineStage({
  name: "wasm",
  version: "1",
  description: "the gadget's WebAssembly module (.wasm, or built from .go, .rs or .c)",
  options,
  outputs: ["wasm"],
  async inputs(ctx) {
    const src = ctx.gadget.wasm;
    if (!src) return { args: { wasm: false } };
    const ext = extname(src);
    const tools = ext === ".c" ? [await findTool("clang", ctx.env)] : [];
    return { files: [src], tools, args: { ext, tinygo: ctx.options.tinygo ?? false, cflags: ctx.options.cflags ?? [] }, env: ext === ".go" || ext === ".rs" ? ["PATH"] : [] };
  },
  async run(ctx) {
    const src = ctx.gadget.wasm;
    if (!src) return;
    const out = join(ctx.outDir, "program.wasm");
    const ext = extname(src);
    switch (ext) {
      case ".wasm":
        await validateWasmFile(src);
        await copyFile(src, out);
        break;
      case ".go":
        await buildGo(ctx, src, out);
        break;
      case ".rs":
        await buildRust(ctx, src, out);
        break;
      case ".c":
        await buildC(ctx, src, out);
        break;
      default:
        throw new GadgetError({ what: "unsupported wasm file type", which: src, why: `${JSON.stringify(ext || basename(src))} is not .wasm, .go, .rs or .c` });
    }
    if (ext !== ".wasm") await validateWasmFile(out);
    return { artifacts: { wasm: out } };
  },
});
