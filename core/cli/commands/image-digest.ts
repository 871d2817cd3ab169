import { remoteDigest } from "../../image/remote-info.js";
import { transferOptionsFromFlags } from "../registry-options.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const { storeDir: _s, ...opts } = transferOptionsFromFlags(ctx, ctx.args[0]!);
  const r = await remoteDigest(opts);
  ctx.out(ctx.flagBool("json") ? JSON.stringify(r) : r.digest);
}
