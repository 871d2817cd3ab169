/** Shared setup for engine tests: a copy of a fixture repo in a temp dir, and a store beside it. */
import { cp, mkdir } from "node:fs/promises";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { runGadget, tempDir, type RunResult } from "../helpers/cli.js";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

/** Fail (never skip) when a tool is missing. */
export function requireTool(tool: string): void {
  try {
    execFileSync(tool, ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error(`${tool} not found: run scripts/bootstrap`);
  }
}

export interface Repo {
  dir: string;
  store: string;
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
  cleanup(): Promise<void>;
}

export async function copyFixture(name: string): Promise<Repo> {
  const t = await tempDir("gadget-engine-");
  const dir = join(t.dir, "repo");
  await cp(join(FIXTURES, name), dir, { recursive: true });
  await cp(join(FIXTURES, "_shared"), join(dir, "_shared"), { recursive: true }); // the gadgets' common body
  const store = join(t.dir, "store");
  await mkdir(store);
  return {
    dir,
    store,
    run: (args, env) => runGadget([...args, "--oci-store", store], { cwd: dir, env: { SOURCE_DATE_EPOCH: "1700000000", ...env } }),
    cleanup: t.cleanup,
  };
}

export interface RunJson {
  ok: boolean;
  tasks: string[];
  gadgets: { name: string; ok: boolean; digest?: string; reference?: string; hits: number; misses: number; error?: string }[];
}

export function digests(r: RunResult): Record<string, string> {
  const j = JSON.parse(r.stdout) as RunJson;
  return Object.fromEntries(j.gadgets.map((g) => [g.name, g.digest ?? ""]));
}

/** `<gadget> <stage>@<arch>: hit|miss: reason` lines printed by --explain. */
export function explainLines(stderr: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of stderr.split("\n")) {
    const x = /^(\S+ \S+): (hit|miss: .*)$/.exec(l);
    if (x) m.set(x[1]!, x[2]!);
  }
  return m;
}

/**
 * A second installation of gadget (bin/, dist/, package.json, node_modules linked) in `dir`: with
 * another version in package.json, or without some dependencies (e.g. the optional TypeScript).
 */
export async function copyInstallation(dir: string, o: { version?: string; without?: string[] } = {}): Promise<string> {
  const { cp, mkdir, readdir, readFile, symlink, writeFile } = await import("node:fs/promises");
  const { REPO_ROOT } = await import("../helpers/cli.js");
  await mkdir(join(dir, "node_modules"), { recursive: true });
  await cp(join(REPO_ROOT, "bin"), join(dir, "bin"), { recursive: true });
  await cp(join(REPO_ROOT, "dist"), join(dir, "dist"), { recursive: true });
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  if (o.version) pkg.version = o.version;
  await writeFile(join(dir, "package.json"), JSON.stringify(pkg, null, 2));
  for (const name of await readdir(join(REPO_ROOT, "node_modules"))) {
    if (name === ".bin" || (o.without ?? []).includes(name)) continue;
    await symlink(join(REPO_ROOT, "node_modules", name), join(dir, "node_modules", name));
  }
  return join(dir, "bin", "gadget.js");
}

/** Annotations of an image in a store: the index's and its first manifest's. */
export async function imageAnnotations(store: string, digest: string): Promise<Record<string, string>> {
  const { readFile } = await import("node:fs/promises");
  const blob = (d: string) => join(store, "blobs", "sha256", d.slice(7));
  const idx = JSON.parse(await readFile(blob(digest), "utf8")) as { annotations?: Record<string, string>; manifests: { digest: string }[] };
  const m = JSON.parse(await readFile(blob(idx.manifests[0]!.digest), "utf8")) as { annotations?: Record<string, string> };
  return { ...(idx.annotations ?? {}), ...(m.annotations ?? {}) };
}
