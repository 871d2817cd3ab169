/**
 * `gadget image tag SRC DST`, as ig's `image tag`: `Successfully tagged with <repo>:<tag>@<digest>`
 * (pkg/oci/oci.go tagGadgetImage + GadgetImageDesc.String()), on stderr like the other result lines
 * (DESIGN §2). A digest-only DST (`repo@sha256:…`) is stored as that ref name, as ig does, but only
 * when the digest is the source's own (ig would store a name that points at other content).
 */
import { GadgetError } from "../../errors.js";
import { igImageString, normalizeReference, parseReference } from "../../oci/reference.js";
import { Annotation } from "../../oci/media-types.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [src, dst] = ctx.args as [string, string];
  const target = normalizeReference(dst);
  const ref = parseReference(dst);
  const store = await ctx.openStore();
  const desc = await store.resolve(src);
  const annotations = { ...(desc.annotations ?? {}) };
  delete annotations[Annotation.RefName];
  if (ref.digest && !ref.tag) {
    if (ref.digest !== desc.digest) {
      throw new GadgetError({
        what: "tagging image",
        which: dst,
        why: `the destination names ${ref.digest} but ${src} is ${desc.digest}`,
        hint: "give the destination a tag (repo:tag), or the source's own digest",
        code: "DIGEST_MISMATCH",
      });
    }
    await store.tagExact(desc, target, annotations);
  } else {
    await store.tag(desc, target, annotations);
  }
  if (ctx.flagBool("json")) ctx.out(JSON.stringify({ source: src, reference: target, digest: desc.digest }));
  else ctx.warn(`Successfully tagged with ${igImageString(target, desc.digest)}`);
}
