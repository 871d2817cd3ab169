/**
 * Precompiled headers for the clang stage (issue 22): the leading `#include`s of a gadget's source
 * that name system, libbpf, ig and vmlinux.h headers are compiled once per clang, arch, flag set
 * and header content (`clang -x c-header … -o X.pch`), kept in the stage's cache folder
 * (ctx.cacheDir) and used with `-include-pch` by every gadget and every later build that starts
 * with the same includes. The object is byte-identical to the plain compile's (test/build/pch.test.ts);
 * the stage falls back to the plain compile whenever the PCH cannot be used.
 *
 * Files in the cache folder, per plan (`<base>` = hash of clang's identity, arch, flags, CPATH and
 * C_INCLUDE_PATH, includes):
 * - `<base>.h`          the prefix header (the includes, quoted ones by absolute path)
 * - `<base>.deps.json`  the headers the last PCH build read (its depfile)
 * - `<name>.pch`        the PCH; `<name>` = hash of `<base>` and the content of every header it read
 * - `<base>.wanted`     "auto" saw this plan once without making its PCH: the next build makes it
 * - `<base>.nopch`      this plan does not work (the PCH build failed or printed diagnostics, or a
 *                       fresh PCH failed where the plain compile worked): compile plainly without
 *                       trying, while the prefix headers are unchanged, for a day
 * Everything is written atomically (temp + rename): two workers making the same PCH both succeed.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { clangIdentity } from "./clang-identity.js";
import { parseDepfile } from "./depfile.js";

export type PchMode = "auto" | "always" | "never";

/** In "auto" mode, a prefix without vmlinux.h is worth a PCH from this many bytes of directly included headers. */
export const PCH_AUTO_MIN_BYTES = 1 << 20;
/** PCH files kept in the cache folder (least recently used go first; each is ~15 MB with vmlinux.h). */
export const PCH_KEEP = 8;
/** A `.nopch` mark holds this long (and while the prefix headers are unchanged); then the PCH is tried again. */
const NOPCH_FOR_MS = 24 * 3600 * 1000;
/** Temp files older than this are left over from an interrupted PCH build. */
const STALE_TEMP_MS = 10 * 60 * 1000;
/** Bump when the plan's files or their meaning change. */
const PCH_FORMAT = "2";

export interface PrefixInclude {
  /** As written: `<bpf/bpf_helpers.h>` or `"vmlinux.h"`. */
  spelled: string;
  /** The name between the delimiters. */
  name: string;
  quoted: boolean;
}

/** A header clang finds by `<…>` (any), or a quoted vmlinux.h (next to the source): what a PCH may hold. */
function prefixable(name: string, quoted: boolean): boolean {
  if (!quoted) return true;
  return name === "vmlinux.h" || name.endsWith("/vmlinux.h");
}

/**
 * The leading run of `#include`s of a source that a PCH may hold: `<…>` headers (system, libbpf,
 * ig's `<gadget/…>`, a vmlinux.h on the include path) and a quoted vmlinux.h. Blank lines and
 * comments are skipped; it stops at the first other line (`#define`, `#if`, a local `"…"`
 * include, code). Pure.
 */
