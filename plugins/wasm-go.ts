/**
 * Go → wasm for the wasm stage. The build is ig's (cmd/common/image/build-step.go):
 *
 *   CGO_ENABLED=0 GOOS=wasip1 GOARCH=wasm go build -C <dir> -o program.wasm -buildmode=c-shared -ldflags "-w -s" <file>
 *
 * plus `-trimpath -buildvcs=false`, so the module depends on neither the checkout's path nor its
 * git state (same bytes from any folder). `<file>` is the source's name, or `.` when `wasm:` names a
 * module folder. GOCACHE and GOMODCACHE stay Go's own. When Go refuses to build because go.mod or
 * go.sum lacks something (its default is -mod=readonly), the build runs once more with
 * `-mod=mod -modfile=<scratch copy>`: Go fills the scratch copy of go.mod/go.sum (fetching from the
 * module proxy if needed) and the user's files are never rewritten; a warning says to run
 * `go mod tidy`.
 *
 * The cache key's inputs: Go's identity (`go version`, `go env GOVERSION GOOS GOARCH`, probed once
 * per go binary), go.mod, go.sum, go.work, Go's env file, every .go file of the module and of its
 * local `replace`/`use` targets, and every file beside a `//go:embed` directive.
 */
import { copyFile, mkdir, readdir, readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { StageContext, ToolProbe } from "../core/types.js";
import { lookupTool, TOOL_INSTALL_HINTS } from "./tools.js";
import { GadgetError, ToolError } from "../core/types.js";

export const GO_MIN: readonly [number, number] = [1, 24];
export const GO_NEEDED = `Go >= ${GO_MIN.join(".")}`;
const GO_WHY = "GOOS=wasip1 with -buildmode=c-shared and //go:wasmexport";
const GO_HINT = TOOL_INSTALL_HINTS.go!;

/** Go's identity in the cache key, probed once per go binary. */
export const GO_PROBE: string[][] = [["version"], ["env", "GOVERSION", "GOOS", "GOARCH"]];
/** Environment that changes what `go build` produces, besides the toolchain and the sources. */
export const GO_ENV = ["GOFLAGS", "GOROOT", "GOTOOLCHAIN", "GOEXPERIMENT", "GOWASM", "GOWORK", "GOENV"];
/** Bound on the files one module (with its replace targets) may contribute to the key. */
const MAX_FILES = 20_000;

/** The flags after ig's argv. */
export const GO_EXTRA_FLAGS = ["-trimpath", "-buildvcs=false"];

/** go build's argv (without the tool), ig's plus GO_EXTRA_FLAGS. */
export function goBuildArgs(dir: string, out: string, target: string, extra: string[] = []): string[] {
  return ["build", "-C", dir, "-o", out, "-buildmode=c-shared", "-ldflags", "-w -s", ...GO_EXTRA_FLAGS, ...extra, target];
}

export const GO_BUILD_ENV = { CGO_ENABLED: "0", GOOS: "wasip1", GOARCH: "wasm" } as const;

export interface GoSource {
  /** Where go runs (-C): the source file's folder, or the module folder. */
  dir: string;
  /** What go builds: the file's name (ig's argv), or "." for a module folder. */
  target: string;
  /** The go.mod that governs dir (found upward from dir, as go does). */
  goMod?: string;
}

/** Locate a `.go` file's or a module folder's Go module. */
export function goSource(src: string, isDir: boolean): GoSource {
  const dir = isDir ? src : dirname(src);
  const goMod = findUp(dir, "go.mod");
  return { dir, target: isDir ? "." : basename(src), ...(goMod ? { goMod } : {}) };
}

function findUp(from: string, name: string): string | undefined {
  for (let d = resolve(from); ; d = dirname(d)) {
    const p = join(d, name);
    if (existsSync(p)) return p;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * Arguments of a go.mod/go.work directive, single-line or block form:
 * `replace a => ../b` and `replace ( … )` → ["a => ../b", …].
 */
export function goDirectives(text: string, keyword: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    if (!line) continue;
    if (inBlock) {
      if (line === ")") inBlock = false;
      else out.push(line);
      continue;
    }
    const m = new RegExp(`^${keyword}\\b\\s*(.*)$`).exec(line);
    if (!m) continue;
    if (m[1] === "(") inBlock = true;
    else if (m[1]) out.push(m[1]);
  }
  return out;
}

const unquote = (s: string) => s.replace(/^["`](.*)["`]$/, "$1");
const isLocalPath = (p: string) => p === "." || p === ".." || p.startsWith("./") || p.startsWith("../") || isAbsolute(p);

/** Folders named by local `replace` targets (and go.work `use` lines) of a go.mod or go.work. */
export function localModuleDirs(text: string, base: string): string[] {
  const dirs: string[] = [];
  for (const r of goDirectives(text, "replace")) {
    const target = unquote(r.split("=>")[1]?.trim().split(/\s+/)[0] ?? "");
    if (target && isLocalPath(target)) dirs.push(resolve(base, target));
  }
  for (const u of goDirectives(text, "use")) {
    const p = unquote(u.split(/\s+/)[0] ?? "");
    if (p) dirs.push(resolve(base, p));
  }
  return dirs;
}

/** Go's env file (`go env -w` writes it): GOENV, else $XDG_CONFIG_HOME/go/env or ~/.config/go/env. */
function goEnvFile(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (env.GOENV) return env.GOENV === "off" ? undefined : env.GOENV;
  const config = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, ".config") : undefined);
  return config ? join(config, "go", "env") : undefined;
}

/** Every file whose content can change the module go builds, for the cache key (see the header). */
export async function goInputFiles(src: GoSource, file: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<string[]> {
  const files = new Set<string>();
  const envFile = goEnvFile(env);
  if (envFile) files.add(envFile);
  if (!src.goMod) {
    // A lone file outside any module: go compiles exactly the files it is given.
    if (file) files.add(file);
    return [...files].sort();
  }
  const walked = new Set<string>();
  const addModule = async (root: string) => {
    if (walked.has(root)) return;
    walked.add(root);
    files.add(join(root, "go.mod"));
    files.add(join(root, "go.sum"));
    await walkModule(root, root, files);
  };
  const modRoot = dirname(src.goMod);
  await addModule(modRoot);
  for (const d of localModuleDirs(await readFile(src.goMod, "utf8").catch(() => ""), modRoot)) await addModule(d);
  const work = env.GOWORK === "off" ? undefined : env.GOWORK ? resolve(src.dir, env.GOWORK) : findUp(src.dir, "go.work");
  if (work) {
    files.add(work);
    files.add(`${work}.sum`);
    for (const d of localModuleDirs(await readFile(work, "utf8").catch(() => ""), dirname(work))) await addModule(d);
  }
  return [...files].sort();
}

/** The .go files of one module (not its nested modules), and the files `//go:embed` may read. */
async function walkModule(root: string, dir: string, files: Set<string>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // a replace target that does not exist: go says so when it builds
  }
  let embeds = false;
  const subdirs: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      // go ignores these folders; a folder with its own go.mod is another module
      if (e.name.startsWith(".") || e.name.startsWith("_") || e.name === "testdata") continue;
      if (existsSync(join(p, "go.mod"))) continue;
      subdirs.push(p);
    } else if (e.isFile() && e.name.endsWith(".go")) {
      files.add(p);
      if (!embeds && (await readFile(p)).includes("//go:embed")) embeds = true;
    }
    if (files.size > MAX_FILES) throw new GadgetError({ what: "Go module too large", which: root, why: `more than ${MAX_FILES} files to track for the wasm build` });
  }
  if (embeds) await addAll(dir, files, root);
  for (const d of subdirs) await walkModule(root, d, files);
}

/** Every regular file under dir (for //go:embed), minus version-control folders and nested modules. */
async function addAll(dir: string, files: Set<string>, root: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isFile()) files.add(p);
    else if (e.isDirectory() && e.name !== ".git" && !existsSync(join(p, "go.mod"))) await addAll(p, files, root);
    if (files.size > MAX_FILES) throw new GadgetError({ what: "Go module too large", which: root, why: `more than ${MAX_FILES} files to track for the wasm build` });
  }
}

