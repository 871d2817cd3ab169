/**
 * The content-addressed step cache (DESIGN §7), under <projectRoot>/.gadget/:
 *
 *   fingerprints.json  path → [size, mtimeMs, ino, digest]: files are hashed only when changed
 *   tools.json         tool path (+ probe) → [size, mtimeMs, ino, `--version` or probe output] (run once per change)
 *   manifests/<k1>.json  for a key of declared inputs (k1): the sets of files steps with that key
 *                      turned out to read (clang's headers), newest first
 *   actions/<k2>.json  what a step produced for k1 + the digests of one such set (k2): outputs (by
 *                      digest), annotations, result, the discovered inputs with digests. Kept until
 *                      pruned (mtime = last use), so going back to an earlier state is all hits.
 *   steps.json         the last key components of every step of every gadget (for --explain)
 *   cas/<hex>          output files by sha256 (read-only); verified every time they are restored
 *   out/               scratch output dirs of running steps
 *
 * k1 is a pure function of what the step declares: stage name+version, the stage's code (its
 * origin: gadget's version, a local plugin's files, an npm plugin's version+integrity), the
 * gadget's name and arch (the whole gadget description for a stage that declares nothing), tool
 * identities, args, options, declared env values, declared input file digests, input artifact
 * digests and the annotations the step sees. Corrupt or missing outputs are detected and the step
 * re-runs.
 */
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import { delimiter, isAbsolute, join, relative, resolve } from "node:path";
import type { Arch, Artifact, GadgetInfo, Stage, StageInputs } from "../types.js";
import type { Digest } from "../oci/digest.js";
import { isDigest } from "../oci/digest.js";
import type { LayoutStore } from "../store/layout-store.js";
import { writeFileAtomic } from "../store/atomic.js";
import { exec } from "./exec.js";
import { hashFileOffThread } from "./pool.js";
import { explainOriginChange, stageOrigin, type StageOrigin } from "./stage-origin.js";
import { cacheRoot } from "./cache-dir.js";

export const CACHE_DIR = ".gadget";
/** How many sets of discovered inputs a manifest remembers per key (newest first). */
const MAX_VARIANTS = 32;

export interface Outcome {
  artifacts: Map<string, Artifact>;
  annotations: Record<string, string>;
  result?: Record<string, unknown>;
  discovered: string[];
}

export interface LookupRequest {
  stage: Stage<any>;
  stepIndex: number;
  gadget: GadgetInfo;
  arch: Arch | undefined;
  options: Record<string, unknown>;
  declared: StageInputs;
  artifacts: ReadonlyMap<string, Artifact>;
  annotations?: Readonly<Record<string, string>>;
  openStore: () => Promise<LayoutStore>;
}

/** The parts of a key, in the order --explain compares them. */
export interface KeyComponents {
  stage: string;
  /** The stage's code (see stage-origin.ts). */
  code: StageOrigin;
  tools: Record<string, { path: string; version: string }>;
  args: string;
  options: string;
  gadget: string;
  env: Record<string, string | null>;
  files: Record<string, string>;
  artifacts: Record<string, string>;
  annotations: string;
}

export interface StepKey {
  /** k1: the digest of the declared components. */
  key: string;
  stepId: string;
  components: KeyComponents;
}

export interface LookupResult {
  key: StepKey;
  hit?: Outcome;
  /** Why it missed (for --explain). */
  reason?: string;
}

interface ActionEntry {
  v: 2;
  /** k1 (the manifest it belongs to). */
  key: string;
  outputs: Record<string, { digest: Digest; size: number }>;
  annotations: Record<string, string>;
  result?: Record<string, unknown>;
  discovered: Record<string, string>;
  usedStore?: boolean;
}

interface Manifest {
  v: 1;
  /** Sets of discovered input paths (as stored: relative to the project when inside it), newest first. */
  sets: string[][];
}

interface StepRecord {
  v: 2;
  components: KeyComponents;
  discovered: Record<string, string>;
}

type Fingerprint = [size: number, mtimeMs: number, ino: number, digest: string];
type ToolPrint = [size: number, mtimeMs: number, ino: number, version: string];

export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (x && typeof x === "object" && !Array.isArray(x)) {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) o[k] = (x as Record<string, unknown>)[k];
      return o;
    }
    return x;
  });
}

