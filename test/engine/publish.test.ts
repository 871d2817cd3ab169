import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { copyFixture, requireTool, type Repo, type RunJson } from "./helpers.js";

describe("gadget run publish: build + the gadgetfile's publish targets (real registry, real tar)", () => {
  let repo: Repo;
  let reg: RunningRegistry;
  beforeAll(async () => {
    requireTool("clang");
    requireTool("docker-registry");
    reg = await startRegistry();
    repo = await copyFixture("repo3");
    const plugin = (n: string) => JSON.stringify(join(REPO_ROOT, "dist", "plugins", `${n}.js`));
    await writeFile(
      join(repo.dir, "gadgetfile.ts"),
      `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { archs: ["amd64"], tag: "acme/{name}:v1" },
  // push and tar-export are built-in stages; loading them as plugin files works the same way
  plugins: [${plugin("push")}, ${plugin("tar-export")}],
  publish: [
    { type: "push", tag: "${reg.host}/acme/{name}:v1", insecure: true },
    { type: "tar-export", file: "out/gadgets.tar" },
  ],
});
`,
    );
  });
  afterAll(async () => {
    await repo?.cleanup();
    await reg?.stop();
  });

  it("pushes every gadget and exports them all into one tar", async () => {
    const r = await repo.run(["run", "publish", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as RunJson & { gadgets: { name: string; digest: string; results: Record<string, Record<string, unknown>> }[] };
    expect(j.tasks).toEqual(["build", "publish"]);
    for (const g of j.gadgets) {
      expect(g.results.push).toMatchObject({ reference: `${reg.host}/acme/${g.name}:v1`, digest: g.digest, pushed: true });
      const res = await fetch(`${reg.url}/v2/acme/${g.name}/manifests/v1`, { headers: { Accept: "application/vnd.oci.image.index.v1+json" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("docker-content-digest")).toBe(g.digest);
    }
    const index = JSON.parse(execFileSync("tar", ["-xOf", join(repo.dir, "out", "gadgets.tar"), "index.json"], { encoding: "utf8" })) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const refs = index.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]).filter(Boolean).sort();
    expect(refs).toEqual(["ghcr.io/acme/exec_count:v1", "ghcr.io/acme/open_count:v1", "ghcr.io/acme/tcp_count:v1"]);
    const byRef = new Map(index.manifests.map((m) => [m.annotations?.["org.opencontainers.image.ref.name"], m.digest]));
    for (const g of j.gadgets) expect(byRef.get(`ghcr.io/acme/${g.name}:v1`)).toBe(g.digest);
  });

  it("a push target's registry error names gadget run's flag and the target's option", async () => {
    const gf = await readFile(join(repo.dir, "gadgetfile.ts"), "utf8");
    await writeFile(join(repo.dir, "gadgetfile.ts"), gf.replace(", insecure: true", ""));
    try {
      const r = await repo.run(["run", "publish", "--only", "exec_count"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`hint: if ${reg.host} serves plain HTTP, pass --insecure-registries ${reg.host} (or set insecureRegistries: ["${reg.host}"] on the push target)\n`);
    } finally {
      await writeFile(join(repo.dir, "gadgetfile.ts"), gf);
    }
  });
});
