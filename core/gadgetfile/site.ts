/**
 * Where a gadgetfile object was made: defineGadgetfile, recipes (monorepo) and the `step()` helper
 * record the caller's stack frames in the bundled gadgetfile (a data: URL module: the gadgetfile
 * and the local files it imports) on the object they return, as a hidden property. An error about
 * a key under that object then points at the line that wrote it (mapped back through the bundle's
 * source map), also when the entry went through a recipe or a helper function. Dependency-free:
 * loaded with defineGadgetfile.
 */
const SITE = Symbol.for("gadget.site");

export interface Site {
  /** The module URL of the frames (the bundle's data: URL). */
  url: string;
  /** The caller's frames in the bundled code, innermost first: 1-based line and column. */
  frames: { line: number; column: number }[];
  /** "step": made by step() (its options are the call's second argument, not an `options:` key). */
  kind?: "step";
}

type Frame = { getFileName(): string | null | undefined; getLineNumber(): number | null; getColumnNumber(): number | null };

/** The caller's stack frames that run in the bundled (data: URL) module, innermost first. */
function bundledCaller(): Omit<Site, "kind"> | undefined {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 50;
    Error.prepareStackTrace = (_e, frames) => frames;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, bundledCaller);
    let url: string | undefined;
    const frames: Site["frames"] = [];
    for (const f of (holder.stack as Frame[] | undefined) ?? []) {
      const name = f.getFileName() ?? "";
      if (!name.startsWith("data:") || (url !== undefined && name !== url)) continue;
      url = name;
      frames.push({ line: f.getLineNumber() ?? 1, column: f.getColumnNumber() ?? 1 });
    }
    return url ? { url, frames } : undefined;
  } catch {
    return undefined;
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}

/** Record on `obj` (when not already recorded) where in the gadgetfile it was made; returns obj. */
export function recordSite<T>(obj: T, kind?: "step"): T {
  if (obj === null || typeof obj !== "object" || Object.hasOwn(obj, SITE)) return obj;
  const site = bundledCaller();
  if (site) Object.defineProperty(obj, SITE, { value: kind ? { ...site, kind } : site, enumerable: false });
  return obj;
}

export function siteOf(obj: unknown): Site | undefined {
  return obj !== null && typeof obj === "object" ? ((obj as Record<symbol, Site | undefined>)[SITE] ?? undefined) : undefined;
}
