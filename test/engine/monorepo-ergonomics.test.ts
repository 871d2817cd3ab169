/**
 * Monorepo and plugin-author ergonomics (issue 12): `--only` (names, folders, globs), a run from a
 * subfolder finds the gadgetfile above it, `gadget init --monorepo` scaffolds a repository that
 * type-checks and builds as it is, `gadget typecheck` / `gadget run --typecheck` report
 * `file:line:col`, and a clear error with the install command when TypeScript is absent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCommand, runGadget, tempDir } from "../helpers/cli.js";
import { FIXTURES, copyInstallation, requireTool, type RunJson } from "./helpers.js";

describe("--only and runs from a subfolder (the monorepo fixture)", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const run = (args: string[], cwd = dir) => runGadget([...args, "--oci-store", join(dir, "..", "store")], { cwd, env: { SOURCE_DATE_EPOCH: "1700000000" } });
  beforeAll(async () => {
    requireTool("clang");
    const t = await tempDir("gadget-only-");
    cleanup = t.cleanup;
    dir = join(t.dir, "repo");
    await cp(join(FIXTURES, "monorepo"), dir, { recursive: true });
    await cp(join(FIXTURES, "_shared"), join(dir, "_shared"), { recursive: true });
  });
  afterAll(async () => cleanup?.());

  it("--only NAME builds only that gadget", async () => {
    const r = await run(["run", "--only", "open_files", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as RunJson).gadgets.map((g) => g.name)).toEqual(["open_files"]);
    const refs = JSON.parse(await readFile(join(dir, "..", "store", "index.json"), "utf8")) as { manifests: { annotations?: Record<string, string> }[] };
    expect(refs.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"])).toEqual(["ghcr.io/acme/open_files:dev"]);
  });

  it("--only takes folders and globs, several at once", async () => {
    const names = async (only: string) => (JSON.parse((await run(["run", "--dry", "--json", "--only", only])).stdout) as { gadgets: { name: string }[] }).gadgets.map((g) => g.name);
    expect(await names("net/*")).toEqual(["tcp_state"]);
    expect(await names("*_files,tcp_state")).toEqual(["open_files", "tcp_state"]);
    expect(await names("**/open_*")).toEqual(["open_files"]);
  });

  it("--only with a name that matches nothing is a usage error naming the gadgets", async () => {
    const r = await run(["run", "--only", "nope"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('Error: no such gadget (--only nope): "nope" matches no gadget\'s name or folder\nhint: gadgets: open_files, tcp_state\n');
  });

  it("a run from a gadget's folder finds the gadgetfile above it (and its cache)", async () => {
    const sub = join(dir, "net", "tcp_state");
    const r = await run(["run", "--json", "--explain"], sub);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as RunJson).gadgets.map((g) => g.name)).toEqual(["open_files", "tcp_state"]);
    // open_files was built by the first test from the root: the same cache
    expect(r.stderr).toMatch(/^open_files clang@amd64: hit$/m);
    expect(existsSync(join(sub, ".gadget"))).toBe(false);
    const only = await run(["run", "--only", "tcp_state", "--dry"], sub);
    expect(only.stdout).toMatch(/^gadgets \(1\):\n {2}tcp_state {2}net\/tcp_state/m);
  });
});

