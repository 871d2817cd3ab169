/**
 * `gadget image verify IMAGE`, as ig's (cmd/common/image/verify.go): `Verifying image: IMAGE`, then
 * ig's EnsureImage with verification on — the image is pulled per `--pull` (default missing), the
 * signatures the store lacks are fetched from the image's registry (legacy `.sig` tag, OCI 1.1
 * referrers, sigstore bundles; `--authfile`, `--insecure-registries`, …) and checked with the
 * public keys — then `Image verified successfully!`.
 */
import { usageError } from "../../errors.js";
import { INSPEKTOR_GADGET_PUBLIC_KEY } from "../../sign/ig-public-key.js";
import { loadPublicKeys } from "../../sign/key-files.js";
import type { CommandContext } from "../context.js";
import { transferOptionsFromFlags } from "../registry-options.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [image] = ctx.args as [string];
  for (const f of ["notation-certificates", "notation-policy-document"]) {
    if (ctx.flagString(f) !== undefined) throw usageError(`--${f} is not supported: gadget verifies cosign signatures (legacy, OCI 1.1, bundle), not notation ones`);
  }
  const items = ctx.flags["public-keys"] === undefined ? [INSPEKTOR_GADGET_PUBLIC_KEY] : ctx.flagList("public-keys");
  const keys = await loadPublicKeys(items, ctx.cwd);
  const pull = ctx.flagString("pull") ?? "missing";
  const { PULL_POLICIES, ensureImage } = await import("../../image/ensure.js");
  if (!(PULL_POLICIES as readonly string[]).includes(pull)) throw usageError(`invalid value ${JSON.stringify(pull)} for --pull`, `valid values are ${PULL_POLICIES.join(", ")}`);
  const json = ctx.flagBool("json");
  if (!json) ctx.out(`Verifying image: ${image}`);
  const r = await ensureImage(image, {
    ...transferOptionsFromFlags(ctx, image),
    pull: pull as "always" | "missing" | "never",
    verify: true,
    publicKeys: keys,
    noSignatureHint: "sign it with `gadget image sign IMAGE --key KEY` (and push it), or check the name",
    onWarning: (m) => ctx.warn(`Warning: ${m}`),
  });
  if (json) ctx.out(JSON.stringify({ reference: r.reference, digest: r.descriptor.digest, verified: true, format: r.verified!.format, key: r.verified!.key }));
  else ctx.out("Image verified successfully!");
}
