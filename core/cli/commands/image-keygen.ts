import { join, resolve } from "node:path";
import { usageError } from "../../errors.js";
import { KEY_TYPES, type KeyType } from "../../sign/keys.js";
import { writeKeyPair } from "../../sign/key-files.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const type = ctx.flagString("type") ?? "ecdsa";
  if (!(KEY_TYPES as readonly string[]).includes(type)) throw usageError(`invalid --type ${JSON.stringify(type)}: expected ${KEY_TYPES.join(", ")}`);
  const prefix = ctx.flagString("output-prefix") || "cosign";
  // COSIGN_PASSWORD (non-empty) encrypts the private key as PKCS#8 (AES-256-CBC), as cosign's keygen honours it.
  const password = ctx.env.COSIGN_PASSWORD ? ctx.env.COSIGN_PASSWORD : undefined;
  const r = await writeKeyPair(resolve(ctx.cwd, prefix), type as KeyType, password);
  const shown = (p: string) => (p.startsWith(join(ctx.cwd, "/")) ? p.slice(ctx.cwd.length + 1) : p);
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify({ type, privateKey: r.privatePath, publicKey: r.publicPath, encrypted: password !== undefined }));
    return;
  }
  ctx.out(`Private key written to ${shown(r.privatePath)}`);
  ctx.out(`Public key written to ${shown(r.publicPath)}`);
}
