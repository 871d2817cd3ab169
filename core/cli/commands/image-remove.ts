import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [image] = ctx.args as [string];
  const store = await ctx.openStore();
  const result = await store.removeImage(image);
  if (ctx.flagBool("json")) ctx.out(JSON.stringify({ removed: image, ...result }));
  // ig (cmd/common/image/remove.go): cmd.Printf("Successfully removed %s\n", image), which cobra writes to stderr
  else ctx.warn(`Successfully removed ${image}`);
}
