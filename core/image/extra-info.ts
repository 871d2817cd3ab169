/**
 * The "extra info" of `ig image inspect`: a map of entries `{content, contentType}` that ig's
 * operators add when asked (`gadgetCtx.ExtraInfo()`), computed here from the image in the store:
 *
 * - oci-handler (pkg/operators/oci-handler/extrainfo.go), from the host architecture's manifest:
 *   `oci.manifest` (the manifest re-marshalled by Go), `oci.metadata` (the config: gadget.yaml),
 *   `oci.repository` and `oci.tag` (the image name as given, not normalized: distribution's
 *   reference.Parse; tag "latest" when none), `oci.digest` (the config's digest), `oci.created`;
 * - ebpf operator (pkg/operators/ebpf/extrainfo.go), from the eBPF layer, through cilium/ebpf's
 *   CollectionSpec: `ebpf.sections`, `ebpf.maps` ({Name, Type}; `.rodata` and `.bss` left out),
 *   `ebpf.programs` ({Section, Source}: the disassembly), `ebpf.variables` ({Name, Offset, Size,
 *   Map}) and the Mermaid diagrams `ebpf.flowchart` and `ebpf.sequence`;
 * - wasm operator (pkg/operators/wasm/extrainfo.go): `wasm.gadgetAPIVersion`, `wasm.upcalls`.
 *
 * ig lists maps, programs and variables from Go maps (random order); we sort them by name.
 */
import { GadgetError } from "../errors.js";
import { formatProgram, mapTypeName } from "../btf/bpf-insn.js";
import { flowchart, sequence } from "../btf/ebpf-graph.js";
import { readCollection } from "../btf/inspect-info.js";
import { goJson } from "../gojson-value.js";
import { goManifest } from "../oci/gojson.js";
import { MediaType } from "../oci/media-types.js";
import { parseIndex, parseManifest, type Descriptor, type Manifest } from "../oci/model.js";
import { Annotation } from "../oci/media-types.js";
import type { LayoutStore } from "../store/layout-store.js";
import { hostArch } from "./list.js";

export interface ExtraInfoEntry {
  contentType: string;
  content: string;
}

export type ExtraInfo = Record<string, ExtraInfoEntry>;

const NAME = "(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*";
const REF_RE = new RegExp(`^(${NAME})(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`);

/** distribution/reference.Parse (no normalization): the name and tag as written. */
export function parseAsWritten(image: string): { repository: string; tag: string } {
  const m = REF_RE.exec(image);
  if (!m || m[1]!.length > 255) {
    throw new GadgetError({ what: "adding extra info", which: JSON.stringify(image), why: "invalid reference format", hint: "write the name in lowercase, as [registry/]repository[:tag][@digest]", code: "INVALID_REFERENCE" });
  }
  return { repository: m[1]!, tag: m[2] ?? "latest" };
}

const entry = (contentType: string, content: string): ExtraInfoEntry => ({ contentType, content });
/** Go marshals a nil slice as null. */
const list = <T>(items: T[]) => (items.length === 0 ? "null" : goJson(items));

/** The manifest ig uses: the image index's entry for the host architecture (ig's getManifestForHost). */
export async function hostManifest(store: LayoutStore, index: Descriptor, reference: string, arch = hostArch()): Promise<{ descriptor: Descriptor; manifest: Manifest }> {
  const bytes = await store.fetchBytes(index);
  if (index.mediaType !== MediaType.ImageIndex) {
    throw new GadgetError({ what: "getting manifest", which: reference, why: `image ${JSON.stringify(reference)} is not an image index` });
  }
  const descriptor = parseIndex(bytes, index.digest).manifests.find((m) => m.platform?.architecture === arch);
  if (!descriptor) throw new GadgetError({ what: "getting manifest", which: reference, why: `no manifest found for architecture ${JSON.stringify(arch)}` });
  return { descriptor, manifest: parseManifest(await store.fetchBytes(descriptor), descriptor.digest) };
}

/** The extra info of the image `index` (named `image` by the user) for `arch` (default: this host's, as ig). */
export async function gadgetExtraInfo(store: LayoutStore, index: Descriptor, image: string, arch = hostArch()): Promise<ExtraInfo> {
  const { repository, tag } = parseAsWritten(image);
  const { manifest } = await hostManifest(store, index, image, arch);
  const metadata = await store.fetchBytes(manifest.config);
  const info: ExtraInfo = {
    "oci.manifest": entry("application/json", goManifest(manifest)),
    "oci.metadata": entry("text/yaml", metadata.toString("utf8")),
    "oci.repository": entry("text/plain", repository),
    "oci.tag": entry("text/plain", tag),
    "oci.digest": entry("text/plain", manifest.config.digest),
    "oci.created": entry("text/plain", manifest.annotations?.[Annotation.Created] ?? ""),
  };
  for (const layer of manifest.layers) {
    if (layer.mediaType === MediaType.EbpfProgram) {
      const bytes = await store.fetchBytes(layer, 512 * 1024 * 1024);
      const c = readCollection(bytes, `eBPF layer ${layer.digest}`);
      const byName = <T extends { Name: string }>(a: T, b: T) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0);
      const maps = [...c.maps.entries()].filter(([k]) => k !== ".rodata" && k !== ".bss").map(([k, m]) => ({ Name: k, Type: mapTypeName(m.type) }));
      const programs = c.programs.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((p) => ({ Section: p.section, Source: formatProgram(p.instructions) }));
      const variables = c.variables.map((v) => ({ Name: v.name, Offset: v.offset, Size: v.size, Map: v.map }));
      info["ebpf.sections"] = entry("application/json", list(c.sections));
      info["ebpf.maps"] = entry("application/json", list(maps.sort(byName)));
      info["ebpf.programs"] = entry("application/json", list(programs));
      info["ebpf.variables"] = entry("application/json", list(variables.sort(byName)));
      info["ebpf.flowchart"] = entry("text/mermaid", flowchart(c));
      info["ebpf.sequence"] = entry("text/mermaid", sequence(c));
    } else if (layer.mediaType === MediaType.WasmProgram) {
      const bytes = await store.fetchBytes(layer, 512 * 1024 * 1024);
      const { wasmApiVersion, wasmUpcalls } = await import("./wasm-info.js");
      info["wasm.upcalls"] = entry("application/json", goJson(wasmUpcalls(bytes)));
      info["wasm.gadgetAPIVersion"] = entry("text/plain", await wasmApiVersion(bytes));
    }
  }
  return info;
}
