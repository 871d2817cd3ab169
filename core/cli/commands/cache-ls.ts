/**
 * `gadget cache ls [--remote]`: the entries of the step cache — local (.gadget/: key, stage,
 * outputs, size, last use) or remote (the registry repository: key, stage, outputs, size, created).
 */
import { dirname, join } from "node:path";
import { readdir, readFile, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import type { CommandContext } from "../context.js";
import { toJson } from "../output.js";

interface Row {
  key: string;
  stage: string;
  outputs: string[];
  size: number;
  /** remote: created; local: last used. */
  time?: string;
  digest?: string;
  problem?: string;
}

async function localRows(root: string): Promise<Row[]> {
  const { stableJson } = await import("../../engine/cache.js");
  const stages = new Map<string, string>();
  try {
    const steps = JSON.parse(await readFile(join(root, "steps.json"), "utf8")) as Record<string, { components?: { stage?: string } }>;
    for (const rec of Object.values(steps)) {
      if (!rec?.components) continue;
      stages.set(createHash("sha256").update(stableJson(rec.components)).digest("hex"), rec.components.stage ?? "?");
    }
  } catch {
    /* no step records */
  }
  let names: string[] = [];
  try {
    names = (await readdir(join(root, "actions"))).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const rows: Row[] = [];
  for (const n of names) {
    const file = join(root, "actions", n);
    try {
      const [text, st] = await Promise.all([readFile(file, "utf8"), stat(file)]);
      const e = JSON.parse(text) as { key?: string; outputs?: Record<string, { size: number }> };
      if (typeof e.key !== "string") continue;
      const outputs = Object.entries(e.outputs ?? {});
      rows.push({ key: e.key, stage: stages.get(e.key) ?? "?", outputs: outputs.map(([k]) => k), size: outputs.reduce((s, [, o]) => s + (o.size ?? 0), 0), time: st.mtime.toISOString() });
    } catch {
      /* a half-written or foreign file */
    }
  }
  return rows.sort((a, b) => (a.time ?? "").localeCompare(b.time ?? ""));
}

export async function run(ctx: CommandContext): Promise<number> {
  const { formatBytes } = await import("../progress.js");
  let rows: Row[];
  if (ctx.flagBool("remote")) {
    const [{ openRemoteCacheTarget }, { listRemoteEntries }] = await Promise.all([import("../remote-cache-target.js"), import("../../engine/remote-cache-list.js")]);
    const { repo } = await openRemoteCacheTarget(ctx, "pull");
    try {
      rows = (await listRemoteEntries(repo)).map((e) => ({ key: e.key, stage: e.stage, outputs: e.outputs, size: e.size, digest: e.digest, ...(e.created ? { time: e.created } : {}), ...(e.problem ? { problem: e.problem } : {}) }));
    } finally {
      await repo.client.close();
    }
  } else {
    const [{ findGadgetfile }, { cacheRoot }] = await Promise.all([import("../../gadgetfile/load.js"), import("../../engine/cache-dir.js")]);
    const root = cacheRoot(dirname(findGadgetfile(ctx.cwd, ctx.flagString("file"))), ctx.env);
    rows = await localRows(root);
  }
  if (ctx.flagBool("json")) {
    ctx.out(toJson(rows.map((r) => ({ key: r.key, stage: r.stage, outputs: r.outputs, size: r.size, ...(r.digest ? { digest: r.digest } : {}), ...(r.time ? { [ctx.flagBool("remote") ? "created" : "lastUsed"]: r.time } : {}), ...(r.problem ? { problem: r.problem } : {}) })), false));
    return 0;
  }
  const header = ["KEY", "STAGE", "OUTPUTS", "SIZE", ctx.flagBool("remote") ? "CREATED" : "LAST USED"];
  const lines = [header, ...rows.map((r) => [r.key.slice(0, 12), r.stage, r.outputs.join(",") || "-", formatBytes(r.size), (r.time ?? "-") + (r.problem ? ` (${r.problem})` : "")])];
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines) ctx.out(l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]! + 2))).join("").trimEnd());
  return 0;
}
