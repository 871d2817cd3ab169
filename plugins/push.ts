/**
 * push (publish target `{ type: "push", tag?, insecure?, authfile? }`): pushes the gadget's packed
 * image to its registry with the library's pushImage (the same code as `gadget image push`).
 * The reference is the step's `tag` (`{name}` is the gadget's name) or the gadget's own tag; a
 * step tag is first applied in the local store so the pushed name and the stored one agree.
 */
import { readFile } from "node:fs/promises";
import { defineStage } from "../core/types.js";

/** The library, loaded when the stage runs (loading the stage stays cheap for runs that never push). */
import { library } from "./api.js";

export interface PushStageOptions {
  /** Reference to push (default: the gadget's tag). */
  tag?: string;
  /** Plain HTTP for this reference's registry. */
  insecure?: boolean;
  insecureRegistries?: string[];
  authfile?: string;
  certDir?: string;
  concurrency?: number;
}

export const pushStage = defineStage<PushStageOptions>({
  name: "push",
  version: "1",
  cacheable: false,
  async run(ctx) {
    const { GadgetError, MediaType, parseIndex, pushImage, pushResultLine, sha256 } = await library();
    const art = ctx.artifacts.get("index");
    if (!art) throw new GadgetError({ what: "nothing to push", which: ctx.gadget.name, why: "no packed index (oci-pack must run before push)" });
    const reference = ctx.options.tag ?? ctx.gadget.tag;
    if (!reference) throw new GadgetError({ what: "nothing to push", which: ctx.gadget.name, why: "the gadget has no tag", hint: 'give the gadget a tag (defaults.tag: "registry/{name}:v1") or the push target a tag' });
    const store = await ctx.store();
    const bytes = await readFile(art.path);
    const desc = { mediaType: MediaType.ImageIndex, digest: sha256(bytes), size: bytes.byteLength };
    if (ctx.options.tag) await store.tag(desc, reference, { ...(parseIndex(bytes.toString("utf8"), "index").annotations ?? {}) });
    const r = await pushImage({
      storeDir: store.root,
      reference,
      ...(ctx.options.authfile ? { authfile: ctx.options.authfile } : {}),
      ...(ctx.options.insecure ? { insecure: true } : {}),
      ...(ctx.options.insecureRegistries ? { insecureRegistries: ctx.options.insecureRegistries } : {}),
      ...(ctx.options.certDir ? { certDir: ctx.options.certDir } : {}),
      ...(ctx.options.concurrency ? { concurrency: ctx.options.concurrency } : {}),
      env: ctx.env as NodeJS.ProcessEnv,
    });
    ctx.logger.info(pushResultLine(r));
    return { result: { reference: r.reference, digest: r.digest, pushed: true } };
  },
});

export default pushStage;
