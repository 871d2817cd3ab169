/**
 * The no-op fast path of `gadget run` (DESIGN §7): when nothing a run depended on has changed,
 * the next identical run answers from one small state file instead of loading the gadgetfile,
 * the stages, the cache and the store.
 *
 * After a run in which every gadget built and every step that is not cached only tagged the
 * image into the local store (store-tag; a push, an export or a signature is never skipped),
 * `<cache>/up-to-date.json` records, per invocation:
 *  - what identifies it: the folder, the command line's tasks and flags, the store, the whole
 *    environment (a gadgetfile may read any variable) and this gadget installation's build;
 *  - the (size, mtime, ctime, inode) of every file the run depended on: the gadgetfile and its
 *    imports and plugins, every step's declared and discovered inputs (sources, headers,
 *    gadget.yaml), the tools it ran — each unchanged since before the run started;
 *  - the listings of the folders the gadget globs looked at, as they were when they were
 *    listed (a gadget folder added or removed; dot entries such as .gadget/ left out);
 *  - the tags it left in the store (index.json entries) and each gadget's result line.
 * The next run with the same invocation stats those files, reads the store's index.json and,
 * when everything matches, prints the same result lines. Anything that differs, or that it
 * cannot tell, falls back to the full run, which then records the new state. Only node:fs here:
 * this module is what a no-op loads.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot } from "./cache-dir.js";
import { listedDirs, listingOf } from "../gadgetfile/glob.js";
import type { GadgetRunResult } from "./run-graph.js";
import type { Project } from "./project.js";

export const UP_TO_DATE_FILE = "up-to-date.json";
/** How many invocations (task/flag combinations) one project remembers. */
const MAX_INVOCATIONS = 8;
/** Variables that differ between two identical runs typed in one shell, and change nothing. */
const VOLATILE_ENV = new Set(["_", "OLDPWD", "SHLVL"]);

/** A file's identity: size, mtime, ctime, inode (ctime moves on every change, whatever mtime says). */
type FileStamp = [size: number, mtimeMs: number, ctimeMs: number, ino: number];

export interface Invocation {
  cwd: string;
  /** The command line: positional arguments and every flag. */
  args: readonly string[];
  flags: Readonly<Record<string, unknown>>;
  storeDir: string;
  env: Readonly<Record<string, string | undefined>>;
}

export interface UpToDateGadget {
  name: string;
  /** The result line's digest (the packed image). */
  digest?: string;
}

interface StateEntry {
  invocation: string;
  files: [string, ...FileStamp][];
  /** Folders whose listing decided the gadget set: [path, names (no dot entries), sorted]. */
  dirs: [string, string[]][];
  /** index.json entries the run left: [ref.name annotation, digest]. */
  tags: [string, string][];
  /** Untagged images that must still be in the store. */
  blobs: string[];
  gadgets: UpToDateGadget[];
}

interface StateFile {
  v: 1;
  entries: StateEntry[];
}

