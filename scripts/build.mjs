// Transpiles core/, plugins/ and recipes/ to dist/ with esbuild (one file per module, so
// `gadget --version` loads only what it needs). Runs on `npm ci` (prepare) and before tests.
// Type checking is `npm run typecheck` (tsc --noEmit); esbuild only strips types.
import { build } from "esbuild";
import { readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const sourceDirs = ["core", "plugins", "recipes"];

function listTs(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts") && !name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const entryPoints = sourceDirs.flatMap((d) => listTs(join(root, d)));
// dist/ is overwritten in place (not removed first) so a test running the CLI never sees it missing.
mkdirSync(join(root, "dist"), { recursive: true });
await build({
  entryPoints,
  outdir: join(root, "dist"),
  outbase: root,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
});
// undici's Agent and its request method as one file (core/registry/undici.ts): a registry command
// loads it in ~half the time of the package's ~100 modules, and none of undici's fetch/WebSocket.
await build({
  stdin: {
    contents: [
      'const Agent = require("undici/lib/dispatcher/agent.js");',
      'const Dispatcher = require("undici/lib/dispatcher/dispatcher.js");',
      'Dispatcher.prototype.request = require("undici/lib/api/api-request.js");',
      "module.exports = { Agent };",
    ].join("\n"),
    resolveDir: root,
    loader: "js",
  },
  bundle: true,
  outfile: join(root, "dist", "vendor", "undici-agent.cjs"),
  format: "cjs",
  platform: "node",
  target: "node20",
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
});
writeFileSync(join(root, "dist", ".built"), new Date().toISOString() + "\n");
