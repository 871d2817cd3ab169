/**
 * A tiny glob matcher for gadget folders (Node 20 has no fs.glob): `*`, `?`, `[abc]`, `{a,b}`
 * within a path segment, `**` for any depth. Hidden folders and node_modules are skipped.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export function hasGlob(p: string): boolean {
  return /[*?[\]{}]/.test(p);
}

/** Expand {a,b} alternatives (no nesting needed for folder patterns, but handled recursively). */
export function expandBraces(p: string): string[] {
  const m = /\{([^{}]*)\}/.exec(p);
  if (!m) return [p];
  return m[1]!.split(",").flatMap((alt) => expandBraces(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
}

export function segmentRegExp(seg: string): RegExp {
  let re = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = seg.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let body = seg.slice(i + 1, end);
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** Whether a "/"-separated path matches a pattern (`*`, `?`, `[…]`, `{a,b}` in a segment, `**` for any depth). */
export function matchPath(pattern: string, path: string): boolean {
  const parts = path.split("/").filter(Boolean);
  const match = (pat: string[], i: number, j: number): boolean => {
    if (i === pat.length) return j === parts.length;
    if (pat[i] === "**") {
      for (let k = j; k <= parts.length; k++) if (match(pat, i + 1, k)) return true;
      return false;
    }
    return j < parts.length && segmentRegExp(pat[i]!).test(parts[j]!) && match(pat, i + 1, j + 1);
  };
  return expandBraces(pattern).some((p) => match(p.split("/").filter(Boolean), 0, 0));
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every folder the gadget globs looked at in this process, with the names it held then (dot
 * entries left out): a gadget folder added or removed, or a gadget's program.bpf.c, gadget.yaml
 * or build.yaml appearing, changes one of these listings (the no-op fast path records them,
 * engine/up-to-date.ts).
 */
export const listedDirs = new Map<string, string[]>();

export function listingOf(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => !n.startsWith("."))
      .sort();
  } catch {
    return [];
  }
}

function noteDir(dir: string): void {
  if (!listedDirs.has(dir)) listedDirs.set(dir, listingOf(dir));
}

function subdirs(dir: string): string[] {
  noteDir(dir);
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith(".") && e.name !== "node_modules")
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** Directories under `base` matching the pattern (relative, "/"-separated). Sorted, unique. */
export function globDirs(base: string, pattern: string): string[] {
  const out = new Set<string>();
  for (const p of expandBraces(pattern)) {
    const segs = p.split("/").filter((s) => s !== "" && s !== ".");
    walk(base, segs, out);
  }
  return [...out].sort();
}

/**
 * A pattern whose last segment names a file ("**" + "/program.bpf.c", "gadgets/x/build.yaml") selects
 * the folders that hold such a file; otherwise the pattern selects folders.
 */
export function globGadgetDirs(base: string, pattern: string): { dirs: string[]; byFile: boolean } {
  const segs = pattern.split("/").filter((s) => s !== "" && s !== ".");
  const last = segs.at(-1) ?? "";
  if (!/\.[A-Za-z0-9]+$/.test(last) || last === "**") return { dirs: globDirs(base, pattern), byFile: false };
  const parent = segs.slice(0, -1).join("/") || ".";
  const re = segmentRegExp(last);
  const dirs = globDirs(base, parent).filter((d) => {
    noteDir(d);
    try {
      return readdirSync(d, { withFileTypes: true }).some((e) => e.isFile() && re.test(e.name));
    } catch {
      return false;
    }
  });
  return { dirs, byFile: true };
}

function walk(dir: string, segs: string[], out: Set<string>): void {
  noteDir(dir);
  if (segs.length === 0) {
    out.add(dir);
    return;
  }
  const [seg, ...rest] = segs as [string, ...string[]];
  if (seg === "**") {
    walk(dir, rest, out);
    for (const d of subdirs(dir)) walk(join(dir, d), segs, out);
    return;
  }
  if (seg === "..") {
    walk(join(dir, ".."), rest, out);
    return;
  }
  if (!hasGlob(seg)) {
    const next = join(dir, seg);
    if (isDir(next)) walk(next, rest, out);
    return;
  }
  const re = segmentRegExp(seg);
  for (const d of subdirs(dir)) if (re.test(d)) walk(join(dir, d), rest, out);
}
