/**
 * What `ig image inspect` reports about a gadget's wasm module (pkg/operators/wasm/extrainfo.go):
 * `wasm.upcalls`, the functions it imports from ig's host module `ig` (in import order), and
 * `wasm.gadgetAPIVersion`, the number its `gadgetAPIVersion` export returns. Like ig, we have to
 * run the module for the latter: it is instantiated in a worker thread with WASI (Node's
 * node:wasi, no files, no environment) and stand-ins for ig's host functions, `_initialize` runs
 * when exported (a reactor), then `gadgetAPIVersion()`; the worker is killed after 5 seconds.
 */
import { Worker } from "node:worker_threads";
import { GadgetError } from "../errors.js";

export function wasmUpcalls(bytes: Uint8Array): string[] {
  let mod: WebAssembly.Module;
  try {
    mod = new WebAssembly.Module(new Uint8Array(bytes));
  } catch (e) {
    throw new GadgetError({ what: "reading wasm module", why: (e as Error).message, code: "BAD_WASM" });
  }
  return WebAssembly.Module.imports(mod)
    .filter((i) => i.module === "ig" && i.kind === "function")
    .map((i) => i.name);
}

const TIMEOUT_MS = 5000;

export function wasmApiVersion(bytes: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(import.meta.url.endsWith(".ts") ? "./wasm-api-version-worker.ts" : "./wasm-api-version-worker.js", import.meta.url);
    const worker = new Worker(url, { workerData: bytes, stdout: true, stderr: true });
    const fail = (why: string) => new GadgetError({ what: "reading the wasm module's API version", why, code: "BAD_WASM" });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(fail(`gadgetAPIVersion() did not return within ${TIMEOUT_MS / 1000} s`));
    }, TIMEOUT_MS);
    worker.once("message", (m: { ok: boolean; value?: string; error?: string }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (m.ok) resolve(m.value!);
      else reject(fail(m.error ?? "unknown error"));
    });
    worker.once("error", (e) => {
      clearTimeout(timer);
      reject(fail(e.message));
    });
  });
}
