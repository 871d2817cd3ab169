/**
 * The check loader (core/check/loader, Go on cilium/ebpf, built by scripts/bootstrap) — where it
 * is, what it is (its digest joins the cache key), and its output: one JSON line per object and
 * per program, parsed here into results.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GadgetError } from "../errors.js";
import { sha256File } from "./kernel.js";
import type { ProgramResult } from "./types.js";

export const LOADER_RELATIVE_PATH = join("dist", "check-loader", "gadget-check-loader");

/** The package root: the nearest folder up from this module with gadget's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "gadget") return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export interface LoaderBinary {
  path: string;
  /** `sha256:…` of the binary: results of another loader are another cache entry. */
  digest: string;
}

/**
 * The loader binary, or undefined when it was never built (then bpftool is the fallback on the
 * host). GADGET_CHECK_LOADER names another binary, or `bpftool` to use the fallback.
 */
export async function findLoader(env: NodeJS.ProcessEnv = process.env): Promise<LoaderBinary | undefined> {
  if (env.GADGET_CHECK_LOADER === "bpftool") return undefined;
  const path = env.GADGET_CHECK_LOADER || join(packageRoot(), LOADER_RELATIVE_PATH);
  if (!existsSync(path)) {
    if (env.GADGET_CHECK_LOADER) throw new GadgetError({ what: "check loader not found", which: path, why: "GADGET_CHECK_LOADER names no file", hint: "run scripts/bootstrap" });
    return undefined;
  }
  return { path, digest: await sha256File(path) };
}

export function loaderMissingError(): GadgetError {
  return new GadgetError({ what: "check loader not found", which: LOADER_RELATIVE_PATH, why: "it is built from core/check/loader by scripts/bootstrap", hint: "run scripts/bootstrap", code: "NO_LOADER" });
}

/** One entry of the manifest the loader reads. */
export interface LoaderInput {
  id: string;
  path: string;
  params?: Record<string, string>;
}

export interface LoadedObject {
  id: string;
  loaded: boolean;
  programs: ProgramResult[];
  prepared: string[];
  /** Object-level reason (map creation, not an object, …), when not loaded. */
  reason?: string;
  error?: string;
}

export interface LoaderRun {
  release?: string;
  /** Set when this process may not load programs at all (the loader's privilege probe). */
  denied?: string;
  objects: Map<string, LoadedObject>;
  warnings: string[];
  /** The loader reached its end line (nothing was cut short). */
  ended: boolean;
}

/** Parse the loader's JSON lines (other lines — a console's noise — are ignored). */
export function parseLoaderOutput(lines: Iterable<string>): LoaderRun {
  const run: LoaderRun = { objects: new Map(), warnings: [], ended: false };
  const pending = new Map<string, ProgramResult[]>();
  for (const raw of lines) {
    const line = raw.trim();
    if (!line.startsWith("{")) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    switch (v.kind) {
      case "kernel":
        run.release = String(v.release ?? "");
        break;
      case "denied":
        run.denied = String(v.reason ?? "loading BPF programs is not permitted here");
        break;
      case "warning":
        run.warnings.push(String(v.message ?? ""));
        break;
      case "program": {
        const id = String(v.object);
        const list = pending.get(id) ?? [];
        list.push(programFrom(v));
        pending.set(id, list);
        break;
      }
      case "object": {
        const id = String(v.object);
        const programs = pending.get(id) ?? [];
        pending.delete(id);
        const obj: LoadedObject = {
          id,
          loaded: v.loaded === true,
          programs,
          prepared: Array.isArray(v.prepared) ? v.prepared.map(String) : [],
        };
        if (typeof v.error === "string") obj.error = v.error;
        if (!obj.loaded) obj.reason = objectReason(obj, typeof v.reason === "string" ? v.reason : undefined);
        run.objects.set(id, obj);
        break;
      }
      case "end":
        run.ended = true;
        break;
    }
  }
  return run;
}

function programFrom(v: Record<string, unknown>): ProgramResult {
  const p: ProgramResult = {
    name: String(v.name ?? ""),
    section: String(v.section ?? ""),
    progType: String(v.progType ?? ""),
    loaded: v.loaded === true,
    insns: Number(v.insns ?? 0),
    totalStates: Number(v.totalStates ?? 0),
    peakStates: Number(v.peakStates ?? 0),
    maxStatesPerInsn: Number(v.maxStatesPerInsn ?? 0),
  };
  if (typeof v.skipped === "string") p.skipped = v.skipped;
  if (typeof v.error === "string") p.error = v.error;
  if (typeof v.reason === "string") p.reason = v.reason;
  if (Array.isArray(v.log)) p.log = v.log.map(String);
  return p;
}

/** The object's one-line reason: its own, or the first refused program's. */
function objectReason(obj: LoadedObject, own: string | undefined): string {
  if (own) return own;
  const refused = obj.programs.filter((p) => !p.loaded && !p.skipped);
  if (refused.length > 0) return `${refused[0]!.name}: ${refused[0]!.reason ?? refused[0]!.error ?? "refused"}`;
  return obj.error ?? "refused";
}
