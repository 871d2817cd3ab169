/**
 * The public API, loaded lazily: the built-in stages import only `defineStage` and types from
 * core/types.js up front, so clang can be spawned before the rest has loaded.
 * `api()` is the light stage-author entry ("gadget/stage": errors, OCI model, pack, names, BPF
 * object and metadata checks); `library()` the whole library ("gadget"), for the publish stages.
 */
import type { GadgetErrorInit } from "../core/stage-api.js";

type StageApi = typeof import("../core/stage-api.js");
type Library = typeof import("../core/index.js");
let loadingApi: Promise<StageApi> | undefined;
let loadingLibrary: Promise<Library> | undefined;

export function api(): Promise<StageApi> {
  return (loadingApi ??= import("../core/stage-api.js"));
}

export function library(): Promise<Library> {
  return (loadingLibrary ??= import("../core/index.js"));
}

/** A GadgetError (the class lives in the lazily loaded API). */
export async function gadgetError(init: GadgetErrorInit): Promise<Error> {
  const { GadgetError } = await api();
  return new GadgetError(init);
}