describe("gadget init --monorepo, gadget typecheck, gadget run --typecheck", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  beforeAll(async () => {
    requireTool("clang");
    ({ dir, cleanup } = await tempDir("gadget-init-mono-"));
    repo = join(dir, "x");
  });
  afterAll(async () => cleanup?.());

  it("scaffolds a gadgetfile, gadgets/ with one gadget, stages/ with one stage, tsconfig.json and package.json", async () => {
    const r = await runGadget(["init", "--monorepo", "x"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      "Created a gadget repository in x: gadgetfile.ts, gadgets/open_count/program.bpf.c, gadgets/open_count/gadget.yaml, stages/spdx.ts, tsconfig.json, package.json, .gitignore\nNext: cd x && gadget typecheck && gadget run\n",
    );
    const pkg = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as { type: string; devDependencies: Record<string, string> };
    expect(pkg.type).toBe("module");
    expect(Object.keys(pkg.devDependencies).sort()).toEqual(["@types/node", "typescript"]);
    expect(await readFile(join(repo, "tsconfig.json"), "utf8")).toMatch(/"gadget": \[".*core\/index\.ts"\]/);
    const again = await runGadget(["init", "--monorepo", "x"], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^Error: cannot scaffold a gadget \(x\): gadgetfile\.ts, .* already exist$/m);
  });

  it("`gadget typecheck && gadget run` is green as scaffolded", async () => {
    const tc = await runGadget(["typecheck"], { cwd: repo });
    expect(tc.stderr).toBe("");
    expect(tc.code).toBe(0);
    expect(tc.stdout).toMatch(/^✓ no type errors: gadgetfile\.ts and 1 stage \(2 files, TypeScript \d+\.\d+\.\d+\)\n$/);
    const r = await runGadget(["run", "--oci-store", join(dir, "store")], { cwd: repo, env: { SOURCE_DATE_EPOCH: "1700000000" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^✓ open_count \d+ ms sha256:[a-f0-9]{64}\n$/);
    const idx = JSON.parse(await readFile(join(dir, "store", "index.json"), "utf8")) as { manifests: { digest: string }[] };
    const index = JSON.parse(await readFile(join(dir, "store", "blobs", "sha256", idx.manifests[0]!.digest.slice(7)), "utf8")) as { manifests: { digest: string }[] };
    const m = JSON.parse(await readFile(join(dir, "store", "blobs", "sha256", index.manifests[0]!.digest.slice(7)), "utf8")) as { annotations: Record<string, string> };
    expect(m.annotations["org.opencontainers.image.licenses"]).toBe("GPL-2.0"); // the example stage ran
  });

  it("a type error in the gadgetfile: `gadget typecheck` exits 1 with file:line:col; `gadget run --typecheck` builds nothing", async () => {
    const gf = join(repo, "gadgetfile.ts");
    const good = await readFile(gf, "utf8");
    await writeFile(gf, good.replace('archs: ["amd64", "arm64"],', 'archs: ["amd64", "arm64"],\n    cflags: "-DX=1",'));
    try {
      const line = (await readFile(gf, "utf8")).split("\n").findIndex((l) => l.includes("cflags:")) + 1;
      const tc = await runGadget(["typecheck"], { cwd: repo });
      expect(tc.code).toBe(1);
      expect(tc.stdout).toMatch(new RegExp(`^gadgetfile\\.ts:${line}:5: Type 'string' is not assignable to type 'string\\[\\]'\\. \\(TS2322\\)\\n$`));
      expect(tc.stderr).toBe("Error: type check failed (gadgetfile.ts): 1 error in 1 file\n");
      const before = await readdir(join(dir, "store", "blobs", "sha256"));
      const r = await runGadget(["run", "--typecheck", "--oci-store", join(dir, "store")], { cwd: repo });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`gadgetfile.ts:${line}:5: `);
      expect(r.stderr).toBe("Error: type check failed (gadgetfile.ts): 1 error in 1 file\n");
      expect(await readdir(join(dir, "store", "blobs", "sha256"))).toEqual(before);
    } finally {
      await writeFile(gf, good);
    }
  });

  it("a type error in a local stage is reported at its line; from a subfolder too", async () => {
    const stage = join(repo, "stages", "spdx.ts");
    const good = await readFile(stage, "utf8");
    await writeFile(stage, good.replace('version: "1",', "version: 1,"));
    try {
      const line = (await readFile(stage, "utf8")).split("\n").findIndex((l) => l.includes("version: 1,")) + 1;
      const tc = await runGadget(["typecheck"], { cwd: join(repo, "gadgets", "open_count") });
      expect(tc.code).toBe(1);
      expect(tc.stdout).toMatch(new RegExp(`^\\.\\./\\.\\./stages/spdx\\.ts:${line}:3: Type 'number' is not assignable to type 'string'\\. \\(TS2322\\)$`, "m"));
      // a clean run with --typecheck goes on to build
      await writeFile(stage, good);
      const r = await runGadget(["run", "--typecheck", "--oci-store", join(dir, "store")], { cwd: repo });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^✓ open_count /);
    } finally {
      await writeFile(stage, good);
    }
  });

  it("without TypeScript (an optional dependency) `gadget typecheck` says how to install it", async () => {
    const t = await tempDir("gadget-install-");
    try {
      const bin = await copyInstallation(t.dir, { without: ["typescript"] });
      const r = await runCommand(process.execPath, [bin, "typecheck"], { cwd: repo });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        "Error: cannot type-check (typescript): TypeScript is not installed (an optional dependency of gadget: only `gadget typecheck` needs it)\nhint: install it in your project: npm install --save-dev typescript @types/node\n",
      );
      // the build itself does not need it
      const b = await runCommand(process.execPath, [bin, "run", "--oci-store", join(dir, "store")], { cwd: repo, env: { SOURCE_DATE_EPOCH: "1700000000" } });
      expect(b.code, b.stderr).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
