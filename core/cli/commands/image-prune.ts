import { prune } from "../../store/prune.js";
import type { CommandContext } from "../context.js";

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}

export async function run(ctx: CommandContext): Promise<void> {
  const dryRun = ctx.flagBool("dry-run");
  const r = await prune(ctx.storeDir(), { dryRun });
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify(r));
    return;
  }
  const verb = dryRun ? "would remove" : "removed";
  for (const it of r.items) ctx.out(`${verb} ${it.kind === "temp" ? "stale temp file" : `unreachable ${it.kind}`} ${it.name} (${human(it.bytes)})`);
  for (const n of r.notes) ctx.out(`note: ${n}`);
  ctx.out(`${dryRun ? "would free" : "freed"} ${human(r.freed)} (${r.items.length} item${r.items.length === 1 ? "" : "s"})`);
}
