/**
 * What Inspektor Gadget's wasm operator (pkg/operators/wasm) needs from a gadget's module, checked
 * at build time so a module ig would refuse never reaches an image:
 *
 * - ig instantiates it with wazero next to two host modules, `ig` (gadgetLog, getDataSource, …)
 *   and `wasi_snapshot_preview1`, with a 256-page (16 MiB) memory limit, and runs `_initialize`
 *   (never `_start`);
 * - it then calls the required export `gadgetAPIVersion()` and expects one value, 1;
 * - later it calls `gadgetInit`, `gadgetPreStart`, `gadgetStart`, `gadgetStop` (and
 *   `gadgetPostStop`) when exported — no arguments, one result, 0 meaning success — and
 *   `dataSourceCallback(cbID i64, ds i32, data i32)` for subscriptions.
 *
 * The value gadgetAPIVersion returns is only known by running it; ig checks it at load time.
 */
import { formatFuncType, type FuncType, type WasmInterface } from "./wasm-module.js";

export const IG_API_VERSION = 1;
export const IG_HOST_MODULES = ["ig", "wasi_snapshot_preview1"] as const;
export const IG_MEMORY_LIMIT_PAGES = 256;
export const LIFECYCLE_EXPORTS = ["gadgetInit", "gadgetPreStart", "gadgetStart", "gadgetStop", "gadgetPostStop"] as const;

/** The language the module was built from: hints show the fix in that language. */
export type WasmSourceKind = "go" | "rust" | "c" | "wasm";

export interface AbiProblem {
  what: string;
  why: string;
  hint?: string;
}

const VERSION_HINT: Record<WasmSourceKind, string> = {
  go: "add `//go:wasmexport gadgetAPIVersion` above `func gadgetAPIVersion() uint64 { return 1 }`",
  rust: 'add `#[no_mangle] pub extern "C" fn gadgetAPIVersion() -> u64 { 1 }`',
  c: 'add `__attribute__((export_name("gadgetAPIVersion"))) uint64_t gadgetAPIVersion(void) { return 1; }`',
  wasm: "export a function gadgetAPIVersion() that returns 1 (i64)",
};

const IMPORT_HINT: Record<WasmSourceKind, string> = {
  go: "declare ig's functions with `//go:wasmimport ig <name>`",
  rust: 'declare ig\'s functions in `#[link(wasm_import_module = "ig")] extern "C" { … }`',
  c: 'declare ig\'s functions with `__attribute__((import_module("ig"), import_name("<name>")))`',
  wasm: 'import ig\'s functions from the module "ig"',
};

function lifecycleHint(kind: WasmSourceKind, name: string): string {
  if (kind === "go") return `declare it as \`func ${name}() int32\``;
  if (kind === "rust") return `declare it as \`pub extern "C" fn ${name}() -> i32\``;
  return `declare it as \`int32_t ${name}(void)\``;
}

const isInt = (t: string | undefined) => t === "i32" || t === "i64";
const noArgsOneInt = (t: FuncType) => t.params.length === 0 && t.results.length === 1 && isInt(t.results[0]);

/** The first thing ig's wasm operator would refuse in this module, or undefined. */
export function igAbiProblem(m: WasmInterface, kind: WasmSourceKind): AbiProblem | undefined {
  for (const imp of m.imports) {
    if (!(IG_HOST_MODULES as readonly string[]).includes(imp.module)) {
      return {
        what: `wasm module imports ${imp.module}.${imp.name}`,
        why: `ig provides only the host modules ${IG_HOST_MODULES.join(" and ")}, so instantiation would fail`,
        hint: IMPORT_HINT[kind],
      };
    }
    if (imp.kind !== "func") return { what: `wasm module imports a ${imp.kind} ${imp.module}.${imp.name}`, why: "ig's host modules export only functions" };
  }

  const version = m.exports.find((e) => e.name === "gadgetAPIVersion");
  if (!version || version.kind !== "func") {
    return {
      what: "wasm module does not export gadgetAPIVersion",
      why: `ig's wasm operator calls gadgetAPIVersion() first and refuses a module without it (API version ${IG_API_VERSION})`,
      hint: VERSION_HINT[kind],
    };
  }
  if (!noArgsOneInt(version.type!)) {
    return { what: "wasm export gadgetAPIVersion has the wrong signature", why: `ig calls it with no arguments and expects one integer (the API version, ${IG_API_VERSION}); it is ${formatFuncType(version.type!)}`, hint: VERSION_HINT[kind] };
  }

  for (const e of m.exports) {
    if (!(LIFECYCLE_EXPORTS as readonly string[]).includes(e.name)) continue;
    if (e.kind !== "func" || !noArgsOneInt(e.type!)) {
      const is = e.kind === "func" ? formatFuncType(e.type!) : `a ${e.kind}`;
      return { what: `wasm export ${e.name} has the wrong signature`, why: `ig calls it with no arguments and reads one integer result (0 = success); it is ${is}`, hint: lifecycleHint(kind, e.name) };
    }
  }
  const cb = m.exports.find((e) => e.name === "dataSourceCallback");
  if (cb && (cb.kind !== "func" || formatFuncType(cb.type!) !== "(i64, i32, i32) -> ()")) {
    return { what: "wasm export dataSourceCallback has the wrong signature", why: `ig calls it as (cbID i64, ds i32, data i32) with no result; it is ${cb.kind === "func" ? formatFuncType(cb.type!) : `a ${cb.kind}`}` };
  }

  const names = new Set(m.exports.map((e) => e.name));
  if (names.has("_start") && !names.has("_initialize")) {
    return {
      what: "wasm module is a WASI command (it exports _start)",
      why: "ig runs only _initialize, so the module's runtime would never be initialised",
      hint: kind === "go" ? "build with -buildmode=c-shared" : kind === "c" ? "build a reactor: clang -mexec-model=reactor" : "build a WASI reactor (exports _initialize, not _start)",
    };
  }

  const mem = m.memories[0];
  if (!mem) return { what: "wasm module has no memory", why: "ig's host functions and WASI exchange data through the module's memory" };
  if (mem.min > IG_MEMORY_LIMIT_PAGES) {
    return { what: "wasm module needs too much memory", why: `its memory starts at ${mem.min} pages (${mem.min / 16} MiB); ig limits modules to ${IG_MEMORY_LIMIT_PAGES} pages (16 MiB)` };
  }
  return undefined;
}
