import { pullImage, pullResultLine } from "../../image/pull.js";
import { withoutUserinfo } from "../../errors.js";
import { transferOptionsFromFlags } from "../registry-options.js";
import { createProgress } from "../progress.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const image = ctx.args[0]!;
  const opts = transferOptionsFromFlags(ctx, image);
  ctx.interrupts?.doing(`pulling ${withoutUserinfo(image)}`);
  const json = ctx.flagBool("json");
  const progress = ctx.stderrIsTTY && !json ? createProgress(ctx.stderr, "Pulling") : undefined;
  if (progress) opts.onProgress = progress.onProgress;
  // ig prints the name as given first; result lines go to stderr (DESIGN §2), --json to stdout
  if (!json) ctx.warn(`Pulling ${withoutUserinfo(image)}...`);
  try {
    const r = await pullImage({ ...opts, onWarning: (m) => ctx.warn(`Warning: ${m}`) });
    progress?.finish();
    if (json) ctx.out(JSON.stringify({ reference: r.reference, digest: r.digest }));
    else ctx.warn(pullResultLine(r));
  } catch (e) {
    progress?.finish();
    throw e;
  }
}
