/** `image inspect`: the whole graph of one image — index, manifests, config and layers. */
import { isIndexType } from "../oci/media-types.js";
import { parseIndex, parseManifest, type Annotations, type Descriptor, type Index, type Manifest } from "../oci/model.js";
import { normalizeReference } from "../oci/reference.js";
import { refNameOf, type LayoutStore } from "../store/layout-store.js";

export interface InspectedManifest {
  descriptor: Descriptor;
  manifest: Manifest;
}

export interface InspectResult {
  reference: string;
  descriptor: Descriptor;
  index?: Index;
  manifests: InspectedManifest[];
  annotations: Annotations;
  /** Signature/referrer tags that point at this image (sha256-<hex>.sig, sha256-<hex>). */
  signatures: Descriptor[];
  /** The image's signatures by format: the legacy .sig manifest and each referrer (cosign oci11, sigstore bundle, others). */
  signatureDetails: { format: string; digest: string; artifactType?: string }[];
}

export async function inspectImage(store: LayoutStore, reference: string): Promise<InspectResult> {
  const entries = await store.entries();
  const descriptor = await store.resolve(reference);
  const bytes = await store.fetchBytes(descriptor);
  const result: InspectResult = {
    reference: reference.startsWith("sha256-") ? reference : normalizeReference(reference),
    descriptor,
    manifests: [],
    annotations: {},
    signatures: [],
    signatureDetails: [],
  };
  if (isIndexType(descriptor.mediaType) || (!descriptor.mediaType && bytes.includes('"manifests"'))) {
    const index = parseIndex(bytes, descriptor.digest);
    result.index = index;
    result.annotations = index.annotations ?? {};
    for (const d of index.manifests) {
      result.manifests.push({ descriptor: d, manifest: parseManifest(await store.fetchBytes(d), d.digest) });
    }
  } else {
    const m = parseManifest(bytes, descriptor.digest);
    result.manifests.push({ descriptor, manifest: m });
    result.annotations = m.annotations ?? {};
  }
  const hex = descriptor.digest.slice("sha256:".length);
  result.signatures = entries.filter((e) => {
    const n = refNameOf(e) ?? "";
    return n.endsWith(`sha256-${hex}.sig`) || n.endsWith(`sha256-${hex}`);
  });
  const legacy = result.signatures.find((e) => refNameOf(e) === `sha256-${hex}.sig`);
  if (legacy) result.signatureDetails.push({ format: "legacy", digest: legacy.digest });
  const { findReferrers } = await import("../sign/related.js");
  const { SignMediaType } = await import("../sign/constants.js");
  for (const r of await findReferrers(store, descriptor.digest)) {
    const format = r.artifactType === SignMediaType.ArtifactSig ? "oci11" : r.artifactType === SignMediaType.BundleV03 ? "bundle" : "referrer";
    result.signatureDetails.push({ format, digest: r.descriptor.digest, artifactType: r.artifactType });
  }
  return result;
}
