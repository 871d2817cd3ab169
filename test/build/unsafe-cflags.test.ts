/**
 * Issue #19: a build runs what the gadget folder says. `cflags: ["-fplugin=./evil.so"]` in
 * build.yaml made clang load the folder's shared object — its constructor ran on the host (as
 * root). cflags that load or run code are refused unless the user passes --allow-unsafe-cflags
 * (or GADGET_ALLOW_UNSAFE_CFLAGS=1, or the clang step option allowUnsafeCflags).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findUnsafeCflag } from "../../plugins/unsafe-cflags.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { copyExamples, requireTools, storeSnapshot } from "./helpers.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let gadget: string;
let store: string;
let marker: string;
beforeAll(async () => {
  requireTools("clang", "llvm-strip");
  tmp = await tempDir("gadget-unsafe-cflags-");
  gadget = join(await copyExamples(tmp.dir), "count_syscall");
  store = join(tmp.dir, "store");
  marker = join(tmp.dir, "evil-ran");
  // a shared object whose constructor leaves a mark: what a hostile gadget folder would ship
  await writeFile(join(gadget, "evil.c"), `#include <stdio.h>\n#include <stdlib.h>\n__attribute__((constructor)) static void evil(void) { const char *p = getenv("EVIL_MARKER"); if (p) { FILE *f = fopen(p, "w"); if (f) { fputs("ran", f); fclose(f); } } }\n`);
  execFileSync("clang", ["-shared", "-fPIC", "-o", join(gadget, "evil.so"), join(gadget, "evil.c")]);
}, 60_000);
afterAll(() => tmp?.cleanup());

const build = (extra: string[] = []) =>
  runGadget(["--oci-store", store, "image", "build", gadget, "-t", "evil:v1", "--arch", "amd64", ...extra], { env: { EVIL_MARKER: marker }, timeoutMs: 60_000 });

describe("cflags that load code into clang", () => {
  it("build.yaml's -fplugin=./evil.so and -Xclang -load are refused before clang runs: nothing ran, the store is unchanged", async () => {
    for (const cflags of [`["-I", "../include", "-fplugin=./evil.so"]`, `"-I ../include -Xclang -load -Xclang ./evil.so"`]) {
      await writeFile(join(gadget, "build.yaml"), `cflags: ${cflags}\n`);
      const before = await storeSnapshot(store);
      const r = await build();
      expect(existsSync(marker), `the plugin's constructor ran (${cflags})`).toBe(false);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("Error:")), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/refusing a cflag that runs code \(cflags of count_syscall\): (-fplugin=\.\/evil\.so|-Xclang -load) loads a shared object/);
      expect(r.stderr).toMatch(/hint: .*build only folders you trust.*--allow-unsafe-cflags/);
      expect(await storeSnapshot(store)).toBe(before);
    }
  }, 90_000);

  it("--allow-unsafe-cflags lets the user allow it (and then the folder's code does run)", async () => {
    await writeFile(join(gadget, "build.yaml"), `cflags: ["-I", "../include", "-fplugin=./evil.so"]\n`);
    await rm(marker, { force: true });
    await build(["--allow-unsafe-cflags"]);
    expect(existsSync(marker)).toBe(true);
  }, 60_000);

  it("gadget run refuses them too, and takes --allow-unsafe-cflags", async () => {
    await writeFile(join(gadget, "build.yaml"), `cflags: ["-I", "../include", "-fplugin=./evil.so"]\n`);
    await writeFile(join(gadget, "gadgetfile.ts"), `import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["."], defaults: { archs: ["amd64"] } });\n`);
    await rm(marker, { force: true });
    const r = await runGadget(["--oci-store", store, "run", "--no-cache"], { cwd: gadget, env: { EVIL_MARKER: marker }, timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/refusing a cflag that runs code/);
    expect(existsSync(marker)).toBe(false);
    await runGadget(["--oci-store", store, "run", "--no-cache", "--allow-unsafe-cflags"], { cwd: gadget, env: { EVIL_MARKER: marker }, timeoutMs: 60_000 });
    expect(existsSync(marker)).toBe(true);
  }, 90_000);

  it("every spelling is caught; ordinary flags are not", () => {
    const unsafe = [
      ["-fplugin=x.so"],
      ["-fpass-plugin=x.so"],
      ["-Xclang", "-load", "-Xclang", "x.so"],
      ["-Xclang=-load"],
      ["-Xclang", "-fplugin=x.so"],
      ["-mllvm", "-load=x.so"],
      ["-B./bin"],
      ["-B", "./bin"],
      ["--prefix=./bin"],
      ["--prefix", "./bin"],
      ["--ld-path=./ld"],
      ["-fuse-ld=./ld"],
      ["@flags.txt"],
    ];
    for (const args of unsafe) expect(findUnsafeCflag(["-I", "../include", ...args]), args.join(" ")).toBeDefined();
    for (const args of [["-I", "../include", "-DX=1", "-O2", "-Wno-unused", "-g"], ["-Xclang", "-target-feature"], ["-fuse-ld=lld"], ["-include", "x.h"]]) {
      expect(findUnsafeCflag(args), args.join(" ")).toBeUndefined();
    }
  });
});
