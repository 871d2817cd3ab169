/** The package version, read once from package.json (no JSON import cost at start-up). */
import { readFileSync } from "node:fs";

let cached: string | undefined;

export function packageVersion(): string {
  if (cached === undefined) {
    // dist/core/version.js, or core/version.ts when run from sources (in-process tests)
    const rel = import.meta.url.endsWith(".ts") ? "../package.json" : "../../package.json";
    const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { version: string };
    cached = pkg.version;
  }
  return cached;
}

/** Written as io.inspektor-gadget.builder.version: semver-valid, and says who built it. */
export function builderVersion(): string {
  return `v${packageVersion()}+gadget`;
}
