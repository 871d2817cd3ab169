/**
 * The `yaml` library, loaded on first use (it costs ~50 ms to import, and most commands never
 * parse YAML). Synchronous, so parsers stay synchronous.
 */
import { createRequire } from "node:module";

type YamlModule = typeof import("yaml");
let cached: YamlModule | undefined;

export function yaml(): YamlModule {
  cached ??= createRequire(import.meta.url)("yaml") as YamlModule;
  return cached;
}
