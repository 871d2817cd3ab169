/**
 * Where a gadgetfile object was made: defineGadgetfile, recipes (monorepo) and the `step()` helper
 * record the first stack frame in the bundled gadgetfile (a data: URL module) on the object they
 * return, as a hidden property. An error about a key under that object then points at the
 * gadgetfile line that made it (mapped back through the bundle's source map), also when the entry
 * went through a recipe or a helper function. Dependency-free: loaded with defineGadgetfile.
 */
const SITE = Symbol.for("gadget.site");

export interface Site {
  /** The module URL of the frame (the bundle's data: URL). */
  url: string;
  /** 1-based line and column in the bundled code. */
  line: number;
  column: number;
  /** "step": made by step() (its options are the call's second argument, not an `options:` key). */
  kind?: "step";
}

type Frame = { getFileName(): string | null | undefined; getLineNumber(): number | null; getColumnNumber(): number | null };

/** The first frame of the caller's stack that runs in a bundled (data: URL) module. */
function bundledCaller(): Omit<Site, "kind"> | undefined {
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 50;
    Error.prepareStackTrace = (_e, frames) => frames;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, bundledCaller);
    for (const f of (holder.stack as Frame[] | undefined) ?? []) {
      const url = f.getFileName() ?? "";
      if (url.startsWith("data:")) return { url, line: f.getLineNumber() ?? 1, column: f.getColumnNumber() ?? 1 };
    }
    return undefined;
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
