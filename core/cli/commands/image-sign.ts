import { loadSigningKeyFile, passwordFrom } from "../../sign/key-files.js";
import { parseFormat, signImage } from "../../sign/sign.js";
import { usageError } from "../../errors.js";
import { resolve } from "node:path";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [image] = ctx.args as [string];
  const keyPath = ctx.flagString("key");
  if (!keyPath) throw usageError("--key is required", "gadget image sign IMAGE --key cosign.key");
  const format = parseFormat(ctx.flagString("format"));
  const annotations: Record<string, string> = {};
  for (const a of ctx.flagList("annotations")) {
    const eq = a.indexOf("=");
    if (eq <= 0) throw usageError(`invalid --annotations entry ${JSON.stringify(a)}: expected key=value`);
    annotations[a.slice(0, eq)] = a.slice(eq + 1);
  }
  if (format === "bundle" && Object.keys(annotations).length > 0) {
    throw usageError("--annotations go into the simple-signing payload of legacy and oci11 signatures; a bundle's in-toto statement has none");
  }
  const key = await loadSigningKeyFile(resolve(ctx.cwd, keyPath), passwordFrom({ env: ctx.env, prompt: { input: ctx.stdin, output: ctx.stderr } }));
  const store = await ctx.openStore();
  const r = await signImage(store, image, key, { format, annotations });
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify({ reference: r.reference, digest: r.digest, format: r.format, tag: r.tag, signature: r.signature.digest, keyType: key.type }));
    return;
  }
  ctx.out(`Successfully signed ${r.reference.split("@")[0]}@${r.digest} (${r.format} signature ${r.signature.digest} under tag ${r.tag})`);
}
