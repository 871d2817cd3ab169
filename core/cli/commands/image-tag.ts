import { normalizeReference } from "../../oci/reference.js";
import { Annotation } from "../../oci/media-types.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [src, dst] = ctx.args as [string, string];
  const target = normalizeReference(dst);
  const store = await ctx.openStore();
  const desc = await store.resolve(src);
  const annotations = { ...(desc.annotations ?? {}) };
  delete annotations[Annotation.RefName];
  await store.tag(desc, target, annotations);
  if (ctx.flagBool("json")) ctx.out(JSON.stringify({ source: src, reference: target, digest: desc.digest }));
  else ctx.out(`Successfully tagged with ${target}`);
}
