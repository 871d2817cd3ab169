import { INSPEKTOR_GADGET_PUBLIC_KEY } from "../../sign/ig-public-key.js";
import { loadPublicKeys } from "../../sign/key-files.js";
import { verifyImage } from "../../sign/verify.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [image] = ctx.args as [string];
  const items = ctx.flags["public-keys"] === undefined ? [INSPEKTOR_GADGET_PUBLIC_KEY] : ctx.flagList("public-keys");
  const keys = await loadPublicKeys(items, ctx.cwd);
  const store = await ctx.openStore({ create: false });
  const json = ctx.flagBool("json");
  if (!json) ctx.out(`Verifying image: ${image}`);
  const r = await verifyImage(store, image, keys);
  if (json) ctx.out(JSON.stringify({ reference: r.reference, digest: r.digest, verified: true, format: r.format, key: r.key }));
  else ctx.out("Image verified successfully!");
}
