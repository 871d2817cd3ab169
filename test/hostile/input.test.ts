/**
 * Hostile user input: reference names with path tricks, YAML bombs and huge build files, shell
 * metacharacters in cflags, gadget paths and gadgetfile commands (no shell anywhere).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GadgetError } from "../../core/errors.js";
import { parseReference } from "../../core/oci/reference.js";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { REPO_ROOT, runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { makeImage } from "../registry/fixtures.js";
import { startFakeRegistry, type FakeRegistry } from "./fake-registry.js";

const EXAMPLE = join(REPO_ROOT, "examples", "count_syscall");
let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
let reg: FakeRegistry;
beforeAll(async () => {
  tmp = await tempDir("gadget-hostile-input-");
  store = join(tmp.dir, "store");
  await makeImage(store, "good:v1");
  await releaseWriterLock(store);
  reg = await startFakeRegistry();
});
afterAll(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

/** One `Error:` line (plus an optional hint), exit 1 or 2, no stack trace. */
function expectCleanError(r: RunResult, pattern: RegExp = /./): void {
  expect([1, 2], r.stderr).toContain(r.code);
  // pull and push print ig's status line ("Pulling X...") on stderr before the error
  const lines = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("hint:") && !l.startsWith("Usage:") && l.trim() !== "" && !/^(Pulling|Pushing) .*\.\.\.$/.test(l));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^Error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("reference names with path tricks", () => {
  const tricks = ["../../etc/evil:v1", "a/../../b:v1", "%2e%2e/x:v1", "x/%2e%2e/%2e%2e/y:v1", "/etc/passwd", "/tmp/abs:v1", "good@sha256:../../../../etc/passwd", `good@sha256:${"../".repeat(20)}x`, "good:../../x", "localhost:5000/a/./b:v1", "a//b:v1"];

  it("tag, inspect, rm, export and pull refuse them before touching anything", async () => {
    const index = await readFile(join(store, "index.json"), "utf8");
    const blobs = (await readdir(join(store, "blobs", "sha256"))).sort();
    for (const t of tricks) {
      expectCleanError(await runGadget(["--oci-store", store, "image", "tag", "good:v1", t]), /invalid|reference|name|tag/i);
      expectCleanError(await runGadget(["--oci-store", store, "image", "inspect", t]));
      expectCleanError(await runGadget(["--oci-store", store, "image", "rm", t]));
      expectCleanError(await runGadget(["--oci-store", store, "image", "export", t, join(tmp.dir, "out.tar")]));
      const remote = t.startsWith("/") ? `${reg.host}${t}` : `${reg.host}/${t}`;
      expectCleanError(await runGadget(["--oci-store", store, "image", "pull", remote, "--insecure-registries", reg.host]));
    }
    expect(reg.requests.filter((q) => q.url.includes("..") || q.url.includes("%2e") || q.url.includes("%2E"))).toEqual([]);
    expect(await readFile(join(store, "index.json"), "utf8")).toBe(index);
    expect((await readdir(join(store, "blobs", "sha256"))).sort()).toEqual(blobs);
    expect(existsSync(join(tmp.dir, "out.tar"))).toBe(false);
  });

  it("NUL bytes and control characters in names are invalid references (library)", () => {
    for (const t of ["good\0:v1", "good:v1\0", "a\0/../b", "good:v\n1", "good\r:v1"]) {
      expect(() => parseReference(t), JSON.stringify(t)).toThrow(GadgetError);
    }
  });

  it("a build tag with path tricks is refused before compiling", async () => {
    for (const t of ["../../x:v1", "/abs:v1", "%2e%2e/x"]) {
      expectCleanError(await runGadget(["--oci-store", store, "image", "build", EXAMPLE, "-t", t]), /invalid|reference|name|tag/i);
    }
  });
});

/** A copy of examples/count_syscall (with the examples' include folder) to make hostile. */
async function gadgetCopy(name: string): Promise<string> {
  const root = join(tmp.dir, "gadgets", name.replace(/[^a-z0-9]/gi, "_"));
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await cp(EXAMPLE, dir, { recursive: true });
  await cp(join(REPO_ROOT, "examples", "include"), join(root, "include"), { recursive: true });
  return dir;
}

const bomb = (key: string) =>
  [
    `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`,
    `b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]`,
    `c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]`,
    `d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]`,
    `e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]`,
    `f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]`,
    `g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]`,
    `h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]`,
    `${key}: [*h,*h,*h,*h,*h,*h,*h,*h,*h]`,
  ].join("\n") + "\n";

