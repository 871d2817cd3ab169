/**
 * `gadget image import FILE [-o json|jsonpretty]` (FILE "-" = stdin), as ig's `image import`
 * (cmd/common/image/import.go): on stdout, `Successfully imported images:` and one `  <tag>` line
 * per imported tag, signature tags included, in ascending order (oras' Store.Tags); with
 * `-o json|jsonpretty` the same tags as one JSON array (json.Marshal / MarshalIndent + "\n").
 * `--json` prints gadget's own document ({images, signatures, warnings}).
 */
import { usageError } from "../../errors.js";
import { importImages } from "../../image/import.js";
import { compareGoStrings } from "../../oci/gojson.js";
import { goJson } from "../../gojson-value.js";
import { ttyProgress } from "../progress.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [file] = ctx.args as [string];
  const format = ctx.flagString("output");
  if (format !== undefined && format !== "json" && format !== "jsonpretty") {
    throw usageError(`invalid output mode ${JSON.stringify(format)}, valid values are: json, jsonpretty`);
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
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify({ images: result.images, signatures: result.signatures, warnings }));
    return;
  }
  const tags = [...result.images, ...result.signatures].map((i) => i.reference).sort(compareGoStrings);
  if (format) {
    ctx.out(goJson(tags, { pretty: format === "jsonpretty" }));
    return;
  }
  ctx.out("Successfully imported images:");
  for (const t of tags) ctx.out(`  ${t}`);
}