function h(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** k2: an action's key, from k1 and the digests of the inputs the step discovered. */
export function actionKey(k1: string, discovered: Record<string, string>): string {
  return h(`${k1}\0${stableJson(discovered)}`);
}

const PROCESS_TOOLS = new Map<string, Promise<{ path: string; version: string }>>();
const DEFAULT_PROBE: string[][] = [["--version"]];


export class StepCache {
  readonly root: string;
  readonly workDir: string;
  private readonly projectRoot: string;
  private readonly env: Record<string, string | undefined>;
  private fingerprints: Record<string, Fingerprint> = {};
  private tools: Record<string, ToolPrint> = {};
  private dirty = { fp: false, tools: false };
  private readonly digests = new Map<string, Promise<string | null>>();
  /** Last key components per step (for --explain), one file for the project. */
  private steps: Record<string, StepRecord> = {};
  private stepsDirty = false;
  /** Action files restored this run (their mtime is the LRU clock). */
  private readonly used = new Set<string>();
  /** Bytes of new outputs this run put into cas/ (the size bound is checked when > 0). */
  savedBytes = 0;

  constructor(projectRoot: string, env: Record<string, string | undefined>) {
    this.projectRoot = resolve(projectRoot);
    this.root = cacheRoot(this.projectRoot, env);
    this.workDir = this.root;
    this.env = env;
  }

  async init(): Promise<void> {
    await mkdir(join(this.root, "out"), { recursive: true });
    if (!existsSync(join(this.root, ".gitignore"))) await writeFile(join(this.root, ".gitignore"), "*\n");
    this.fingerprints = await readJson(join(this.root, "fingerprints.json"), {});
    this.tools = await readJson(join(this.root, "tools.json"), {});
    const steps = await readJson<Record<string, StepRecord>>(join(this.root, "steps.json"), {});
    for (const [id, rec] of Object.entries(steps)) if (rec?.v === 2) this.steps[id] = rec;
    await this.cleanStaleScratch();
  }

  /** Scratch dirs (out/<pid>-…) of runs whose process is gone (killed mid-run). */
  private async cleanStaleScratch(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(join(this.root, "out"));
    } catch {
      return;
    }
    for (const n of names) {
      const pid = Number(n.split("-")[0]);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      let alive = true;
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === "EPERM";
      }
      if (!alive) await rm(join(this.root, "out", n), { recursive: true, force: true }).catch(() => {});
    }
  }

  rel(p: string): string {
    const r = relative(this.projectRoot, p);
    return r && !r.startsWith("..") && !isAbsolute(r) ? r : p;
  }

  private abs(p: string): string {
    return isAbsolute(p) ? p : resolve(this.projectRoot, p);
  }

  /** sha256 of a file via the (size, mtime, inode) fingerprint; null when it does not exist. */
  fileDigest(path: string): Promise<string | null> {
    let p = this.digests.get(path);
    if (!p) {
      p = this.computeDigest(path);
      this.digests.set(path, p);
    }
    return p;
  }

  private async computeDigest(path: string): Promise<string | null> {
    let st;
    try {
      st = await stat(path);
    } catch {
      return null;
    }
    if (!st.isFile()) return null;
    const fp = this.fingerprints[path];
    if (fp && fp[0] === st.size && fp[1] === st.mtimeMs && fp[2] === st.ino) return fp[3];
    const digest = await hashPath(path, st.size);
    // A file modified in the same millisecond as we hashed it could keep its mtime: don't trust very fresh stamps.
    if (Date.now() - st.mtimeMs > 2) {
      this.fingerprints[path] = [st.size, st.mtimeMs, st.ino, digest];
      this.dirty.fp = true;
    }
    return digest;
  }

  /**
   * Tool identity: resolved path + the output of `--version` (or of the given probes), re-run
   * only when the binary changes (size, mtime, inode).
   */
  toolIdentity(tool: string, probe: string[][] = DEFAULT_PROBE): Promise<{ path: string; version: string }> {
    const path = whichSync(tool, this.env.PATH ?? process.env.PATH ?? "") ?? tool;
    // The default probe keeps the plain path as its key (tools.json written before probes existed).
    const key = probe === DEFAULT_PROBE ? path : `${path}\0${JSON.stringify(probe)}`;
    let st: { size: number; mtimeMs: number; ino: number } | undefined;
    try {
      st = statSync(path);
    } catch {
      st = undefined;
    }
    if (!st) return Promise.resolve({ path, version: "(not found)" });
    // Remembered per binary state: a watch session notices an upgraded tool.
    const memo = `${key}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
    let p = PROCESS_TOOLS.get(memo);
    if (!p) {
      const now = st;
      p = (async () => {
        const tp = this.tools[key];
        if (tp && tp[0] === now.size && tp[1] === now.mtimeMs && tp[2] === now.ino) return { path, version: tp[3] };
        const outs = await Promise.all(probe.map((args) => exec(path, args, { nothrow: true, baseEnv: this.env })));
        const version = outs.map((out) => (out.stdout + out.stderr).trim()).join("\n");
        this.tools[key] = [now.size, now.mtimeMs, now.ino, version];
        this.dirty.tools = true;
        return { path, version };
      })();
      PROCESS_TOOLS.set(memo, p);
    }
    return p;
  }

  async components(req: LookupRequest): Promise<KeyComponents> {
    const d = req.declared;
    const tools: KeyComponents["tools"] = {};
    for (const t of d.tools ?? []) {
      if (typeof t === "string") tools[t] = await this.toolIdentity(t);
      else tools[t.tool] = await this.toolIdentity(t.tool, t.probe.length > 0 ? t.probe : DEFAULT_PROBE);
    }
    const env: Record<string, string | null> = {};
    for (const n of d.env ?? []) env[n] = this.env[n] ?? null;
    const files: Record<string, string> = {};
    await Promise.all(
      (d.files ?? []).map(async (f) => {
        const abs = resolve(req.gadget.dir, f);
        files[this.rel(abs)] = (await this.fileDigest(abs)) ?? "(missing)";
      }),
    );
    const hasInputs = typeof req.stage.inputs === "function";
    // A stage that declares its inputs declares the artifacts it reads; one that does not depends on all of them.
    const artifacts: Record<string, string> = {};
    const names = d.artifacts ?? (hasInputs ? [] : [...req.artifacts.keys()]);
    for (const n of names) artifacts[n] = req.artifacts.get(n)?.digest ?? "(missing)";
    return {
      stage: `${req.stage.name}@${req.stage.version}`,
      code: stageOrigin(req.stage),
      tools,
      args: h(stableJson(d.args ?? null)),
      options: h(stableJson(req.options)),
      // The gadget's name always (a step works for its gadget: ctx.gadget.name may shape its output);
      // without declared inputs the whole gadget description (conservative).
      gadget: hasInputs ? `${req.gadget.name}${req.arch ? `@${req.arch}` : ""}` : h(stableJson({ ...req.gadget, arch: req.arch })),
      env,
      files: sortObj(files),
      artifacts,
      annotations: h(stableJson(req.annotations ?? {})),
    };
  }

  /** Current digests of a set of discovered inputs; undefined when one of them is gone. */
  private async setDigests(set: string[]): Promise<Record<string, string> | undefined> {
    const out: Record<string, string> = {};
    for (const p of set) {
      const dg = await this.fileDigest(this.abs(p));
      if (dg === null) return undefined;
      out[p] = dg;
    }
    return out;
  }

  async lookup(req: LookupRequest): Promise<LookupResult> {
    const components = await this.components(req);
    const key = h(stableJson(components));
    const stepId = h(stableJson([req.gadget.dir, req.gadget.name, req.stage.name, req.arch ?? "", req.stepIndex]));
    const sk: StepKey = { key, stepId, components };
    const manifest = await readJson<Manifest | null>(join(this.root, "manifests", `${key}.json`), null);
    let corrupt: string | undefined;
    for (const set of manifest?.v === 1 ? manifest.sets : []) {
      const discovered = await this.setDigests(set);
      if (!discovered) continue;
      const actionFile = join(this.root, "actions", `${actionKey(key, discovered)}.json`);
      const entry = await readJson<ActionEntry | null>(actionFile, null);
      if (!entry || entry.v !== 2) continue;
      const restored = await this.restore(entry, req);
      if (typeof restored === "string") {
        corrupt ??= restored;
        continue;
      }
      this.used.add(actionFile);
      // Keep the step record pointing at this key, so the next miss is explained against it.
      this.writeStepRecord(sk, entry.discovered);
      return { key: sk, hit: { ...restored, discovered: Object.keys(entry.discovered).map((p) => this.abs(p)) } };
    }
    return { key: sk, reason: corrupt ?? (await this.explainMiss(stepId, components)) };
  }

  /** The outputs of an action entry, verified; or why they cannot be used. */
  private async restore(entry: ActionEntry, req: LookupRequest): Promise<Omit<Outcome, "discovered"> | string> {
    const artifacts = new Map<string, Artifact>();
    for (const [name, o] of Object.entries(entry.outputs)) {
      const path = join(this.root, "cas", o.digest.slice(7));
      let got;
      try {
        got = await hashPath(path, o.size);
      } catch {
        return `cache entry corrupt: output ${name} missing`;
      }
      if (got !== o.digest) return `cache entry corrupt: output ${name} does not match ${o.digest}`;
      artifacts.set(name, { path, digest: o.digest, size: o.size });
    }
    if (entry.usedStore && entry.result && isDigest(entry.result.digest)) {
      const store = await req.openStore();
      if (!(await store.hasBlob(entry.result.digest))) return `${entry.result.digest} no longer in the store`;
    }
    return { artifacts, annotations: entry.annotations, ...(entry.result ? { result: entry.result } : {}) };
  }

  /** Why a step missed: the first component that differs from its last run, else the first discovered input that changed. */
  private async explainMiss(stepId: string, components: KeyComponents): Promise<string> {
    const last = this.steps[stepId];
    if (!last) return "not built before";
    const diff = explainDiff(last.components, components);
    if (diff) return diff;
    for (const [p, dg] of Object.entries(last.discovered)) {
      const now = await this.fileDigest(this.abs(p));
      if (now !== dg) return `${this.rel(this.abs(p))} ${now === null ? "removed" : "changed"}`;
    }
    return "cache entry missing";
  }

  /** Store a step's outputs in the CAS and record the entry; returns artifacts pointing into the CAS. */
  async save(key: StepKey, o: Outcome & { usedStore: boolean }, outDir?: string): Promise<Map<string, Artifact>> {
    const casDir = join(this.root, "cas");
    await mkdir(casDir, { recursive: true });
    const outputs: ActionEntry["outputs"] = {};
    const artifacts = new Map<string, Artifact>();
    for (const [name, a] of o.artifacts) {
      const dest = join(casDir, a.digest.slice(7));
      // Identical outputs share one file; an existing one is reused only if it is intact.
      const intact = existsSync(dest) && (await hashPath(dest, a.size).catch(() => "")) === a.digest;
      if (!intact) {
        const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
        if (outDir && !relative(outDir, a.path).startsWith("..")) await rename(a.path, tmp).catch(() => copyFile(a.path, tmp));
        else await copyFile(a.path, tmp);
        await chmod(tmp, 0o444);
        await rename(tmp, dest);
        this.savedBytes += a.size;
      }
      outputs[name] = { digest: a.digest, size: a.size };
      artifacts.set(name, { path: dest, digest: a.digest, size: a.size });
    }
    const discovered = await this.discoveredRecord(o.discovered);
    const entry: ActionEntry = { v: 2, key: key.key, outputs, annotations: o.annotations, discovered, ...(o.result ? { result: o.result } : {}), ...(o.usedStore ? { usedStore: true } : {}) };
    const entryJson = JSON.stringify(entry);
    await writeFileAtomic(join(this.root, "actions", `${actionKey(key.key, discovered)}.json`), entryJson, { fsync: false });
    this.savedBytes += entryJson.length;
    await this.addToManifest(key.key, Object.keys(discovered));
    this.writeStepRecord(key, discovered);
    if (outDir) await rm(outDir, { recursive: true, force: true });
    return artifacts;
  }

  /** Discovered inputs (absolute paths) as an entry records them: path as stored → digest. */
  async discoveredRecord(paths: readonly string[]): Promise<Record<string, string>> {
    const discovered: Record<string, string> = {};
    for (const p of [...new Set(paths)].sort()) {
      const dg = await this.fileDigest(p);
      if (dg) discovered[this.rel(p)] = dg;
    }
    return discovered;
  }

  /** The current digest of a path as an entry records it (relative to the project, or absolute). */
  recordedDigest(p: string): Promise<string | null> {
    return this.fileDigest(this.abs(p));
  }

  /** A path as an entry records it, made absolute. */
  absPath(p: string): string {
    return this.abs(p);
  }

  private async addToManifest(k1: string, set: string[]): Promise<void> {
    const file = join(this.root, "manifests", `${k1}.json`);
    const m = await readJson<Manifest | null>(file, null);
    const sets = m?.v === 1 ? m.sets : [];
    const id = JSON.stringify(set);
    if (sets.length > 0 && JSON.stringify(sets[0]) === id) return;
    const next: Manifest = { v: 1, sets: [set, ...sets.filter((s) => JSON.stringify(s) !== id)].slice(0, MAX_VARIANTS) };
    await writeFileAtomic(file, JSON.stringify(next), { fsync: false });
  }

  private writeStepRecord(key: StepKey, discovered: Record<string, string>): void {
    const rec: StepRecord = { v: 2, components: key.components, discovered };
    const old = this.steps[key.stepId];
    if (old && stableJson(old) === stableJson(rec)) return;
    this.steps[key.stepId] = rec;
    this.stepsDirty = true;
  }

  async flush(): Promise<void> {
    if (this.dirty.fp) await writeFileAtomic(join(this.root, "fingerprints.json"), JSON.stringify(this.fingerprints), { fsync: false });
    if (this.dirty.tools) await writeFileAtomic(join(this.root, "tools.json"), JSON.stringify(this.tools), { fsync: false });
    if (this.stepsDirty) await writeFileAtomic(join(this.root, "steps.json"), JSON.stringify(this.steps), { fsync: false });
    this.dirty = { fp: false, tools: false };
    this.stepsDirty = false;
    // The LRU clock: an entry's mtime is its last use (a prune removes the least recently used).
    const now = new Date();
    await Promise.all([...this.used].map((f) => utimes(f, now, now).catch(() => {})));
    this.used.clear();
  }

  /** Forget in-memory digests (watch mode: files changed since). */
  invalidate(paths?: string[]): void {
    if (!paths) this.digests.clear();
    else for (const p of paths) this.digests.delete(p);
  }
}

/** The first component that differs, as --explain words it. */
export function explainDiff(a: KeyComponents, b: KeyComponents): string | undefined {
  if (a.stage !== b.stage) return `stage version changed (${a.stage} → ${b.stage})`;
  if (a.code.id !== b.code.id || a.code.source !== b.code.source) return explainOriginChange(a.code, b.code);
  for (const [t, id] of Object.entries(b.tools)) {
    const old = a.tools[t];
    if (!old) return `tool ${t} added`;
    if (old.path !== id.path) return `${t} path changed (${old.path} → ${id.path})`;
    if (old.version !== id.version) return `${t} version changed`;
  }
  for (const t of Object.keys(a.tools)) if (!(t in b.tools)) return `tool ${t} removed`;
  if (a.args !== b.args) return "args changed";
  if (a.options !== b.options) return "options changed";
  if (a.gadget !== b.gadget) return "gadget settings changed";
  for (const k of new Set([...Object.keys(a.env), ...Object.keys(b.env)])) if (a.env[k] !== b.env[k]) return `env ${k} changed`;
  for (const [f, dg] of Object.entries(b.files)) {
    if (!(f in a.files)) return `${f} added`;
    if (a.files[f] !== dg) return dg === "(missing)" ? `${f} removed` : `${f} changed`;
  }
  for (const f of Object.keys(a.files)) if (!(f in b.files)) return `${f} no longer an input`;
  for (const k of new Set([...Object.keys(a.artifacts), ...Object.keys(b.artifacts)])) if (a.artifacts[k] !== b.artifacts[k]) return `input ${k} changed`;
  if (a.annotations !== b.annotations) return "annotations changed";
  return undefined;
}

function sortObj<T>(o: Record<string, T>): Record<string, T> {
  const r: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) r[k] = o[k]!;
  return r;
}

async function readJson<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch {
    return fallback;
  }
}

export function whichSync(tool: string, pathEnv: string): string | undefined {
  if (tool.includes("/")) return resolve(tool);
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, tool);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

async function hashPath(path: string, size: number): Promise<string> {
  return (await hashFileOffThread(path, size)).digest;
}

export async function openStepCache(projectRoot: string, opts: { env?: Record<string, string | undefined> } = {}): Promise<StepCache> {
  const c = new StepCache(projectRoot, opts.env ?? process.env);
  await c.init();
  return c;
}
