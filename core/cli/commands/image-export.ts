/** `gadget image export IMAGE [IMAGE…] FILE` (FILE "-" = stdout), as ig's `image export`. */
import { usageError } from "../../errors.js";
import { exportImages } from "../../image/export.js";
import { ttyProgress } from "../progress.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const file = ctx.args[ctx.args.length - 1]!;
  const references = ctx.args.slice(0, -1);
  const toStdout = file === "-";
  if (toStdout && ctx.stdoutIsTTY) {
    throw usageError("refusing to write an archive to a terminal", "redirect it: gadget image export IMAGE - > FILE.tar");
  }
  ctx.interrupts?.doing(`exporting ${references.join(" ")} to ${file}`);
  const progress = ctx.stderrIsTTY ? ttyProgress(ctx.stderr, "exporting") : undefined;
  let result;
  try {
    result = await exportImages({ storeDir: ctx.storeDir(), references, file, stdout: ctx.stdout, onProgress: progress?.onProgress });
  } finally {
    progress?.stop();
  }
  // with "-" stdout carries the archive: the result goes to stderr
  const say = toStdout ? ctx.warn : ctx.out;
  if (ctx.flagBool("json")) say(JSON.stringify(result));
  else say(`Successfully exported images to ${file}`);
}
