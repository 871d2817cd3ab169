/**
 * `gadget image list`, as ig's (cmd/common/image/list.go): `-o columns` (default) prints
 * REPOSITORY TAG DIGEST CREATED in ig's textcolumns layout — on a terminal without --no-trunc,
 * 12-hex digests, "N units ago" and cells cut/padded to the terminal width; otherwise full values
 * separated by one space. `-o json|jsonpretty` prints `[{"Repository","Tag","Digest","Created"}]`
 * exactly as Go's json.Marshal/MarshalIndent (no trailing newline, as ig's fmt.Fprint).
 */
import { usageError } from "../../errors.js";
import { listImages } from "../../image/list.js";
import { goJson } from "../../gojson-value.js";
import type { CommandContext } from "../context.js";
import { createdAgo, formatTable, type TextColumn } from "../textcolumns.js";

const COLUMNS: TextColumn[] = [{ name: "repository" }, { name: "tag" }, { name: "digest", width: 12, fixed: true }, { name: "created" }];

/** textcolumns.GetTerminalWidth: only when stdout is a terminal, from the terminal on stdin (term.GetSize(0)). */
function terminalWidth(ctx: CommandContext): number {
  if (!ctx.stdoutIsTTY) return 0;
  const stdin = ctx.stdin as { isTTY?: boolean };
  if (!stdin.isTTY) return 0;
  return (ctx.stdout as { columns?: number }).columns ?? 0;
}

export async function run(ctx: CommandContext): Promise<void> {
  const format = ctx.flagString("output") ?? "columns";
  if (!["columns", "json", "jsonpretty"].includes(format)) {
    throw usageError(`invalid output mode ${JSON.stringify(format)}, valid values are: columns, json, jsonpretty`);
  }
  const store = await ctx.openStore();
  const images = await listImages(store);
  if (format !== "columns") {
    const rows = images.map((i) => ({ Repository: i.repository, Tag: i.tag, Digest: i.digest, Created: i.created }));
    ctx.stdout.write(goJson(rows, { pretty: format === "jsonpretty" }));
    return;
  }
  const human = ctx.stdoutIsTTY && !ctx.flagBool("no-trunc");
  const now = new Date();
  const rows = images.map((i) => [
    i.repository,
    i.tag,
    human && i.digest ? i.digest.slice(i.digest.indexOf(":") + 1).slice(0, 12) : i.digest,
    human ? createdAgo(i.created, now) : i.created,
  ]);
  ctx.stdout.write(formatTable(COLUMNS, rows, { truncate: human, terminalWidth: terminalWidth(ctx) }));
}
