/**
 * undici's connection Agent, loaded as cheaply as a short-lived CLI needs: `scripts/build.mjs`
 * bundles the Agent and its `request` method (nothing of undici's fetch, cookies or WebSocket)
 * into one file, `dist/vendor/undici-agent.cjs`, which loads in ~half the time of the package's
 * ~100 files. From the TypeScript sources (tests) or when the bundle is missing, the package.
 */
import { createRequire } from "node:module";
import { setFlagsFromString } from "node:v8";
import type { Agent } from "undici";

type AgentClass = typeof Agent;

/** Where the bundle sits relative to this module once built (`dist/core/registry/undici.js`). */
export const VENDORED_AGENT = "../../vendor/undici-agent.cjs";

let loaded: Promise<AgentClass> | undefined;

export function loadAgentClass(): Promise<AgentClass> {
  loaded ??= (async () => {
    // undici parses HTTP with llhttp compiled to wasm. V8 compiles it at once with its baseline
    // compiler and then optimises it on background threads, and a process waits for those at its
    // exit: 65–110 ms after a registry command's last line, measured. The baseline code parses a
    // 100 MB download as fast (only headers are parsed; bodies pass through): keep to it.
    setFlagsFromString("--liftoff-only");
    try {
      const require = createRequire(import.meta.url);
      return (require(VENDORED_AGENT) as { Agent: AgentClass }).Agent;
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code !== "MODULE_NOT_FOUND") throw e;
      return (await import("undici")).Agent;
    }
  })();
  return loaded;
}
