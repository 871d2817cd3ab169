#!/usr/bin/env node
// Entry point: runs the compiled CLI from dist/ (built by `npm ci` via the prepare script).
const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === "--version") {
  const { readFileSync } = await import("node:fs");
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(`gadget v${pkg.version}\n`);
} else {
  const { main } = await import("../dist/core/cli/main.js");
  process.exitCode = await main(argv);
}
