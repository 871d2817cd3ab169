import { normalizeReference } from "../../oci/reference.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [src, dst] = ctx.args as [string, string];
  const target = normalizeReference(dst);
  const store = await ctx.openStore();
  // resolved and written under the index lock: a concurrent rm wins (→ "not found") or keeps the blobs
  const desc = await store.tagReference(src, target);
  if (ctx.flagBool("json")) ctx.out(JSON.stringify({ source: src, reference: target, digest: desc.digest }));
  else ctx.out(`Successfully tagged with ${target}`);
}
