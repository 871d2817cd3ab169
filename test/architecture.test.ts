/**
 * The walls between layers, checked on the sources (every static `import … from` and dynamic
 * `import("…")`): the engine and the libraries under core/ never import the CLI; `import "gadget"`
 * (core/index.ts) reaches no CLI module; core never imports a plugin or a recipe by path.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT } from "./helpers/cli.js";

const LIBRARY_DIRS = ["engine", "registry", "image", "store", "oci", "tar", "btf", "sign", "auth", "gadgetfile", "metadata"];

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Relative import specifiers of a file (static, re-exports, type-only and dynamic), resolved to .ts paths. */
function importsOf(file: string): string[] {
  const src = readFileSync(file, "utf8");
  const specs = new Set<string>();
  for (const m of src.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']/g)) specs.add(m[1]!);
  for (const m of src.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) specs.add(m[1]!);
  for (const m of src.matchAll(/^\s*import\s+["']([^"']+)["']/gm)) specs.add(m[1]!);
  return [...specs].filter((s) => s.startsWith(".")).map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

describe("architecture", () => {
  it("nothing under core/{engine,registry,image,…} imports core/cli", () => {
    const cli = join(REPO_ROOT, "core", "cli");
    const offenders: string[] = [];
    for (const d of LIBRARY_DIRS) {
      for (const f of tsFiles(join(REPO_ROOT, "core", d))) {
        for (const target of importsOf(f)) if (target.startsWith(cli + "/")) offenders.push(`${relative(REPO_ROOT, f)} → ${relative(REPO_ROOT, target)}`);
      }
    }
    expect(offenders).toEqual([]);
    // the check sees imports at all (a wall test that finds nothing to check would pass vacuously)
    expect(importsOf(join(REPO_ROOT, "core", "engine", "run-graph.ts")).length).toBeGreaterThan(3);
  });

  it('`import "gadget"` reaches no CLI module, and core never imports plugins/ or recipes/', () => {
    const seen = new Set<string>();
    const queue = [join(REPO_ROOT, "core", "index.ts")];
    while (queue.length) {
      const f = queue.pop()!;
      if (seen.has(f) || !existsSync(f)) continue;
      seen.add(f);
      queue.push(...importsOf(f));
    }
    const reached = [...seen].map((f) => relative(REPO_ROOT, f));
    expect(reached.filter((f) => f.startsWith("core/cli/"))).toEqual([]);
    expect(reached.filter((f) => f.startsWith("plugins/") || f.startsWith("recipes/"))).toEqual([]);
    expect(reached).toContain("core/engine/run-graph.ts");
    expect(reached).toContain("core/registry/client.ts");
    // and nothing in core at all imports a plugin or a recipe module
    const all = tsFiles(join(REPO_ROOT, "core")).flatMap((f) => importsOf(f).map((t) => `${relative(REPO_ROOT, f)} → ${relative(REPO_ROOT, t)}`));
    expect(all.filter((x) => / → (plugins|recipes)\//.test(x))).toEqual([]);
  });
});
