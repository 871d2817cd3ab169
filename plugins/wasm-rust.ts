/**
 * Rust → wasm for the wasm stage, as ig builds it: `cargo build --target wasm32-wasip1 --release
 * --manifest-path <src>/../Cargo.toml` with CARGO_TARGET_DIR in the step's scratch folder, then
 * `<package name>.wasm`. When rustup manages the toolchain, a missing wasm32-wasip1 target is
 * reported before cargo runs, with the command that adds it.
 */
import { copyFile, readdir, readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { StageContext, StageInputs } from "../core/types.js";
import { lookupTool, TOOL_INSTALL_HINTS } from "./tools.js";
import { GadgetError, ToolError } from "../core/types.js";

export const RUST_TARGET = "wasm32-wasip1";
const MAX_FILES = 20_000;
/** Environment that changes what cargo produces, besides the toolchain and the crate. */
export const RUST_ENV = ["RUSTUP_TOOLCHAIN", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS"];

/** The crate folder ig uses: the parent of the source's folder (`rs/src/lib.rs` → `rs`). */
export const crateDir = (src: string): string => dirname(dirname(src));

/** Cache-key inputs: cargo, the crate's manifests, toolchain pins and .rs files. */
export async function rustInputs(src: string, env: Readonly<Record<string, string | undefined>>): Promise<StageInputs> {
  const dir = crateDir(src);
  const files = new Set<string>([src, ...["Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml", ".cargo/config.toml"].map((f) => join(dir, f))]);
  await walkCrate(dir, dir, files);
  const tools = lookupTool("cargo", env) ? ["cargo"] : [];
  return { files: [...files].sort(), tools, args: { kind: "rust", target: RUST_TARGET }, env: RUST_ENV };
}

async function walkCrate(root: string, dir: string, files: Set<string>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "target") await walkCrate(root, p, files);
    else if (e.isFile() && e.name.endsWith(".rs")) files.add(p);
    if (files.size > MAX_FILES) throw new GadgetError({ what: "Rust crate too large", which: root, why: `more than ${MAX_FILES} files to track for the wasm build` });
  }
}

/** The error for a toolchain without the wasm32-wasip1 target (`installed`: rustup's list). */
export async function missingTargetError(installed: string, which: string): Promise<Error | undefined> {
  if (installed.split(/\s+/).includes(RUST_TARGET)) return undefined;
  return new GadgetError({ what: "Rust target not installed", which: RUST_TARGET, why: `${which} is built with cargo --target ${RUST_TARGET}, which the active toolchain lacks`, hint: `run \`rustup target add ${RUST_TARGET}\``, code: "TOOL_NOT_FOUND" });
}

export async function buildRust(ctx: StageContext<unknown>, src: string, out: string, which: string): Promise<void> {
  const cargo = lookupTool("cargo", ctx.env);
  if (!cargo) throw new GadgetError({ what: "tool not found", which: "cargo", why: `${which} needs cargo with the ${RUST_TARGET} target`, hint: TOOL_INSTALL_HINTS.cargo!, code: "TOOL_NOT_FOUND" });
  const dir = crateDir(src);
  const manifest = join(dir, "Cargo.toml");
  if (!existsSync(manifest)) throw new GadgetError({ what: "Cargo.toml not found", which: manifest, why: "ig builds Rust wasm modules from the crate whose src/ holds the .rs file" });
  const rustup = lookupTool("rustup", ctx.env);
  if (rustup) {
    // In the crate's folder: a rust-toolchain.toml there picks the toolchain.
    const list = await ctx.exec(rustup, ["target", "list", "--installed"], { cwd: dir, nothrow: true });
    if (list.exitCode === 0) {
      const err = await missingTargetError(list.stdout, which);
      if (err) throw err;
    }
  }
  const targetDir = join(ctx.outDir, "cargo");
  await ctx.exec(cargo, ["build", "--target", RUST_TARGET, "--release", "--manifest-path", manifest], {
    env: { CARGO_TARGET_DIR: targetDir },
    what: `building ${which} to wasm`,
    hint: (res) => (res.stderr.includes(RUST_TARGET) && /(not installed|may not be installed|can't find crate)/.test(res.stderr) ? `run \`rustup target add ${RUST_TARGET}\`` : undefined),
  });
  const name = /^\s*name\s*=\s*"([^"]+)"/m.exec(await readFile(manifest, "utf8"))?.[1];
  if (!name) throw new GadgetError({ what: "cannot read the package name", which: manifest });
  const release = join(targetDir, RUST_TARGET, "release");
  await copyFile(join(release, `${name.replace(/-/g, "_")}.wasm`), out).catch(() => copyFile(join(release, `${name}.wasm`), out));
}
