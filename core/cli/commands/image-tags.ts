import { listTags } from "../../image/remote-info.js";
import { transferOptionsFromFlags } from "../registry-options.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const { storeDir: _s, ...opts } = transferOptionsFromFlags(ctx, ctx.args[0]!);
  const r = await listTags(opts);
  if (ctx.flagBool("json")) ctx.out(JSON.stringify(r));
  else for (const t of r.tags) ctx.out(t);
}
