import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readdir, writeFile, cp } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { FIXTURES, requireTool } from "./helpers.js";

describe("gadget init", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    requireTool("clang");
    ({ dir, cleanup } = await tempDir("gadget-init-"));
  });
  afterAll(async () => cleanup?.());

  it("scaffolds program.bpf.c, gadget.yaml and gadgetfile.ts that build on the first try", async () => {
    const r = await runGadget(["init", "hello-world"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("Created gadget hello-world in hello-world: program.bpf.c, gadget.yaml, gadgetfile.ts\nNext: cd hello-world && gadget run\n");
    const g = join(dir, "hello-world");
    expect((await readdir(g)).sort()).toEqual(["gadget.yaml", "gadgetfile.ts", "program.bpf.c"]);
    const b = await runGadget(["run", "--oci-store", join(dir, "store")], { cwd: g });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/^✓ hello-world \d+ ms sha256:[a-f0-9]{64}\n$/);
    const list = await runGadget(["image", "list", "--oci-store", join(dir, "store"), "--no-trunc"], { cwd: g });
    expect(list.stdout).toMatch(/hello-world\s+latest\s+sha256:/);
  });

  it("refuses to overwrite an existing gadget (exit 1)", async () => {
    const r = await runGadget(["init", "hello-world"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: cannot scaffold a gadget \(hello-world\): program\.bpf\.c, gadget\.yaml, gadgetfile\.ts already exist$/m);
  });
});

describe("the monorepo recipe", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir("gadget-mono-"));
    await cp(join(FIXTURES, "monorepo"), dir, { recursive: true });
    await cp(join(FIXTURES, "_shared"), join(dir, "_shared"), { recursive: true });
    // folders that are never gadgets: dependencies and hidden ones
    for (const d of ["node_modules/dep/bpf", ".hidden/x"]) {
      await mkdir(join(dir, d), { recursive: true });
      await writeFile(join(dir, d, "program.bpf.c"), "#error not a gadget\n");
    }
  });
  afterAll(async () => cleanup?.());

  it("every folder with program.bpf.c is a gadget (gadget/recipes/monorepo import), overrides apply", async () => {
    const r = await runGadget(["run", "--dry", "--json"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as { gadgets: { name: string; dir: string; tag: string; archs: string[]; cflags: string[] }[] };
    expect(plan.gadgets.map((g) => g.name)).toEqual(["open_files", "tcp_state"]);
    const tcp = plan.gadgets.find((g) => g.name === "tcp_state")!;
    expect(tcp).toMatchObject({ dir: join(dir, "net", "tcp_state"), tag: "ghcr.io/acme/tcp_state:dev", archs: ["amd64"], cflags: ["-DTCP_EXTRA=1"] });
  });

  it("builds them", async () => {
    const r = await runGadget(["run", "--oci-store", join(dir, "store")], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual(["✓ open_files", "✓ tcp_state"]);
  });
});
