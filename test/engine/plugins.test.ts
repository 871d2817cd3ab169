// Runs pass --keep-old: reverts expect the earlier images (which their cache entries name) still in the store.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { copyFixture, digests, explainLines, requireTool, type Repo } from "./helpers.js";
import { loadPlugins, resolvePackageEntry } from "../../core/engine/plugins.js";
import { FIXTURES } from "./helpers.js";

async function indexAnnotations(store: string, digest: string): Promise<Record<string, string>> {
  const idx = JSON.parse(await readFile(join(store, "blobs", "sha256", digest.slice(7)), "utf8")) as { annotations?: Record<string, string>; manifests: { digest: string }[] };
  const m = JSON.parse(await readFile(join(store, "blobs", "sha256", idx.manifests[0]!.digest.slice(7)), "utf8")) as { annotations?: Record<string, string> };
  return { ...(idx.annotations ?? {}), ...(m.annotations ?? {}) };
}

describe("custom stages from a local file and from an npm package", () => {
  let repo: Repo;
  beforeAll(async () => {
    requireTool("clang");
    repo = await copyFixture("plugins");
  });
  afterAll(async () => repo?.cleanup());

  it("loadPlugins finds the package's ESM entry through node_modules and bundles the local .ts with its imports", async () => {
    const dir = join(FIXTURES, "plugins");
    expect(resolvePackageEntry("@acme/gadget-lint", join(dir, "gadgets", "hello"))).toBe(join(dir, "node_modules", "@acme", "gadget-lint", "index.js"));
    const stages = await loadPlugins(["./stages/lint.ts", "@acme/gadget-lint"], dir);
    expect([...stages.keys()]).toEqual(["lint", "@acme/license"]);
  });

  it("their outputs feed oci-pack: the annotations are in the built image", async () => {
    const r = await repo.run(["run", "--keep-old", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const d = digests(r).hello!;
    const ann = await indexAnnotations(repo.store, d);
    expect(ann["com.acme.license"]).toBe("GPL-2.0");
    expect(ann["com.acme.lint.lines"]).toMatch(/^\d+$/);
    expect(ann["com.acme.lint"]).toBe(`ok ${ann["com.acme.lint.lines"]}`);
  });

  it("custom stages are cached like built-ins, and re-run when their input changes", async () => {
    const again = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    const ex = explainLines(again.stderr);
    expect(ex.get("hello lint")).toBe("hit");
    expect(ex.get("hello @acme/license")).toBe("hit");
    await appendFile(join(repo.dir, "gadgets", "hello", "program.bpf.c"), "\n// one more line\n");
    const r = await repo.run(["run", "--keep-old", "--json", "--explain"]);
    expect(r.code).toBe(0);
    const ex2 = explainLines(r.stderr);
    expect(ex2.get("hello lint")).toBe("miss: gadgets/hello/program.bpf.c changed");
    const before = Number((await indexAnnotations(repo.store, digests(again).hello!))["com.acme.lint.lines"]);
    expect(Number((await indexAnnotations(repo.store, digests(r).hello!))["com.acme.lint.lines"])).toBe(before + 1);
  });

  it("a failing custom stage fails the gadget with its GadgetError", async () => {
    const src = join(repo.dir, "gadgets", "hello", "program.bpf.c");
    const text = await readFile(src, "utf8");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(src, text.replace("SPDX-License-Identifier", "License"));
    const r = await repo.run(["run", "--keep-old"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: lint failed \(.*program\.bpf\.c\): no SPDX-License-Identifier line$/m);
  });
});
