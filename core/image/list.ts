/** `image list`: the tagged gadget images in a store, with CREATED from the host-arch manifest. */
import { Annotation, isIndexType } from "../oci/media-types.js";
import { parseIndex, parseManifest, type Descriptor } from "../oci/model.js";
import { displayRepository, isSignatureTag, parseReference } from "../oci/reference.js";
import { refNameOf, type LayoutStore } from "../store/layout-store.js";

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
      tag = ref.tag ?? "";
    } catch {
      /* a foreign name: show it verbatim */
    }
    out.push({ reference: name, repository, tag, digest: entry.digest, created: await createdOf(store, entry), descriptor: entry });
  }
  out.sort((a, b) => (a.repository === b.repository ? (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0) : a.repository < b.repository ? -1 : 1));
  return out;
}
