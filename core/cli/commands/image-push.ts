import { pushImage, pushResultLine } from "../../image/push.js";
import { withoutUserinfo } from "../../errors.js";
import { transferOptionsFromFlags } from "../registry-options.js";
import { createProgress } from "../progress.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const image = ctx.args[0]!;
  const opts = transferOptionsFromFlags(ctx, image);
  ctx.interrupts?.doing(`pushing ${withoutUserinfo(image)}`);
  const json = ctx.flagBool("json");
  const progress = ctx.stderrIsTTY && !json ? createProgress(ctx.stderr, "Pushing") : undefined;
  if (progress) opts.onProgress = progress.onProgress;
  // ig prints the name as given first; result lines go to stderr (DESIGN §2), --json to stdout
  if (!json) ctx.warn(`Pushing ${withoutUserinfo(image)}...`);
  try {
    const r = await pushImage({ ...opts, skipSignatures: ctx.flagBool("skip-signatures") });
    progress?.finish();
    if (json) ctx.out(JSON.stringify({ reference: r.reference, digest: r.digest, uploaded: r.stats?.uploaded ?? 0, mounted: r.stats?.mounted ?? 0, skipped: r.stats?.skipped ?? 0 }));
    else ctx.warn(pushResultLine(r));
  } catch (e) {
    progress?.finish();
    throw e;
  }
}
