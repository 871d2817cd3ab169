/**
 * The public library (core/index.js), loaded lazily: the built-in stages import only
 * `defineStage` and types from core/types.js up front, so clang can be spawned before the
 * rest of the library (YAML, OCI, store…) has loaded; the library then loads while clang runs.
 */
import type { GadgetErrorInit } from "../core/index.js";

type Api = typeof import("../core/index.js");
let loading: Promise<Api> | undefined;

export function api(): Promise<Api> {
  return (loading ??= import("../core/index.js"));
}

/** A GadgetError (the class lives in the lazily loaded library). */
export async function gadgetError(init: GadgetErrorInit): Promise<Error> {
  const { GadgetError } = await api();
  return new GadgetError(init);
}