export function pchPrefix(source: string): PrefixInclude[] {
  const out: PrefixInclude[] = [];
  let inComment = false;
  for (const raw of source.split(/\r?\n/)) {
    let line = raw;
    if (inComment) {
      const end = line.indexOf("*/");
      if (end < 0) continue;
      line = line.slice(end + 2);
      inComment = false;
    }
    // drop comments on the line (a `/*` left open continues on the next lines)
    line = line.replace(/\/\*.*?\*\//g, " ");
    const open = line.indexOf("/*");
    const lc = line.indexOf("//");
    if (lc >= 0 && (open < 0 || lc < open)) line = line.slice(0, lc);
    else if (open >= 0) {
      line = line.slice(0, open);
      inComment = true;
    }
    const t = line.trim();
    if (t === "") continue;
    const m = /^#\s*include\s*(<([^<>"]+)>|"([^<>"]+)")$/.exec(t);
    if (!m) break;
    const quoted = m[3] !== undefined;
    const name = (m[2] ?? m[3])!;
    if (!prefixable(name, quoted)) break;
    out.push({ spelled: m[1]!, name, quoted });
  }
  return out;
}

/** Flags that make a PCH invalid or the compile something else than one object from one source. */
const REFUSED = /^(-include|-imacros|-include-pch|-x|-E|-S|-M|-MM|-MG|-save-temps|-fmodules|-Xclang|-Xpreprocessor|-Wp,|@|--sysroot|-isysroot|-iprefix|-iwithprefix|-ivfsoverlay|-fno-validate-pch|-emit-)/;
/** Search-path flags: their directory must be absolute (the PCH is shared by gadgets in other folders). */
const PATH_FLAGS = ["-I", "-isystem", "-iquote", "-idirafter"];

/**
 * The PCH build's flags from the compile's argv: everything but the source (`-c X`), the output
 * (`-o X`), the depfile (`-MD`, `-MF X`) and `-ffile-prefix-map=` (which only concerns the object).
 * Undefined when the PCH cannot carry them: a relative `-I`/`-isystem`/`-iquote`/`-idirafter`
 * path, or a flag that adds input or changes what clang does (`-include`, `-x`, `-E`, `-Xclang`, …).
 * Pure.
 */
export function pchArgs(compileArgs: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < compileArgs.length; i++) {
    const a = compileArgs[i]!;
    if (a === "-c" || a === "-o" || a === "-MF") {
      i++;
      continue;
    }
    if (a === "-MD" || a === "-MMD" || a === "-MP" || a.startsWith("-ffile-prefix-map=") || a.startsWith("-fdebug-prefix-map=")) continue;
    if (a === "-MT" || a === "-MQ") {
      i++;
      continue;
    }
    const pathFlag = PATH_FLAGS.find((f) => a === f || a.startsWith(f));
    if (pathFlag) {
      const dir = a === pathFlag ? compileArgs[i + 1] : a.slice(pathFlag.length);
      if (dir === undefined || !isAbsolute(dir)) return undefined;
      out.push(a);
      if (a === pathFlag) out.push(compileArgs[++i]!);
      continue;
    }
    if (REFUSED.test(a)) return undefined;
    if (!a.startsWith("-")) return undefined; // a second input file
    out.push(a);
    // flags whose value is the next argument
    if ((a === "-D" || a === "-U" || a === "-target" || a === "-arch" || a === "-mllvm") && i + 1 < compileArgs.length) out.push(compileArgs[++i]!);
  }
  return out;
}

/** The include directories of an argv, in clang's search order for `<…>` (then the defaults). */
export function includeDirs(args: readonly string[]): string[] {
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-I" || a === "-isystem") dirs.push(args[++i] ?? "");
    else if (a.startsWith("-isystem")) dirs.push(a.slice(8));
    else if (a.startsWith("-I")) dirs.push(a.slice(2));
  }
  return [...dirs.filter(Boolean), "/usr/local/include", "/usr/include"];
}

/**
 * "auto": a PCH pays when the prefix holds vmlinux.h (3 MB of types: ~60% of a compile), or when
 * the headers it names directly add up to PCH_AUTO_MIN_BYTES; smaller headers parse faster than a
 * PCH loads. Pure: `sizes` are the found prefix headers' sizes.
 */
export function pchWorthIt(mode: PchMode, prefix: readonly PrefixInclude[], sizes: readonly number[]): boolean {
  if (mode === "never" || prefix.length === 0) return false;
  if (mode === "always") return true;
  if (prefix.some((p) => p.name === "vmlinux.h" || p.name.endsWith("/vmlinux.h"))) return true;
  return sizes.reduce((a, b) => a + b, 0) >= PCH_AUTO_MIN_BYTES;
}

export interface PchPlan {
  /** The stage's cache folder. */
  dir: string;
  /** Hash of clang's identity, the arch, the flags and the includes. */
  base: string;
  /** The prefix header's path and text. */
  header: string;
  headerText: string;
  /** The PCH build's argv (without the program). */
  buildArgs: string[];
  /** The PCH for the headers as they are now, when a build has recorded what they read; it may not exist yet. */
  pch?: string;
  /** The prefix headers' (path, size, mtime): a `.nopch` mark holds only while they are unchanged. */
  headersStamp: string;
}

const sha = (s: string | Uint8Array) => createHash("sha256").update(s).digest("hex");

/** A file's content hash, by path, remembered for the run (clang.ts keeps one map per run): both archs hash vmlinux.h once. */
export type HashMemo = Map<string, Promise<string | undefined>>;

function fileHash(path: string, memo?: HashMemo): Promise<string | undefined> {
  let p = memo?.get(path);
  if (!p) {
    p = readFile(path).then(
      (b) => sha(b),
      () => undefined,
    );
    memo?.set(path, p);
  }
  return p;
}

/** The PCH's name: the plan and the content of every header the PCH build read (undefined if one is gone). */
async function pchName(base: string, deps: readonly string[], memo?: HashMemo): Promise<string | undefined> {
  const parts = [base];
  for (const d of deps) {
    const h = await fileHash(d, memo);
    if (!h) return undefined;
    parts.push(`${d}\0${h}`);
  }
  return sha(parts.join("\n")).slice(0, 40);
}

