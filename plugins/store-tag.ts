/**
 * store-tag: tags the packed index ("index" artifact from oci-pack) in the local store as the
 * gadget's tag, with the §4 annotations on the index.json entry (as ig's local builds carry).
 * Untagged builds leave the blobs in the store and only report the digest (as ig).
 * Not cacheable: it is the publish step. Result { reference?, digest }.
 */
import { readFile } from "node:fs/promises";
import { defineStage, GadgetError, t, type Infer } from "../core/types.js";
import { api } from "./api.js";

const options = t.object({
  /** Tag to use instead of the gadget's. */
  tag: t.string(),
});
export type StoreTagOptions = Infer<typeof options>;

export const storeTagStage = defineStage({
  name: "store-tag",
  version: "1",
  description: "tag the packed image in the local store",
  cacheable: false,
  publishTarget: true,
  leavesMachine: false,
  options,
  result: t.object({ reference: t.string(), digest: t.required(t.string()) }),
  inputs(ctx) {
    return { artifacts: ["index"], args: { tag: ctx.options.tag ?? ctx.gadget.tag ?? null } };
  },
  async run(ctx) {
    const { MediaType, normalizeReference, parseIndex, sha256 } = await api();
    const art = ctx.artifacts.get("index");
    if (!art) throw new GadgetError({ what: "nothing to tag", which: ctx.gadget.name, why: "no packed index (the oci-pack step must run before store-tag)" });
    const bytes = await readFile(art.path);
    const digest = sha256(bytes);
    const desc = { mediaType: MediaType.ImageIndex, digest, size: bytes.byteLength };
    const store = await ctx.store();
    if (!(await store.exists(desc))) throw new GadgetError({ what: "packed index missing from the store", which: digest, why: `not found in ${store.root}`, hint: "rebuild without the cache (--no-cache)" });
    const wanted = ctx.options.tag ?? ctx.gadget.tag;
    if (wanted) {
      const reference = normalizeReference(wanted);
      const index = parseIndex(bytes.toString("utf8"), "index");
      await store.tag(desc, reference, { ...(index.annotations ?? {}) });
      return { result: { reference, digest } };
    }
    return { result: { digest } };
  },
});
