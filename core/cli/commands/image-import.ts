/** `gadget image import FILE [-o json|jsonpretty]` (FILE "-" = stdin), as ig's `image import`. */
import { usageError } from "../../errors.js";
import { importImages } from "../../image/import.js";
import { ttyProgress } from "../progress.js";
import type { CommandContext } from "../context.js";
import { toJson } from "../output.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [file] = ctx.args as [string];
  const format = ctx.flagString("output") ?? (ctx.flagBool("json") ? "json" : undefined);
  if (format !== undefined && format !== "json" && format !== "jsonpretty") {
    throw usageError(`invalid --output ${JSON.stringify(format)}`, "use json or jsonpretty");
  }
  if (file === "-" && (ctx.stdin as { isTTY?: boolean }).isTTY) {
    throw usageError("refusing to read an archive from a terminal", "pipe it in: gadget image import - < FILE.tar");
  }
  ctx.interrupts?.doing(`importing ${file === "-" ? "stdin" : file}`);
  const progress = ctx.stderrIsTTY ? ttyProgress(ctx.stderr, "importing") : undefined;
  const warnings: string[] = [];
  let result;
  try {
    result = await importImages({
      storeDir: ctx.storeDir(),
      file,
      stdin: ctx.stdin,
      onProgress: progress?.onProgress,
      onWarning: (msg) => {
        warnings.push(msg);
        progress?.stop();
        ctx.warn(`Warning: ${msg}`);
      },
    });
  } finally {
    progress?.stop();
  }
  if (format) {
    ctx.out(toJson({ images: result.images, signatures: result.signatures, warnings }, format === "jsonpretty"));
    return;
  }
  ctx.out("Successfully imported images:");
  for (const img of result.images) ctx.out(`  ${img.reference}`);
}
