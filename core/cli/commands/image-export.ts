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
  // ig (cmd/common/image/export.go): cmd.Printf, which cobra writes to stderr. --json goes to
  // stdout, unless stdout carries the archive.
  if (ctx.flagBool("json")) (toStdout ? ctx.warn : ctx.out)(JSON.stringify(result));
  else ctx.warn(`Successfully exported images to ${file}`);
}
