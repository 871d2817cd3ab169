/**
 * gadget's built-in stages, written against the same public API (`defineStage`) as anyone's
 * plugin stages. The engine loads this table by dynamic import (core never imports plugins) and
 * then only the stages a run names, so a build never loads the registry client, the tar writer
 * or the signing code. Adding a built-in stage: its own file, and one line here.
 */
import type { Stage } from "../core/types.js";

export const builtinStages: Readonly<Record<string, () => Promise<Stage>>> = {
  clang: async () => (await import("./clang.js")).clangStage,
  strip: async () => (await import("./strip.js")).stripStage,
  wasm: async () => (await import("./wasm.js")).wasmStage,
  btfgen: async () => (await import("./btfgen.js")).btfgenStage,
  "oci-pack": async () => (await import("./oci-pack.js")).ociPackStage,
  "store-tag": async () => (await import("./store-tag.js")).storeTagStage,
  push: async () => (await import("./push.js")).pushStage,
  "tar-export": async () => (await import("./tar-export.js")).tarExportStage,
  sign: async () => (await import("./sign.js")).signStage,
  check: async () => (await import("./check.js")).checkStage,
};
