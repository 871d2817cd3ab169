import { copyImages, type CopiedImage } from "../../image/copy-images.js";
import { withoutUserinfo } from "../../errors.js";
import { transferOptionsFromFlags } from "../registry-options.js";
import type { CommandContext } from "../context.js";

/** `Copied SRC → DST@digest (N copied, M skipped, K mounted)` */
export function copyResultLine(r: CopiedImage): string {
  const parts = [`${r.copied} copied`, `${r.skipped} already there`];
  if (r.mounted > 0) parts.push(`${r.mounted} mounted`);
  if (r.signatures.length > 0) parts.push(`${r.signatures.length} signature tag${r.signatures.length === 1 ? "" : "s"}`);
  return `Copied ${withoutUserinfo(r.source)} to ${withoutUserinfo(r.destination)}@${r.digest} (${parts.join(", ")})`;
}

export async function run(ctx: CommandContext): Promise<void> {
  const [source, destination] = [ctx.args[0]!, ctx.args[1]!];
  const { reference: _unused, ...opts } = transferOptionsFromFlags(ctx, source);
  const json = ctx.flagBool("json");
  ctx.interrupts?.doing(`copying ${withoutUserinfo(source)} to ${withoutUserinfo(destination)}`);
  const r = await copyImages({
    ...opts,
    source,
    destination,
    allTags: ctx.flagBool("all-tags"),
    skipSignatures: ctx.flagBool("skip-signatures"),
    onImage: (img) => {
      if (!json) ctx.warn(copyResultLine(img));
    },
  });
  if (json) ctx.out(JSON.stringify({ images: r.images }));
}
