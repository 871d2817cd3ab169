/**
 * An image in the local store → the objects to check: the ebpf layer of each platform manifest
 * (amd64 is checked; arm64 is reported as not checked unless an arm64 kernel exists), named by
 * the repository's last path element (else gadget.yaml's `name`).
 */
import { GadgetError } from "../errors.js";
import { isIndexType, MediaType } from "../oci/media-types.js";
import { parseIndex, parseManifest, type Descriptor } from "../oci/model.js";
import { parseReference } from "../oci/reference.js";
import type { LayoutStore } from "../store/layout-store.js";
import { yaml } from "../yaml.js";
import type { CheckObject } from "./types.js";

/** The largest eBPF object we read from a store (ig's biggest are a few MiB). */
const MAX_OBJECT_BYTES = 256 * 1024 * 1024;

export async function objectsOfImage(store: LayoutStore, reference: string): Promise<CheckObject[]> {
  const root = await store.resolve(reference);
  const bytes = await store.fetchBytes(root);
  const manifests: Descriptor[] = isIndexType(root.mediaType) || (!root.mediaType && bytes.includes('"manifests"')) ? parseIndex(bytes, root.digest).manifests : [root];
  const objects: CheckObject[] = [];
  for (const d of manifests) {
    const m = d === root ? parseManifest(bytes, root.digest) : parseManifest(await store.fetchBytes(d), d.digest);
    const layer = m.layers.find((l) => l.mediaType === MediaType.EbpfProgram);
    if (!layer) continue;
    const arch = d.platform?.architecture ?? "amd64";
    if (arch !== "amd64" && arch !== "arm64") continue;
    const name = gadgetName(m.config.mediaType === MediaType.GadgetConfig ? await store.fetchBytes(m.config) : undefined, reference);
    objects.push({ name, arch, digest: layer.digest, bytes: await store.fetchBytes(layer, MAX_OBJECT_BYTES) });
  }
  if (objects.length === 0) {
    throw new GadgetError({ what: "nothing to check", which: reference, why: `the image has no eBPF layer (${MediaType.EbpfProgram})`, code: "NO_EBPF" });
  }
  return objects;
}

/** The repository's last path element (`trace_open`), else gadget.yaml's `name`, else the reference. */
function gadgetName(config: Buffer | undefined, reference: string): string {
  try {
    const ref = parseReference(reference);
    const last = ref.repository.split("/").pop();
    if (last) return last;
  } catch {
    // a digest or a name the parser refuses: try gadget.yaml
  }
  if (config) {
    try {
      const meta = yaml().parse(config.toString("utf8")) as { name?: unknown } | null;
      if (meta && typeof meta.name === "string" && meta.name.trim() !== "") return meta.name.trim();
    } catch {
      // an unreadable gadget.yaml does not stop a check
    }
  }
  return reference;
}
