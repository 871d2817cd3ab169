/**
 * sign: the `{ type: "sign", key, format? }` publish target. Signs the gadget's image (the index
 * oci-pack produced, as store-tag tagged it) in the local store, as `gadget image sign` does, so a
 * later `push` target sends the signature along. Not cacheable (a publish step).
 * `key` is a PEM private key path, relative to the directory `gadget run` runs in; an encrypted
 * PKCS#8 key takes its password from COSIGN_PASSWORD. Result { reference, digest, format, tag, signature }.
 */
import { isAbsolute, resolve } from "node:path";
import { defineStage, GadgetError, loadSigningKeyFile, parseFormat, passwordFrom, sha256, signImage, type SignatureFormat } from "../core/index.js";
import { readFile } from "node:fs/promises";

export interface SignStageOptions {
  /** PEM private key file. */
  key: string;
  /** legacy (default), oci11 or bundle. */
  format?: SignatureFormat;
  /** Image to sign instead of the gadget's tag. */
  tag?: string;
}

export const signStage = defineStage<SignStageOptions>({
  name: "sign",
  version: "1",
  cacheable: false,
  inputs(ctx) {
    return { artifacts: ctx.artifacts.has("index") ? ["index"] : [], env: ["COSIGN_PASSWORD"], args: { key: ctx.options.key, format: ctx.options.format ?? "legacy", tag: ctx.options.tag ?? ctx.gadget.tag ?? null } };
  },
  async run(ctx) {
    const { key } = ctx.options;
    if (typeof key !== "string" || key === "") {
      throw new GadgetError({ what: "sign target", which: ctx.gadget.name, why: "`key` (a PEM private key file) is required" });
    }
    const format = parseFormat(ctx.options.format, "publish sign.format");
    const reference = ctx.options.tag ?? ctx.gadget.tag;
    if (!reference) {
      throw new GadgetError({ what: "sign target", which: ctx.gadget.name, why: "the gadget has no tag to sign", hint: "set `tag` on the gadget (or defaults), or `tag` on the sign target" });
    }
    const store = await ctx.store();
    const packed = ctx.artifacts.get("index");
    if (packed) {
      // sign exactly what this run built: the tag must point at the packed index
      const digest = sha256(await readFile(packed.path));
      const tagged = await store.resolve(reference);
      if (tagged.digest !== digest) {
        throw new GadgetError({ what: "sign target", which: reference, why: `the tag points at ${tagged.digest}, not at the index this build packed (${digest})`, hint: "put a store-tag step (the build task) before the sign target" });
      }
    }
    const keyPath = isAbsolute(key) ? key : resolve(key);
    const signingKey = await loadSigningKeyFile(keyPath, passwordFrom({ env: { ...ctx.env } as NodeJS.ProcessEnv }));
    const r = await signImage(store, reference, signingKey, { format });
    ctx.logger.info(`signed ${r.reference} (${r.digest}) with a ${signingKey.type} key: ${r.format} signature under ${r.tag}`);
    return { result: { reference: r.reference, digest: r.digest, format: r.format, tag: r.tag, signature: r.signature.digest } };
  },
});