describe("YAML bombs and huge files", () => {
  it("build.yaml and gadget.yaml with alias bombs fail fast with one clean error", async () => {
    const g1 = await gadgetCopy("bomb_build");
    await writeFile(join(g1, "build.yaml"), bomb("cflags"));
    let t0 = Date.now();
    expectCleanError(await runGadget(["--oci-store", store, "image", "build", g1, "-t", "bomb1:v1"], { timeoutMs: 30_000 }), /build\.yaml/);
    expect(Date.now() - t0).toBeLessThan(10_000);

    const g2 = await gadgetCopy("bomb_meta");
    const meta = await readFile(join(g2, "gadget.yaml"), "utf8");
    await writeFile(join(g2, "gadget.yaml"), meta + bomb("x-bomb"));
    t0 = Date.now();
    expectCleanError(await runGadget(["--oci-store", store, "image", "build", g2, "-t", "bomb2:v1"], { timeoutMs: 30_000 }), /gadget\.yaml/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 40_000);

  it("a 48 MiB build.yaml or gadget.yaml is refused by size, not read and parsed", async () => {
    const pad = "#" + "x".repeat(48 * 1024 * 1024) + "\n";
    const g1 = await gadgetCopy("huge_build");
    await writeFile(join(g1, "build.yaml"), `cflags: ["-I", "../include"]\n${pad}`);
    expectCleanError(await runGadget(["--oci-store", store, "image", "build", g1, "-t", "huge1:v1"], { timeoutMs: 30_000 }), /build\.yaml.*(too large|larger than|limit)/i);
    const g2 = await gadgetCopy("huge_meta");
    await writeFile(join(g2, "gadget.yaml"), (await readFile(join(g2, "gadget.yaml"), "utf8")) + pad);
    expectCleanError(await runGadget(["--oci-store", store, "image", "build", g2, "-t", "huge2:v1"], { timeoutMs: 30_000 }), /gadget\.yaml.*(too large|larger than|limit)/i);
    // an endless "file": the read stops at the limit
    const t0 = Date.now();
    expectCleanError(await runGadget(["--oci-store", store, "image", "build", g1, "-f", "/dev/zero", "-t", "huge3:v1"], { timeoutMs: 30_000 }), /\/dev\/zero.*(too large|larger than|limit)/i);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await readFile(join(store, "index.json"), "utf8")).not.toContain("huge");
  }, 60_000);
});

describe("shell metacharacters never reach a shell", () => {
  const marker = (n: string) => join(tmp.dir, `pwned-${n}`);
  const evil = (n: string) => [`$(touch ${marker(n)}-a)`, `\`touch ${marker(n)}-b\``, `;touch ${marker(n)}-c`, `|touch ${marker(n)}-d`, `&& touch ${marker(n)}-e`, `'"$(touch ${marker(n)}-f)"'`];
  const noMarkers = async () => expect((await readdir(tmp.dir)).filter((f) => f.startsWith("pwned-"))).toEqual([]);

  it("build.yaml cflags with $(…), backticks, ; | && are passed to clang as plain arguments", async () => {
    const g = await gadgetCopy("shell_cflags");
    await writeFile(join(g, "build.yaml"), `cflags:\n${["-I", "../include", ...evil("cflags").map((e) => `-DEVIL=${e}`)].map((c) => `  - ${JSON.stringify(c)}`).join("\n")}\n`);
    const r = await runGadget(["--oci-store", store, "image", "build", g, "-t", "shell-cflags:v1", "--arch", "amd64"], { timeoutMs: 60_000 });
    // -DEVIL=… are only (odd) macro definitions: the build succeeds, nothing ran
    expect(r.code, r.stderr).toBe(0);
    await noMarkers();
    // as separate words they are input file names clang cannot find: a clean failure, nothing ran
    await writeFile(join(g, "build.yaml"), `cflags:\n${["-I", "../include", ...evil("words")].map((c) => `  - ${JSON.stringify(c)}`).join("\n")}\n`);
    const r2 = await runGadget(["--oci-store", store, "image", "build", g, "-t", "shell-words:v1", "--arch", "amd64"], { timeoutMs: 60_000 });
    expect(r2.code).toBe(1);
    expect(r2.stderr).not.toMatch(/\n\s+at /);
    await noMarkers();
  }, 90_000);

  it("a gadget folder named $(touch …) builds without running anything", async () => {
    const g = await gadgetCopy(`g$(touch ${marker("dir")})x`.replace(/\//g, "_"));
    const r = await runGadget(["--oci-store", store, "image", "build", g, "-t", "shell-dir:v1", "--arch", "amd64"], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    await noMarkers();
  }, 60_000);

  it("gadgetfile cflags and a stage's $`…`/exec with user strings are argv words, never shell text", async () => {
    const proj = join(tmp.dir, "proj");
    await mkdir(join(proj, "stages"), { recursive: true });
    await cp(EXAMPLE, join(proj, "g", "count_syscall"), { recursive: true });
    await cp(join(REPO_ROOT, "examples", "include"), join(proj, "g", "include"), { recursive: true });
    const words = evil("gadgetfile");
    await writeFile(
      join(proj, "stages", "echo.ts"),
      `import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { defineStage } from "gadget";
const words = ${JSON.stringify(words)};
export default defineStage({
  name: "echo-evil",
  version: "1",
  cacheable: false,
  async run(ctx) {
    const a = await ctx.$\`echo \${words}\`;
    const b = await ctx.$\`echo \${words.join(" ")}\`;
    const c = await ctx.exec("echo", words);
    await writeFile(join(${JSON.stringify(proj)}, "echo.out"), JSON.stringify([a.stdout, b.stdout, c.stdout]));
  },
});
`,
    );
    await writeFile(
      join(proj, "gadgetfile.ts"),
      `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: [{ path: "g/count_syscall", cflags: ["-I", "../include", ${words.map((w) => JSON.stringify(`-DEVIL=${w}`)).join(", ")}] }],
  defaults: { tag: "shell-gadgetfile/{name}:dev", archs: ["amd64"] },
  plugins: ["./stages/echo.ts"],
  tasks: { evil: { steps: ["clang", "echo-evil"] } },
});
`,
    );
    const r = await runGadget(["--oci-store", store, "run", "evil"], { cwd: proj, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const [a, b, c] = JSON.parse(await readFile(join(proj, "echo.out"), "utf8")) as string[];
    expect(a).toBe(words.join(" ") + "\n");
    expect(b).toBe(words.join(" ") + "\n");
    expect(c).toBe(words.join(" ") + "\n");
    await noMarkers();
  }, 60_000);
});
