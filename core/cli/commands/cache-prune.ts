/** `gadget cache prune [--max-size SIZE] [--older-than DURATION]`: shrink the project's step cache. */
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";
import { GadgetError } from "../../errors.js";
import type { CommandContext } from "../context.js";
import { toJson } from "../output.js";

export async function run(ctx: CommandContext): Promise<number> {
  const [{ findGadgetfile }, { CACHE_DIR }, prune, { formatBytes }] = await Promise.all([import("../../gadgetfile/load.js"), import("../../engine/cache.js"), import("../../engine/cache-prune.js"), import("../progress.js")]);
  const sizeFlag = ctx.flagString("max-size");
  const ageFlag = ctx.flagString("older-than");
  let maxBytes: number | undefined;
  if (sizeFlag !== undefined) {
    maxBytes = prune.parseSize(sizeFlag);
    if (maxBytes === undefined) throw new GadgetError({ what: "invalid size", which: "--max-size", why: `${JSON.stringify(sizeFlag)} is not a size`, hint: "e.g. 500M, 2G or 1GiB (k, M, G, T: powers of 1000; Ki, Mi, Gi, Ti: of 1024)", exitCode: 2, code: "USAGE" });
  } else if (ageFlag === undefined) {
    maxBytes = prune.cacheLimit(ctx.env); // no flags: the default bound
  }
  let olderThanMs: number | undefined;
  if (ageFlag !== undefined) {
    olderThanMs = prune.parseDuration(ageFlag);
    if (olderThanMs === undefined) throw new GadgetError({ what: "invalid duration", which: "--older-than", why: `${JSON.stringify(ageFlag)} is not a duration`, hint: "e.g. 30m, 12h, 7d or 2w (s, m, h, d, w; combined: 1d12h)", exitCode: 2, code: "USAGE" });
  }
  const root = join(dirname(findGadgetfile(ctx.cwd, ctx.flagString("file"))), CACHE_DIR);
  const res = existsSync(root) ? await prune.pruneCache(root, { ...(maxBytes !== undefined ? { maxBytes } : {}), ...(olderThanMs !== undefined ? { olderThanMs } : {}) }) : { removedEntries: 0, removedFiles: 0, freedBytes: 0, before: { bytes: 0, entries: 0 }, after: { bytes: 0, entries: 0 } };
  if (ctx.flagBool("json")) ctx.out(toJson(res, false));
  else ctx.out(`Pruned ${res.removedEntries} entr${res.removedEntries === 1 ? "y" : "ies"}, freed ${formatBytes(res.freedBytes)}; the cache holds ${res.after.entries} entr${res.after.entries === 1 ? "y" : "ies"}, ${formatBytes(res.after.bytes)}`);
  return 0;
}