/** The go tool for the cache key, or the one-line error naming the Go version needed. */
export async function goTool(env: Readonly<Record<string, string | undefined>>, which: string): Promise<ToolProbe & { path: string }> {
  const path = lookupTool("go", env);
  if (!path) throw new GadgetError({ what: "tool not found", which: "go", why: `${which} needs ${GO_NEEDED} (${GO_WHY}); go is not on PATH`, hint: GO_HINT, code: "TOOL_NOT_FOUND" });
  return { tool: path, probe: GO_PROBE, path };
}

/** "go1.26.8" → [1, 26] */
export function goMinor(v: string): [number, number] | undefined {
  const m = /^go(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Go's refusals under -mod=readonly that -mod=mod resolves (go.mod or go.sum lacks something). */
const NEEDS_MODULE_UPDATE = /missing go\.sum entry|no required module provides package|is replaced but not required|updates to go\.(mod|sum) needed/;

/** Build a Go wasm module into `out`; `which` names the source in messages. */
export async function buildGo(ctx: StageContext<unknown>, src: GoSource, out: string, which: string): Promise<void> {
  const { path: go } = await goTool(ctx.env, which);
  const version = (await ctx.exec(go, ["env", "GOVERSION"], { nothrow: true })).stdout.trim() || "unknown";
  const mm = goMinor(version);
  if (!mm || mm[0] < GO_MIN[0] || (mm[0] === GO_MIN[0] && mm[1] < GO_MIN[1])) {
    throw new GadgetError({ what: "Go too old for wasm", which: go, why: `building ${which} needs ${GO_NEEDED} (${GO_WHY}), found ${version}`, hint: GO_HINT, code: "TOOL_TOO_OLD" });
  }
  let res = await ctx.exec(go, goBuildArgs(src.dir, out, src.target), { env: GO_BUILD_ENV, nothrow: true });
  const userFlags = ctx.env.GOFLAGS ?? "";
  if (res.exitCode !== 0 && !res.signal && src.goMod && NEEDS_MODULE_UPDATE.test(res.stderr) && !/-mod(file)?=/.test(userFlags) && !existsSync(join(dirname(src.goMod), "vendor", "modules.txt"))) {
    // Go refused under -mod=readonly: let it complete a scratch copy of go.mod/go.sum instead of the user's files.
    const scratch = join(ctx.outDir, "gomod");
    await mkdir(scratch, { recursive: true });
    await copyFile(src.goMod, join(scratch, "go.mod"));
    await copyFile(join(dirname(src.goMod), "go.sum"), join(scratch, "go.sum")).catch(() => {});
    res = await ctx.exec(go, goBuildArgs(src.dir, out, src.target, ["-mod=mod", `-modfile=${join(scratch, "go.mod")}`]), { env: GO_BUILD_ENV, nothrow: true });
    if (res.exitCode === 0 && !res.signal) {
      const rel = relative(ctx.gadget.dir, dirname(src.goMod));
      const modDir = rel === "" ? "." : rel.startsWith("..") ? dirname(src.goMod) : rel;
      ctx.logger.warn(`${join(modDir, "go.mod")} or go.sum lacks what ${which} needs; built with -mod=mod on a scratch copy (your files are unchanged): run \`go mod tidy\` in ${modDir} to record it`);
    }
  }
  if (res.exitCode !== 0 || res.signal) throw new ToolError(res, { what: `building ${which} to wasm` });
}
