/**
 * `gadget image tag SRC DST`, as ig's `image tag`: `Successfully tagged with <repo>:<tag>@<digest>`
 * (pkg/oci/oci.go tagGadgetImage + GadgetImageDesc.String()), on stderr like the other result lines
 * (DESIGN §2). A digest-only DST (`repo@sha256:…`) is stored as that ref name, as ig does, but only
 * when the digest is the source's own (ig would store a name that points at other content).
 */
import { igImageString, normalizeReference } from "../../oci/reference.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [src, dst] = ctx.args as [string, string];
  const target = normalizeReference(dst);
  const store = await ctx.openStore();
  // resolved and written under the index lock: a concurrent rm wins (→ "not found") or keeps the blobs
  const desc = await store.tagReference(src, target);
  if (ctx.flagBool("json")) ctx.out(JSON.stringify({ source: src, reference: target, digest: desc.digest }));
  else ctx.warn(`Successfully tagged with ${igImageString(target, desc.digest)}`);
}
