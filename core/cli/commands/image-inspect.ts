import { inspectImage } from "../../image/inspect.js";
import type { Descriptor } from "../../oci/model.js";
import type { CommandContext } from "../context.js";

export async function run(ctx: CommandContext): Promise<void> {
  const [image] = ctx.args as [string];
  const store = await ctx.openStore();
  const r = await inspectImage(store, image);
  if (ctx.flagBool("json")) {
    ctx.out(JSON.stringify(r, null, 2));
    return;
  }
  const d = (x: Descriptor) => `${x.digest}  ${x.size} B  ${x.mediaType || "(no media type)"}`;
  ctx.out(`Reference:  ${r.reference}`);
  ctx.out(`Digest:     ${r.descriptor.digest}`);
  ctx.out(`MediaType:  ${r.descriptor.mediaType}`);
  ctx.out(`Size:       ${r.descriptor.size}`);
  if (Object.keys(r.annotations).length > 0) {
    ctx.out("Annotations:");
    for (const [k, v] of Object.entries(r.annotations).sort()) ctx.out(`  ${k}: ${v}`);
  }
  ctx.out("Manifests:");
  for (const m of r.manifests) {
    const p = m.descriptor.platform;
    ctx.out(`  ${p ? `${p.os}/${p.architecture}` : "(no platform)"}  ${d(m.descriptor)}`);
    if (m.manifest.artifactType) ctx.out(`    artifactType: ${m.manifest.artifactType}`);
    ctx.out(`    config: ${d(m.manifest.config)}`);
    for (const l of m.manifest.layers) ctx.out(`    layer:  ${d(l)}`);
  }
  if (r.signatures.length > 0) {
    ctx.out("Signatures:");
    for (const s of r.signatures) ctx.out(`  ${s.annotations?.["org.opencontainers.image.ref.name"]}  ${s.digest}`);
    for (const s of r.signatureDetails) ctx.out(`    ${s.format.padEnd(8)} ${s.digest}${s.format === "referrer" && s.artifactType ? `  ${s.artifactType}` : ""}`);
  }
}