/** What identifies an invocation, as one digest. */
export function invocationKey(inv: Invocation): string {
  const env = Object.entries(inv.env)
    .filter(([k, v]) => v !== undefined && !VOLATILE_ENV.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const flags = Object.entries(inv.flags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const material = JSON.stringify({ v: 1, cwd: inv.cwd, args: inv.args, flags, store: inv.storeDir, env, build: buildStamp() });
  return createHash("sha256").update(material).digest("hex");
}

/** This installation's build: the stamp scripts/build.mjs writes (dist/.built), so a rebuilt gadget runs in full. */
function buildStamp(): string {
  try {
    const self = fileURLToPath(import.meta.url);
    const st = statSync(join(dirname(self), "..", "..", ".built"));
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return "source";
  }
}

export function stampOf(path: string): FileStamp | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? [st.size, st.mtimeMs, st.ctimeMs, st.ino] : undefined;
}

function readState(file: string): StateFile | undefined {
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as StateFile;
    return s?.v === 1 && Array.isArray(s.entries) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The store's index.json entries: ref name → digests, and every digest. */
function storeEntries(storeDir: string): { refs: Map<string, string>; digests: Set<string> } | undefined {
  try {
    const idx = JSON.parse(readFileSync(join(storeDir, "index.json"), "utf8")) as { manifests?: { digest?: string; annotations?: Record<string, string> }[] };
    const refs = new Map<string, string>();
    const digests = new Set<string>();
    for (const m of idx.manifests ?? []) {
      if (typeof m.digest !== "string") continue;
      digests.add(m.digest);
      const name = m.annotations?.["org.opencontainers.image.ref.name"];
      if (name) refs.set(name, m.digest);
    }
    return { refs, digests };
  } catch {
    return undefined;
  }
}

export type UpToDateAnswer = { upToDate: true; gadgets: UpToDateGadget[] } | { upToDate: false; why: string };

/**
 * Is the project rooted at `projectRoot` up to date for this invocation? Stats the recorded
 * files and folders and reads the store's index.json; never throws.
 */
export function checkUpToDate(projectRoot: string, inv: Invocation): UpToDateAnswer {
  const state = readState(join(cacheRoot(projectRoot, inv.env), UP_TO_DATE_FILE));
  if (!state) return { upToDate: false, why: "no recorded state" };
  const key = invocationKey(inv);
  const entry = state.entries.find((e) => e.invocation === key);
  if (!entry) return { upToDate: false, why: "another command line, environment or gadget build" };
  for (const [path, ...stamp] of entry.files) {
    const now = stampOf(path);
    if (!now || now.some((x, i) => x !== stamp[i])) return { upToDate: false, why: `${path} changed` };
  }
  for (const [dir, names] of entry.dirs) {
    const now = listingOf(dir);
    if (now.length !== names.length || now.some((n, i) => n !== names[i])) return { upToDate: false, why: `${dir} has other entries` };
  }
  const store = storeEntries(inv.storeDir);
  if (!store) return { upToDate: false, why: "the store's index.json cannot be read" };
  for (const [name, digest] of entry.tags) if (store.refs.get(name) !== digest) return { upToDate: false, why: `${name} moved in the store` };
  for (const digest of entry.blobs) {
    if (!statSync(join(inv.storeDir, "blobs", "sha256", digest.slice("sha256:".length)), { throwIfNoEntry: false })) return { upToDate: false, why: `${digest} left the store` };
  }
  return { upToDate: true, gadgets: entry.gadgets };
}

export interface RecordInput {
  projectRoot: string;
  /** When the run started (Date.now()): a file changed since then is not trusted. */
  startedAt: number;
  /** Every file the run depended on (absolute). */
  files: Iterable<string>;
  /** The folders the gadget globs looked at, with their names when they were listed. */
  dirs: ReadonlyMap<string, string[]>;
  /** Per gadget, in order: its result line's digest, and the image it tagged (reference undefined: untagged; no `tagged`: the run tags nothing). */
  gadgets: (UpToDateGadget & { tagged?: { reference?: string; digest: string } })[];
}

/**
 * Record the state after a run that qualifies (see above). Returns why it did not, when it did
 * not: a file changed during the run, a tag not found in the store.
 */
export async function recordUpToDate(inv: Invocation, r: RecordInput): Promise<string | undefined> {
  const trustedBefore = r.startedAt - 10; // stamps within the clock's granularity of the start are not trusted
  const files: StateEntry["files"] = [];
  for (const path of [...new Set(r.files)].sort()) {
    const s = stampOf(path);
    if (!s) return `${path} is gone`;
    if (s[1] >= trustedBefore || s[2] >= trustedBefore) return `${path} changed during the run`;
    files.push([path, ...s]);
  }
  const dirs: StateEntry["dirs"] = [...r.dirs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const store = storeEntries(inv.storeDir);
  if (!store) return "the store's index.json cannot be read";
  const tags: StateEntry["tags"] = [];
  const blobs: string[] = [];
  for (const g of r.gadgets) {
    const t = g.tagged;
    if (!t) continue;
    if (t.reference === undefined) {
      blobs.push(t.digest);
      continue;
    }
    const ref = t.reference;
    const names = [...store.refs].filter(([, d]) => d === t.digest).map(([n]) => n);
    const name = names.find((n) => n === ref || n.endsWith(`/${ref}`) || ref.endsWith(`/${n}`)) ?? (names.length === 1 ? names[0] : undefined);
    if (!name) return `${ref} is not in the store's index.json`;
    tags.push([name, t.digest]);
  }
  const entry: StateEntry = { invocation: invocationKey(inv), files, dirs, tags, blobs, gadgets: r.gadgets.map((g) => ({ name: g.name, ...(g.digest ? { digest: g.digest } : {}) })) };
  const file = join(cacheRoot(r.projectRoot, inv.env), UP_TO_DATE_FILE);
  const old = readState(file)?.entries.filter((e) => e.invocation !== entry.invocation) ?? [];
  const { writeFileAtomic } = await import("../store/atomic.js");
  await writeFileAtomic(file, JSON.stringify({ v: 1, entries: [entry, ...old].slice(0, MAX_INVOCATIONS) } satisfies StateFile), { fsync: false });
  return undefined;
}

/**
 * Record the run's state for the fast path when it qualifies: every gadget built, no stage runs
 * once for all gadgets, and every step that is not cached only tagged the image into the local
 * store (a publish target that stays on the machine and reports { reference?, digest }).
 */
export async function recordRun(inv: Invocation, project: Project | undefined, results: GadgetRunResult[] | undefined, startedAt: number): Promise<void> {
  if (!project || !results || results.length === 0 || !results.every((r) => r.status === "ok")) return;
  const uncached: string[] = [];
  for (const s of project.steps) {
    const stage = project.stages.get(typeof s.spec === "string" ? s.spec : s.spec.stage);
    if (!stage || stage.runBatch) return;
    if (stage.cacheable === false) {
      if (!stage.publishTarget || stage.leavesMachine !== false) return;
      uncached.push(stage.name);
    }
  }
  if (uncached.length > 1) return; // at most the one step that tags the image
  const { imageDigest } = await import("./project.js");
  const gadgets = [];
  for (const r of results) {
    const d = imageDigest(r);
    if (uncached.length === 0) {
      gadgets.push({ name: r.gadget.name, ...(d ? { digest: d } : {}) });
      continue;
    }
    const res = r.results[uncached[0]!];
    if (typeof res?.digest !== "string" || (res.reference !== undefined && typeof res.reference !== "string")) return;
    gadgets.push({ name: r.gadget.name, ...(d ? { digest: d } : {}), tagged: { digest: res.digest, ...(typeof res.reference === "string" ? { reference: res.reference } : {}) } });
  }
  const root = project.gadgetfile.dir;
  const files = new Set<string>([project.gadgetfile.file, ...project.configInputs, ...results.flatMap((r) => r.inputs)]);
  for (const f of ["package.json", "package-lock.json"]) if (existsSync(join(root, f))) files.add(join(root, f));
  for (const g of project.gadgets) if (existsSync(join(g.dir, "build.yaml"))) files.add(join(g.dir, "build.yaml"));
  const dirs = new Map(listedDirs);
  for (const g of project.gadgets) {
    if (dirs.has(g.dir)) continue;
    // a folder named without a glob (`gadgets: ["."]`): its listing now, if nothing was added or removed there during the run
    const st = statSync(g.dir, { throwIfNoEntry: false });
    if (!st || st.mtimeMs >= startedAt - 10) return;
    dirs.set(g.dir, listingOf(g.dir));
  }
  // not recorded (a file changed during the run, …): the next run is a full one, which is always right
  await recordUpToDate(inv, { projectRoot: root, startedAt, files, dirs, gadgets }).catch(() => undefined);
}
