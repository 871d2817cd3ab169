import { loadSigningKey, parseKeySource, passwordFrom } from "../../sign/key-files.js";
import { parseFormat, signImage } from "../../sign/sign.js";
import { usageError } from "../../errors.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [image] = ctx.args as [string];
  const keyArg = ctx.flagString("key");
  if (!keyArg) throw usageError("--key is required", "gadget image sign IMAGE --key cosign.key (or --key env://VAR, or --key - to read it from stdin)");
  const source = parseKeySource(keyArg, ctx.cwd);
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
  // with --key - stdin carries the key: a password can only come from COSIGN_PASSWORD
  const prompt = source.kind === "stdin" ? undefined : { input: ctx.stdin, output: ctx.stderr };
  const key = await loadSigningKey(source, passwordFrom({ env: ctx.env, ...(prompt ? { prompt } : {}) }), { env: ctx.env, stdin: ctx.stdin });
  const store = await ctx.openStore();
  const r = await signImage(store, image, key, { format, annotations, resign: ctx.flagBool("force") });
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify({ reference: r.reference, digest: r.digest, format: r.format, tag: r.tag, signature: r.signature.digest, keyType: key.type, existing: r.existing }));
    return;
  }
  const name = `${r.reference.split("@")[0]}@${r.digest}`;
  if (r.existing) ctx.out(`Already signed ${name} with this key (${r.format} signature ${r.signature.digest} under tag ${r.tag}); nothing to do`);
  else ctx.out(`Successfully signed ${name} (${r.format} signature ${r.signature.digest} under tag ${r.tag})`);
}
