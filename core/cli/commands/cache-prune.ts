/** `gadget cache prune [--max-size SIZE] [--older-than DURATION]`: shrink the project's step cache. */
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";
import { GadgetError } from "../../errors.js";
import type { CommandContext } from "../context.js";
import { toJson } from "../output.js";

/** `gadget cache prune --remote --older-than DUR`: delete old entries of the remote cache (and their signatures). */
async function pruneRemote(ctx: CommandContext): Promise<number> {
  const ageFlag = ctx.flagString("older-than");
  if (ageFlag === undefined) throw new GadgetError({ what: "invalid usage", which: "--remote", why: "pruning the remote cache needs --older-than DURATION", hint: "e.g. gadget cache prune --remote --older-than 14d", exitCode: 2, code: "USAGE" });
  if (ctx.flagString("max-size") !== undefined) throw new GadgetError({ what: "invalid usage", which: "--max-size", why: "--max-size applies to the local cache only", exitCode: 2, code: "USAGE" });
  const { parseDuration } = await import("../../engine/cache-prune.js");
  const olderThanMs = parseDuration(ageFlag);
  if (olderThanMs === undefined) throw new GadgetError({ what: "invalid duration", which: "--older-than", why: `${JSON.stringify(ageFlag)} is not a duration`, hint: "e.g. 30m, 12h, 7d or 2w (s, m, h, d, w; combined: 1d12h)", exitCode: 2, code: "USAGE" });
  const [{ openRemoteCacheTarget }, { pruneRemoteEntries }] = await Promise.all([import("../remote-cache-target.js"), import("../../engine/remote-cache-list.js")]);
  const { settings, repo } = await openRemoteCacheTarget(ctx, "push");
  try {
    const res = await pruneRemoteEntries(repo, olderThanMs);
    if (ctx.flagBool("json")) ctx.out(toJson({ removedEntries: res.removed.length, removedSignatures: res.signaturesRemoved, keptEntries: res.kept, removed: res.removed.map((e) => ({ key: e.key, digest: e.digest, ...(e.created ? { created: e.created } : {}) })) }, false));
    else ctx.out(`Pruned ${res.removed.length} entr${res.removed.length === 1 ? "y" : "ies"} (and ${res.signaturesRemoved} signature${res.signaturesRemoved === 1 ? "" : "s"}) from ${settings.reference}; ${res.kept} kept`);
  } finally {
    await repo.client.close();
  }
  return 0;
}

export async function run(ctx: CommandContext): Promise<number> {
  if (ctx.flagBool("remote")) return pruneRemote(ctx);
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
