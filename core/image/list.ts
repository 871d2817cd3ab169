/**
 * `image list`: the tagged gadget images in a store, with CREATED from the host-arch manifest, as
 * ig's GetGadgetImages (pkg/oci/oci.go): sorted by full reference (the store's tags in ascending
 * order), a digest-only reference shows TAG `latest` (ig's default when the name has no tag).
 * Signature tags are left out (ig warns about each one it cannot read as an image; we skip them).
 */
import { Annotation, isIndexType } from "../oci/media-types.js";
import { parseIndex, parseManifest, type Descriptor } from "../oci/model.js";
import { displayRepository, isSignatureTag, parseReference } from "../oci/reference.js";
import { refNameOf, type LayoutStore } from "../store/layout-store.js";
import { compareGoStrings } from "../oci/gojson.js";

export interface ImageSummary {
  /** Full normalized reference, e.g. ghcr.io/inspektor-gadget/gadget/trace_open:latest */
  reference: string;
  /** As `list` shows it (official prefix trimmed). */
  repository: string;
  tag: string;
  digest: string;
  /** RFC 3339 from the host-arch manifest, "" when unknown. */
  created: string;
  descriptor: Descriptor;
}

export function hostArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch === "arm64" ? "arm64" : process.arch;
}

async function createdOf(store: LayoutStore, entry: Descriptor): Promise<string> {
  try {
    const bytes = await store.fetchBytes(entry);
    let manifestDesc: Descriptor | undefined = entry;
    if (isIndexType(entry.mediaType) || (!entry.mediaType && bytes.includes('"manifests"'))) {
      const index = parseIndex(bytes);
      manifestDesc = index.manifests.find((m) => m.platform?.architecture === hostArch()) ?? index.manifests[0];
      if (!manifestDesc) return index.annotations?.[Annotation.Created] ?? "";
      const m = parseManifest(await store.fetchBytes(manifestDesc));
      return m.annotations?.[Annotation.Created] ?? manifestDesc.annotations?.[Annotation.Created] ?? index.annotations?.[Annotation.Created] ?? "";
    }
    return parseManifest(bytes).annotations?.[Annotation.Created] ?? "";
  } catch {
    return entry.annotations?.[Annotation.Created] ?? "";
  }
}

export async function listImages(store: LayoutStore): Promise<ImageSummary[]> {
  const out: ImageSummary[] = [];
  for (const entry of await store.entries()) {
    const name = refNameOf(entry);
    if (!name || isSignatureTag(name)) continue;
    let repository = name;
    let tag = "";
    try {
      const ref = parseReference(name);
      repository = displayRepository(ref);
      tag = ref.tag ?? "latest";
    } catch {
      /* a foreign name: show it verbatim */
    }
    out.push({ reference: name, repository, tag, digest: entry.digest, created: await createdOf(store, entry), descriptor: entry });
  }
  out.sort((a, b) => compareGoStrings(a.reference, b.reference));
  return out;
}
