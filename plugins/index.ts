/**
 * gadget's built-in stages, written against the same public API (`defineStage`) as anyone's
 * plugin stages. The engine loads this module by dynamic import (core never imports plugins).
 * The publish stages (push.ts, tar-export.ts, sign.ts) are separate files the engine loads only
 * when a step names them.
 */
import type { Stage } from "../core/index.js";
import { clangStage } from "./clang.js";
import { stripStage } from "./strip.js";
import { wasmStage } from "./wasm.js";
import { btfgenStage } from "./btfgen.js";
import { ociPackStage } from "./oci-pack.js";
import { storeTagStage } from "./store-tag.js";

export const stages: Stage<any>[] = [clangStage, stripStage, wasmStage, btfgenStage, ociPackStage, storeTagStage];

export { clangStage, stripStage, wasmStage, btfgenStage, ociPackStage, storeTagStage };
