/** OCI and gadget media types (DESIGN §4). */
export const MediaType = {
  ImageIndex: "application/vnd.oci.image.index.v1+json",
  ImageManifest: "application/vnd.oci.image.manifest.v1+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  Empty: "application/vnd.oci.empty.v1+json",
  GadgetArtifact: "application/vnd.gadget.v1+binary",
  GadgetConfig: "application/vnd.gadget.config.v1+yaml",
  EbpfProgram: "application/vnd.gadget.ebpf.program.v1+binary",
  WasmProgram: "application/vnd.gadget.wasm.program.v1+binary",
  Btfgen: "application/vnd.gadget.btfgen.v1+binary",
  CosignSimpleSigning: "application/vnd.dev.cosign.simplesigning.v1+json",
  CosignArtifactSig: "application/vnd.dev.cosign.artifact.sig.v1+json",
} as const;

/** The OCI empty descriptor's blob: `{}`. */
export const EMPTY_JSON = new TextEncoder().encode("{}");
export const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

export const Annotation = {
  RefName: "org.opencontainers.image.ref.name",
  Created: "org.opencontainers.image.created",
  Title: "org.opencontainers.image.title",
  Description: "org.opencontainers.image.description",
  Url: "org.opencontainers.image.url",
  Documentation: "org.opencontainers.image.documentation",
  Source: "org.opencontainers.image.source",
  BuilderVersion: "io.inspektor-gadget.builder.version",
} as const;

export function isManifestType(mt: string | undefined): boolean {
  return mt === MediaType.ImageManifest || mt === MediaType.DockerManifest;
}

export function isIndexType(mt: string | undefined): boolean {
  return mt === MediaType.ImageIndex || mt === MediaType.DockerManifestList;
}
