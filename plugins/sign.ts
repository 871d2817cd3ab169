/**
 * sign: the `{ type: "sign", key, format? }` publish target. Signs the gadget's image (the index
 * oci-pack produced, as store-tag tagged it) in the local store, as `gadget image sign` does. It
 * stays on the machine (`leavesMachine: false`), so it runs before push and tar-export whatever
 * the listed order: the signature goes along with both. Not cacheable (a publish step); a digest
 * already signed by the key is not signed again (`existing: true`), so an unchanged re-publish
 * leaves the store as it was.
 * `key` is a PEM private key file, relative to the gadgetfile's folder, or `env://VAR` (a CI
 * secret); an encrypted PKCS#8 key takes its password from COSIGN_PASSWORD.
 * Result { reference, digest, format, tag, signature, existing }.
 */
import { readFile } from "node:fs/promises";
import { defineStage, GadgetError, t, type Infer } from "../core/types.js";
/** The library, loaded when the stage runs. */
import { library } from "./api.js";

const options = t.object({
  /** PEM private key file (relative paths: to the gadgetfile's folder), or env://VAR. */
  key: t.required(t.string()),
  /** legacy (default), oci11 or bundle. */
  format: t.enum(["legacy", "oci11", "bundle"]),
  /** Image to sign instead of the gadget's tag. */
  tag: t.string(),
});
export type SignStageOptions = Infer<typeof options>;

export const signStage = defineStage({
  name: "sign",
  version: "2",
  description: "sign the gadget's image in the local store (cosign-compatible)",
  cacheable: false,
  publishTarget: true,
  leavesMachine: false,
  options,
  result: t.object({ reference: t.required(t.string()), digest: t.required(t.string()), format: t.required(t.string()), tag: t.required(t.string()), signature: t.required(t.string()), existing: t.required(t.boolean()) }),
  inputs(ctx) {
    return { artifacts: ctx.artifacts.has("index") ? ["index"] : [], env: ["COSIGN_PASSWORD"], args: { key: ctx.options.key, format: ctx.options.format ?? "legacy", tag: ctx.options.tag ?? ctx.gadget.tag ?? null } };
  },
  async run(ctx) {
    const { LayoutStore, loadSigningKey, parseKeySource, parseFormat, passwordFrom, sha256, signImage } = await library();
    const { key } = ctx.options;
    if (typeof key !== "string" || key === "") {
      throw new GadgetError({ what: "sign target", which: ctx.gadget.name, why: "`key` (a PEM private key file) is required" });
    }
    if (key === "-") throw new GadgetError({ what: "sign target", which: ctx.gadget.name, why: "`key` cannot be stdin in a gadgetfile", hint: "use a key file, or env://VAR with the PEM in an environment variable", code: "USAGE" });
    const source = parseKeySource(key, ctx.projectRoot, "publish sign.key");
    const format = parseFormat(ctx.options.format, "publish sign.format");
    const reference = ctx.options.tag ?? ctx.gadget.tag;
    if (!reference) {
      throw new GadgetError({ what: "sign target", which: ctx.gadget.name, why: "the gadget has no tag to sign", hint: "set `tag` on the gadget (or defaults), or `tag` on the sign target" });
    }
    const store = await LayoutStore.open((await ctx.store()).root);
    const packed = ctx.artifacts.get("index");
    if (packed) {
      // sign exactly what this run built: the tag must point at the packed index
      const digest = sha256(await readFile(packed.path));
      const tagged = await store.resolve(reference);
      if (tagged.digest !== digest) {
        throw new GadgetError({ what: "sign target", which: reference, why: `the tag points at ${tagged.digest}, not at the index this build packed (${digest})`, hint: "put a store-tag step (the build task) before the sign target" });
      }
    }
    const signingKey = await loadSigningKey(source, passwordFrom({ env: { ...ctx.env } as NodeJS.ProcessEnv }), { env: ctx.env });
    const r = await signImage(store, reference, signingKey, { format });
    if (r.existing) ctx.logger.info(`${r.reference} (${r.digest}) is already signed with this ${signingKey.type} key: ${r.format} signature under ${r.tag}`);
    else ctx.logger.info(`signed ${r.reference} (${r.digest}) with a ${signingKey.type} key: ${r.format} signature under ${r.tag}`);
    return { result: { reference: r.reference, digest: r.digest, format: r.format, tag: r.tag, signature: r.signature.digest, existing: r.existing } };
  },
});