export interface PlanRequest {
  /** The stage's cache folder (ctx.cacheDir). */
  dir: string;
  /** clang's absolute path. */
  clang: string;
  arch: string;
  /** The plain compile's argv. */
  compileArgs: readonly string[];
  /** The source's text and absolute path. */
  source: string;
  sourcePath: string;
  mode: PchMode;
  /** Header hashes of this run (default: none remembered). */
  hashes?: HashMemo;
  /** The step's environment: clang's include-path variables (CPATH, C_INCLUDE_PATH) are part of the plan. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Environment variables that change where clang finds headers. */
const INCLUDE_ENV = ["CPATH", "C_INCLUDE_PATH"];

/** Why there is no plan (for the debug log), or the plan. */
export async function planPch(req: PlanRequest): Promise<PchPlan | string> {
  if (req.mode === "never") return "pch: never";
  const prefix = pchPrefix(req.source);
  if (prefix.length === 0) return "the source does not start with system or vmlinux.h #includes";
  const flags = pchArgs(req.compileArgs);
  if (!flags) return "a flag the PCH cannot carry (a relative -I path, -include, -x, -Xclang, …)";
  const dirs = includeDirs(flags).map((d) => resolve(d));
  const sizes: number[] = [];
  const lines: string[] = [];
  const stamps: string[] = [];
  for (const p of prefix) {
    // a quoted header is found next to the source: the prefix header names it by absolute path
    const found = p.quoted ? [join(dirname(req.sourcePath), p.name)] : dirs.map((d) => join(d, p.name));
    let size: number | undefined;
    let path: string | undefined;
    for (const f of found) {
      const st = await stat(f).catch(() => undefined);
      if (st?.isFile()) {
        size = st.size;
        path = f;
        stamps.push(`${f}\0${st.size}\0${st.mtimeMs}`);
        break;
      }
    }
    if (p.quoted && !path) return `${p.name} is not next to the source`;
    if (size !== undefined) sizes.push(size);
    lines.push(p.quoted ? `#include ${JSON.stringify(path)}` : `#include ${p.spelled}`);
  }
  if (!pchWorthIt(req.mode, prefix, sizes)) return "the prefix headers are small (no vmlinux.h)";
  const headerText = lines.join("\n") + "\n";
  const includeEnv = INCLUDE_ENV.map((k) => req.env?.[k] ?? null);
  const base = sha(JSON.stringify([PCH_FORMAT, await clangIdentity(req.clang), req.arch, flags, includeEnv, headerText])).slice(0, 40);
  const headersStamp = sha(stamps.join("\n")).slice(0, 40);
  const mark = join(req.dir, `${base}.nopch`);
  const marked = await readFile(mark, "utf8").catch(() => undefined);
  const markAge = marked === undefined ? Infinity : Date.now() - ((await stat(mark).catch(() => undefined))?.mtimeMs ?? 0);
  if (marked?.startsWith(`${headersStamp}\n`) && markAge < NOPCH_FOR_MS) return `this PCH did not work with these headers (${mark} says why)`;
  const plan: PchPlan = { dir: req.dir, base, header: join(req.dir, `${base}.h`), headerText, buildArgs: flags, headersStamp };
  const deps = await readFile(join(req.dir, `${base}.deps.json`), "utf8").then((t) => JSON.parse(t) as unknown, () => undefined);
  if (Array.isArray(deps) && deps.every((d) => typeof d === "string")) {
    const name = await pchName(base, deps as string[], req.hashes);
    if (name) plan.pch = join(req.dir, `${name}.pch`);
  }
  return plan;
}

/** The plan's PCH when it exists (marked as just used, for the LRU bound). */
export async function existingPch(plan: PchPlan): Promise<string | undefined> {
  if (!plan.pch) return undefined;
  const now = new Date();
  return utimes(plan.pch, now, now).then(
    () => plan.pch,
    () => undefined,
  );
}

function tmp(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const t = tmp(path);
  try {
    await writeFile(t, text);
    await rename(t, path);
  } catch (e) {
    await rm(t, { force: true });
    throw e;
  }
}

/** What makePch needs from the stage: run clang (never throwing). */
export type RunClang = (args: string[]) => Promise<{ exitCode: number | null; stderr: string }>;

/**
 * Build the plan's PCH: `clang <flags> -x c-header <prefix header> -o <temp> -MD -MF <temp>.d`,
 * then record what it read and rename it into place. A failed build, or one that printed
 * diagnostics (they would not be shown again by compiles that use the PCH), marks the plan as
 * not working. Returns the PCH's path, or why there is none.
 */
export async function makePch(plan: PchPlan, runClang: RunClang): Promise<{ pch: string } | { reason: string }> {
  await mkdir(plan.dir, { recursive: true });
  if ((await readFile(plan.header, "utf8").catch(() => undefined)) !== plan.headerText) await writeAtomic(plan.header, plan.headerText);
  const out = tmp(join(plan.dir, `${plan.base}.pch`));
  const dep = `${out}.d`;
  try {
    // the headers' content hashes go into the PCH: a header touched but unchanged keeps it valid
    const res = await runClang([...plan.buildArgs, "-fpch-validate-input-files-content", "-x", "c-header", plan.header, "-o", out, "-MD", "-MF", dep]);
    if (res.exitCode === null) return { reason: "the PCH build was stopped" }; // interrupted: nothing learnt
    if (res.exitCode !== 0 || res.stderr.trim() !== "") {
      const why = res.exitCode !== 0 ? `the PCH build failed (exit ${res.exitCode})` : "the PCH build printed diagnostics";
      await markNoPch(plan, `${why}:\n${res.stderr}`);
      return { reason: why };
    }
    const deps = parseDepfile(await readFile(dep, "utf8"), plan.dir)
      .filter((d) => d !== plan.header)
      .sort();
    const name = await pchName(plan.base, deps);
    if (!name) return { reason: "a header changed while the PCH was built" };
    const pch = join(plan.dir, `${name}.pch`);
    await writeAtomic(join(plan.dir, `${plan.base}.deps.json`), JSON.stringify(deps));
    await rename(out, pch);
    plan.pch = pch;
    await prunePchs(plan.dir, PCH_KEEP).catch(() => {});
    return { pch };
  } finally {
    await rm(out, { force: true });
    await rm(dep, { force: true });
  }
}

/**
 * "auto" makes a PCH when it will be used more than once: at once when two gadgets of the run
 * share it, else on the plan's second build — the first one compiles plainly and leaves
 * `<base>.wanted`, so a one-off build (CI without a kept cache) pays nothing for it.
 */
export async function pchWanted(plan: PchPlan): Promise<boolean> {
  return (await stat(join(plan.dir, `${plan.base}.wanted`)).catch(() => undefined)) !== undefined;
}

export async function markPchWanted(plan: PchPlan): Promise<void> {
  await mkdir(plan.dir, { recursive: true });
  await writeAtomic(join(plan.dir, `${plan.base}.wanted`), `${plan.headerText}`);
}

/**
 * What makes two compiles of a run share a PCH, from what the run knows up front (pure): the
 * arch, the gadget's cflags and its prefix (a quoted vmlinux.h by its absolute path).
 */
export function shareKey(arch: string, cflags: readonly string[], source: string, sourcePath: string): string | undefined {
  const prefix = pchPrefix(source);
  if (prefix.length === 0) return undefined;
  return JSON.stringify([arch, cflags, prefix.map((p) => (p.quoted ? join(dirname(sourcePath), p.name) : p.spelled))]);
}

/** Remove a PCH that failed (corrupt, stale): the next compile makes it again. */
export async function dropPch(pch: string): Promise<void> {
  await rm(pch, { force: true });
}

/** This plan does not work: later compiles go plain without trying (the file says why). */
export async function markNoPch(plan: PchPlan, why: string): Promise<void> {
  await mkdir(plan.dir, { recursive: true });
  await writeAtomic(join(plan.dir, `${plan.base}.nopch`), `${plan.headersStamp}\n${why.endsWith("\n") ? why : `${why}\n`}`);
}

/** Keep the `keep` most recently used .pch files of the folder; remove temp files of interrupted builds. */
export async function prunePchs(dir: string, keep: number, now = Date.now()): Promise<void> {
  const all = await readdir(dir);
  for (const n of all.filter((x) => x.includes(".tmp-"))) {
    const st = await stat(join(dir, n)).catch(() => undefined);
    if (st && now - st.mtimeMs > STALE_TEMP_MS) await rm(join(dir, n), { force: true });
  }
  const names = all.filter((n) => n.endsWith(".pch"));
  if (names.length <= keep) return;
  const aged = await Promise.all(names.map(async (n) => ({ p: join(dir, n), t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => b.t - a.t);
  for (const { p } of aged.slice(keep)) await rm(p, { force: true });
}

/** The compile's extra flags to use a PCH (a header whose mtime changed is checked by content, not refused). */
export function usePchArgs(pch: string): string[] {
  return ["-include-pch", pch, "-fpch-validate-input-files-content"];
}

/** The compile's depfile entries without the PCH's own files (the .pch, the prefix header): the real headers only. */
export function realHeaders(deps: readonly string[], pchDir: string): string[] {
  const inside = resolve(pchDir) + "/";
  return deps.filter((d) => !resolve(d).startsWith(inside));
}
