import { usageError } from "../../errors.js";
import { listImages } from "../../image/list.js";
import type { CommandContext } from "../context.js";
import { formatColumns, timeAgo, toJson } from "../output.js";

export async function run(ctx: CommandContext): Promise<void> {
  const format = ctx.flagString("output") ?? "columns";
  if (!["columns", "json", "jsonpretty"].includes(format)) {
    throw usageError(`invalid --output ${JSON.stringify(format)}`, "use columns, json or jsonpretty");
  }
  const store = await ctx.openStore();
  const images = await listImages(store);
  if (format !== "columns") {
    const rows = images.map((i) => ({ Repository: i.repository, Tag: i.tag, Digest: i.digest, Created: i.created }));
    ctx.out(toJson(rows, format === "jsonpretty"));
    return;
  }
  const human = ctx.stdoutIsTTY && !ctx.flagBool("no-trunc");
  const rows = images.map((i) => [
    i.repository,
    i.tag,
    human ? i.digest.slice(i.digest.indexOf(":") + 1, i.digest.indexOf(":") + 13) : i.digest,
    human && i.created ? timeAgo(new Date(i.created)) : i.created,
  ]);
  for (const line of formatColumns(["REPOSITORY", "TAG", "DIGEST", "CREATED"], rows)) ctx.out(line);
}
