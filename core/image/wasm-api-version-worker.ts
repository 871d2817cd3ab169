/** Worker of wasm-info.ts: instantiate the module (WASI + stand-ins for ig's host functions) and call gadgetAPIVersion. */
import { parentPort, workerData } from "node:worker_threads";

// node:wasi is experimental in Node 20: keep its warning off the user's terminal
process.removeAllListeners("warning");
process.on("warning", () => {});

async function main(): Promise<string> {
  const { WASI } = await import("node:wasi");
  const bytes = workerData as Uint8Array;
  const mod = new WebAssembly.Module(new Uint8Array(bytes));
  const wasi = new WASI({ version: "preview1", args: [], env: {}, preopens: {}, returnOnExit: true });
  const imports: WebAssembly.Imports = { wasi_snapshot_preview1: (wasi.getImportObject() as Record<string, WebAssembly.ModuleImports>).wasi_snapshot_preview1! };
  for (const i of WebAssembly.Module.imports(mod)) {
    if (i.module === "wasi_snapshot_preview1") continue;
    const m = (imports[i.module] ??= {});
    if (i.kind === "function") m[i.name] = () => 0;
    else if (i.kind === "memory") m[i.name] = new WebAssembly.Memory({ initial: 1 });
    else if (i.kind === "table") m[i.name] = new WebAssembly.Table({ initial: 0, element: "anyfunc" });
    else if (i.kind === "global") m[i.name] = new WebAssembly.Global({ value: "i32", mutable: false }, 0);
  }
  const instance = new WebAssembly.Instance(mod, imports);
  const exports = instance.exports as Record<string, unknown>;
  if (typeof exports._initialize === "function") wasi.initialize(instance);
  const fn = exports.gadgetAPIVersion;
  if (typeof fn !== "function") throw new Error("the module does not export gadgetAPIVersion");
  const v = (fn as () => number | bigint)();
  // ig prints the result as a uint64 (wazero hands i32 results over zero-extended)
  return typeof v === "bigint" ? BigInt.asUintN(64, v).toString() : String(v >>> 0);
}

main().then(
  (value) => parentPort!.postMessage({ ok: true, value }),
  (e: unknown) => parentPort!.postMessage({ ok: false, error: (e as Error).message }),
);
