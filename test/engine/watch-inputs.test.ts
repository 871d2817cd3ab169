/**
 * `--watch` watches exactly what the cache keys read: a header outside the repository that clang
 * read (like /usr/include/gadget/*.h), and a local stage's code (editing it rebuilds its steps,
 * not just "reloaded").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GADGET_BIN, tempDir } from "../helpers/cli.js";
import { requireTool } from "./helpers.js";

class Proc {
  stdout = "";
  stderr = "";
  exit: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (d) => (this.stdout += d));
    child.stderr!.on("data", (d) => (this.stderr += d));
    this.exit = new Promise((r) => child.on("exit", (code) => r(code)));
  }
  lines(from = 0): string[] {
    return this.stdout.split("\n").filter(Boolean).slice(from);
  }
  async waitFor(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (this.child.exitCode !== null) throw new Error(`watch exited (${this.child.exitCode}) while waiting for ${what}\n${this.stdout}\n${this.stderr}`);
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const PROGRAM = (n: string) => `// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
${n === "a" ? "#include <gadget_ext/limits.h>\n" : "#define EXT_LIMIT 7\n"}
struct {
\t__uint(type, BPF_MAP_TYPE_ARRAY);
\t__uint(max_entries, EXT_LIMIT);
\t__type(key, __u32);
\t__type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int count_${n}(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

const STAGE = (label: string) => `import { defineStage } from "gadget";
export default defineStage({
  name: "label",
  version: "1",
  inputs: (ctx) => ({ args: { name: ctx.gadget.name } }),
  async run() {
    return { annotations: { "com.acme.label": "${label}" } };
  },
});
`;

describe("gadget run --watch: exactly what the keys read", () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let header: string;
  let p: Proc;
  beforeAll(async () => {
    requireTool("clang");
    ({ dir: root, cleanup } = await tempDir("gadget-watch-ext-"));
    repo = join(root, "repo");
    // a header outside the repository, found through -I (as ig's /usr/include/gadget/<arch>/)
    const sysinc = join(root, "sysinc");
    await mkdir(join(sysinc, "gadget_ext"), { recursive: true });
    header = join(sysinc, "gadget_ext", "limits.h");
    await writeFile(header, "#define EXT_LIMIT 4\n");
    for (const n of ["a", "b"]) {
      await mkdir(join(repo, "gadgets", n), { recursive: true });
      await writeFile(join(repo, "gadgets", n, "program.bpf.c"), PROGRAM(n));
    }
    await mkdir(join(repo, "stages"));
    await writeFile(join(repo, "stages", "label.ts"), STAGE("one"));
    await writeFile(
      join(repo, "gadgetfile.ts"),
      `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { archs: ["amd64"], cflags: ["-I", ${JSON.stringify(sysinc)}] },
  plugins: ["./stages/label.ts"],
  tasks: { build: { steps: ["clang", "strip", "label", "oci-pack", "store-tag"] } },
});
`,
    );
    const child = spawn(process.execPath, [GADGET_BIN, "run", "--watch", "--explain", "--oci-store", join(root, "store")], { cwd: repo, env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" }, stdio: ["ignore", "pipe", "pipe"] });
    p = new Proc(child);
    await p.waitFor(() => p.stderr.includes("watching"), "the watching line");
  });
  afterAll(async () => {
    if (p && p.child.exitCode === null) {
      p.child.kill("SIGINT");
      await p.exit;
    }
    await cleanup?.();
  });

  it("an edit to a header outside the repository that clang read rebuilds the gadget that read it", async () => {
    expect(p.lines()).toHaveLength(2);
    const before = p.lines().find((l) => l.startsWith("✓ a "))!.split(" ").at(-1);
    const mark = p.lines().length;
    const errMark = p.stderr.length;
    await writeFile(header, "#define EXT_LIMIT 5\n");
    await p.waitFor(() => p.lines(mark).some((l) => l.startsWith("✓ a ")), "the rebuild of a");
    await new Promise((r) => setTimeout(r, 500));
    expect(p.lines(mark).map((l) => l.split(" ")[1])).toEqual(["a"]);
    expect(p.lines(mark)[0]!.split(" ").at(-1)).not.toBe(before);
    expect(p.stderr.slice(errMark)).toContain(`a clang@amd64: miss: ${header} changed`);
  });

  it("an edit to a local stage rebuilds its steps (and the image), not just a reload", async () => {
    const mark = p.lines().length;
    const errMark = p.stderr.length;
    const before = p.lines().filter((l) => l.startsWith("✓ b ")).at(-1)!.split(" ").at(-1);
    await writeFile(join(repo, "stages", "label.ts"), STAGE("two"));
    await p.waitFor(() => p.stderr.slice(errMark).includes("reloaded gadgetfile.ts"), "the reload");
    await p.waitFor(() => p.lines(mark).length >= 2, "the rebuild lines");
    const err = p.stderr.slice(errMark);
    expect(err).toContain("a label: miss: stage ./stages/label.ts changed");
    expect(err).toContain("b label: miss: stage ./stages/label.ts changed");
    expect(err).toContain("b clang@amd64: hit");
    const after = p.lines(mark).find((l) => l.startsWith("✓ b "))!.split(" ").at(-1)!;
    expect(after).not.toBe(before);
    const idx = JSON.parse(await readFile(join(root, "store", "blobs", "sha256", after.slice(7)), "utf8")) as { manifests: { digest: string }[] };
    const m = JSON.parse(await readFile(join(root, "store", "blobs", "sha256", idx.manifests[0]!.digest.slice(7)), "utf8")) as { annotations: Record<string, string> };
    expect(m.annotations["com.acme.label"]).toBe("two");
  });

  it("--explain lists a build's steps in gadget, step and arch order", async () => {
    const err = p.stderr.slice(p.stderr.lastIndexOf("reloaded gadgetfile.ts"));
    const steps = err
      .split("\n")
      .filter((l) => /^[ab] \S+: (hit|miss)/.test(l))
      .map((l) => l.split(":")[0]);
    expect(steps).toEqual(["a clang@amd64", "a strip@amd64", "a label", "a oci-pack", "b clang@amd64", "b strip@amd64", "b label", "b oci-pack"]);
  });
});
