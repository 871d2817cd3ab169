/**
 * wasm: the gadget's WebAssembly module (per gadget, arch-independent), output artifact "wasm"
 * (program.wasm); no-op when the gadget has none. `wasm:` names a prebuilt `.wasm`, or a source:
 * `.go` (or a folder with go.mod) built with ig's go argv (wasm-go.ts; `tinygo: true` uses tinygo),
 * `.rs` with cargo for wasm32-wasip1 (wasm-rust.ts), `.c` with clang `--target=wasm32-wasi` as a
 * reactor (wasi-libc). Every module is then checked as ig's runtime will use it: a valid
 * WebAssembly binary (WebAssembly.validate) whose imports, exports and memory are what ig's wasm
 * operator needs (wasm-abi.ts).
 */
import { copyFile, readFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, extname, join, relative } from "node:path";
import { defineStage, GadgetError, t, type Infer, type StageContext, type StageInputs } from "../core/types.js";
import { findTool } from "./tools.js";
import { readWasmInterface } from "./wasm-module.js";
import { igAbiProblem, type WasmSourceKind } from "./wasm-abi.js";
import { buildGo, GO_ENV, GO_EXTRA_FLAGS, goInputFiles, goSource, goTool } from "./wasm-go.js";
import { buildRust, rustInputs } from "./wasm-rust.js";

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

/**
 * Check a built or shipped module as ig will use it: a valid WebAssembly binary, then ig's wasm
 * operator's contract (imports, exports, memory); one-line GadgetError otherwise.
 */
export async function checkWasmModule(path: string, kind: WasmSourceKind, which: string): Promise<void> {
  const bytes = await readFile(path);
  const problem = wasmProblem(bytes);
  if (problem) throw new GadgetError({ what: "invalid wasm module", which, why: problem, hint: "rebuild the module (it must be a WebAssembly binary, not text or a truncated file)", code: "BAD_WASM" });
  let abi;
  try {
    abi = igAbiProblem(readWasmInterface(bytes), kind);
  } catch (e) {
    throw new GadgetError({ what: "invalid wasm module", which, why: `cannot read its interface: ${(e as Error).message}`, code: "BAD_WASM" });
  }
  if (abi) throw new GadgetError({ what: abi.what, which, why: abi.why, ...(abi.hint ? { hint: abi.hint } : {}), code: "BAD_WASM" });
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

type SourceKind = WasmSourceKind | "go-folder";

/** What `wasm:` names: by extension, or a folder holding go.mod. */
async function sourceKind(src: string): Promise<SourceKind> {
  const st = await stat(src).catch(() => undefined);
  if (st?.isDirectory()) {
    if (existsSync(join(src, "go.mod"))) return "go-folder";
    throw new GadgetError({ what: "unsupported wasm source", which: src, why: "a folder must be a Go module (hold go.mod)", hint: "name a .wasm, .go, .rs or .c file, or a folder with go.mod" });
  }
  switch (extname(src)) {
    case ".wasm":
      return "wasm";
    case ".go":
      return "go";
    case ".rs":
      return "rust";
    case ".c":
      return "c";
    default:
      throw new GadgetError({ what: "unsupported wasm file type", which: src, why: `${JSON.stringify(extname(src) || basename(src))} is not .wasm, .go, .rs or .c (or a folder with go.mod)` });
  }
}

/** The source as messages name it: relative to the gadget folder when inside it. */
function shown(ctx: StageContext<WasmOptions>, src: string): string {
  const r = relative(ctx.gadget.dir, src);
  return r && !r.startsWith("..") ? r : src;
}

async function buildTinygo(ctx: StageContext<WasmOptions>, src: string, isDir: boolean, out: string, which: string): Promise<void> {
  let tinygo: string;
  try {
    tinygo = await findTool("tinygo", ctx.env);
  } catch {
    throw new GadgetError({ what: "tool not found", which: "tinygo", why: "the wasm stage's tinygo option needs tinygo on PATH", hint: "install tinygo (not packaged in Debian: https://tinygo.org/getting-started/install/) or drop `tinygo: true` to use go", code: "TOOL_NOT_FOUND" });
  }
  const args = ["build", "-o", out, "-target=wasip1", "-buildmode=c-shared", "-no-debug", isDir ? "." : basename(src)];
  await ctx.exec(tinygo, args, { cwd: isDir ? src : dirname(src), what: `building ${which} with tinygo` });
}

export const wasmStage = defineStage({
  name: "wasm",
  version: "2",
  description: "the gadget's WebAssembly module (.wasm, or built from .go, .rs or .c), checked against ig's wasm contract",
  options,
  outputs: ["wasm"],
  async inputs(ctx): Promise<StageInputs> {
    const src = ctx.gadget.wasm;
    if (!src) return { args: { wasm: false } };
    const kind = await sourceKind(src);
    if ((kind === "go" || kind === "go-folder") && !ctx.options.tinygo) {
      const go = goSource(src, kind === "go-folder");
      const tool = await goTool(ctx.env, shown(ctx, src));
      const files = await goInputFiles(go, kind === "go" ? src : undefined, ctx.env);
      return { files, tools: [{ tool: tool.tool, probe: tool.probe }], args: { kind, target: go.target, flags: GO_EXTRA_FLAGS }, env: GO_ENV };
    }
    if (kind === "rust") return rustInputs(src, ctx.env);
    const tools = kind === "c" ? [await findTool("clang", ctx.env)] : [];
    return { files: [src], tools, args: { kind, tinygo: ctx.options.tinygo ?? false, cflags: ctx.options.cflags ?? [] }, env: kind === "go" ? ["PATH"] : [] };
  },
  async run(ctx) {
    const src = ctx.gadget.wasm;
    if (!src) return;
    const out = join(ctx.outDir, "program.wasm");
    const kind = await sourceKind(src);
    const which = shown(ctx, src);
    switch (kind) {
      case "wasm":
        await copyFile(src, out);
        break;
      case "go":
      case "go-folder":
        if (ctx.options.tinygo) await buildTinygo(ctx, src, kind === "go-folder", out, which);
        else await buildGo(ctx, goSource(src, kind === "go-folder"), out, which);
        break;
      case "rust":
        await buildRust(ctx, src, out, which);
        break;
      case "c":
        await buildC(ctx, src, out);
        break;
    }
    await checkWasmModule(out, kind === "go-folder" ? "go" : kind, which);
    return { artifacts: { wasm: out } };
  },
});
