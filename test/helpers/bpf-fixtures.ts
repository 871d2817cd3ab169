/** The test gadgets under test/fixtures/gadgets: compiled as ig's build does, for in-process checks. */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { FIXTURES } from "./cli.js";

const run = promisify(execFile);

export const FIXTURE_GADGETS = join(FIXTURES, "gadgets");
export const INVALID_GADGETS = join(FIXTURES, "gadgets-invalid");
export const FIXTURE_INCLUDE = join(FIXTURES, "include");

let triple: Promise<string> | undefined;

function multiarch(): Promise<string> {
  return (triple ??= run("clang", ["-print-multiarch"]).then((r) => r.stdout.trim()));
}

/**
 * Compile test/fixtures/gadgets/<name>/program.bpf.c for `arch` with ig's clang argv plus the
 * stand-in headers, then `llvm-strip -g` as the build does. Returns the object's bytes.
 */
export async function compileFixture(name: string, arch: "amd64" | "arm64", outDir: string, dir = FIXTURE_GADGETS): Promise<Buffer> {
  const out = join(outDir, `${name}-${arch}.bpf.o`);
  const define = arch === "amd64" ? "__TARGET_ARCH_x86" : "__TARGET_ARCH_arm64";
  await run("clang", ["-target", "bpf", "-Wall", "-g", "-O2", `-I/usr/include/${await multiarch()}`, "-D", define, "-c", "program.bpf.c", "-I", FIXTURE_INCLUDE, "-o", out], { cwd: join(dir, name) });
  await run("llvm-strip", ["-g", out]);
  return readFile(out);
}
