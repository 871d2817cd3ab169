/**
 * Packs a gadget exactly as ig's `image build` does (DESIGN §4): one manifest per
 * architecture (amd64 first, then arm64) and one index, with metadata-derived annotations.
 * Pure: takes bytes/descriptors, returns the JSON blobs to store. Layer blobs themselves are
 * written by the caller (they may be large), described here by digest and size.
 */
import { parseYaml } from "../yaml.js";
import { GadgetError } from "../errors.js";
import { sha256, type Digest } from "./digest.js";
import { encodeIndex, encodeManifest } from "./gojson.js";
import { Annotation, MediaType } from "./media-types.js";
import { emptyDescriptor, type Annotations, type Descriptor, type Index, type Manifest } from "./model.js";

export type Arch = "amd64" | "arm64";
export const ALL_ARCHS: readonly Arch[] = ["amd64", "arm64"];

export interface BlobRef {
  digest: Digest;
  size: number;
}

export interface ArchLayers {
  ebpf?: BlobRef;
  wasm?: BlobRef;
  btfgen?: BlobRef;
}

export interface PackInput {
  /** gadget.yaml bytes; absent → the OCI empty config descriptor. */
  config?: Uint8Array;
  /** Where the config came from, for error messages. */
  configPath?: string;
  archs: readonly Arch[];
  layers: Partial<Record<Arch, ArchLayers>>;
  /** RFC 3339 timestamp (see createdTimestamp). */
  created: string;
  builderVersion: string;
  /** Extra annotations (e.g. from custom stages), applied after gadget.yaml's, before `created`. */
  annotations?: Annotations;
}

export interface PackedBlob {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

export interface PackedImage {
  index: PackedBlob;
  manifests: (PackedBlob & { arch: Arch })[];
  /** The config blob (absent when the empty descriptor is inlined). */
  config?: PackedBlob;
  annotations: Annotations;
}

/** Annotations derived from gadget.yaml, as ig's annotationsFromMetadata. */
export function metadataAnnotations(config: Uint8Array, builderVersion: string, which = "gadget.yaml"): Annotations {
  const meta = parseYaml(Buffer.from(config).toString("utf8"), which, "BAD_METADATA");
  const m = (meta && typeof meta === "object" ? meta : {}) as Record<string, unknown>;
  const str = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  const out: Annotations = {
    [Annotation.Title]: str(m.name),
    [Annotation.Description]: str(m.description),
    [Annotation.Url]: str(m.homepageURL),
    [Annotation.Documentation]: str(m.documentationURL),
    [Annotation.Source]: str(m.sourceURL),
    [Annotation.BuilderVersion]: builderVersion,
  };
  if (m.annotations !== undefined && m.annotations !== null) {
    if (typeof m.annotations !== "object" || Array.isArray(m.annotations)) {
      throw new GadgetError({ what: "invalid metadata file", which: `${which}: annotations`, why: "expected a map of strings" });
    }
    for (const [k, v] of Object.entries(m.annotations as Record<string, unknown>)) out[k] = str(v);
  }
  return out;
}

/** RFC 3339 with seconds: UTC `Z` from SOURCE_DATE_EPOCH when set, else local time with offset (as Go's time.Now()). */
export function createdTimestamp(sourceDateEpoch?: string, now: Date = new Date()): string {
  if (sourceDateEpoch !== undefined && sourceDateEpoch !== "") {
    if (!/^\d+$/.test(sourceDateEpoch)) {
      throw new GadgetError({ what: "invalid environment", which: "SOURCE_DATE_EPOCH", why: `${JSON.stringify(sourceDateEpoch)} is not a number of seconds` });
    }
    return new Date(Number(sourceDateEpoch) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  const offMin = -now.getTimezoneOffset();
  const local = new Date(now.getTime() + offMin * 60_000).toISOString().slice(0, 19);
  if (offMin === 0) return `${local}Z`;
  const sign = offMin > 0 ? "+" : "-";
  const abs = Math.abs(offMin);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

function layerDescriptors(l: ArchLayers | undefined): Descriptor[] {
  const out: Descriptor[] = [];
  if (l?.ebpf) out.push({ mediaType: MediaType.EbpfProgram, digest: l.ebpf.digest, size: l.ebpf.size });
  if (l?.wasm) out.push({ mediaType: MediaType.WasmProgram, digest: l.wasm.digest, size: l.wasm.size });
  if (l?.btfgen) out.push({ mediaType: MediaType.Btfgen, digest: l.btfgen.digest, size: l.btfgen.size });
  return out;
}

export function pack(input: PackInput): PackedImage {
  const archs = ALL_ARCHS.filter((a) => input.archs.includes(a));
  if (archs.length === 0) {
    throw new GadgetError({ what: "nothing to pack", why: "no architecture selected", hint: "use amd64, arm64 or both" });
  }
  const annotations: Annotations = input.config
    ? { ...metadataAnnotations(input.config, input.builderVersion, input.configPath), ...input.annotations }
    : { ...input.annotations };
  annotations[Annotation.Created] = input.created;

  let configDesc: Descriptor;
  let config: PackedBlob | undefined;
  if (input.config) {
    configDesc = { mediaType: MediaType.GadgetConfig, digest: sha256(input.config), size: input.config.byteLength, annotations };
    config = { descriptor: configDesc, bytes: input.config };
  } else {
    // ig packs with oras.PackManifest, which puts ConfigAnnotations on the empty config
    // descriptor too: with no gadget.yaml that is `created` (and any stage annotations)
    configDesc = { ...emptyDescriptor(), annotations };
  }

  const manifests = archs.map((arch) => {
    const m: Manifest = {
      schemaVersion: 2,
      artifactType: MediaType.GadgetArtifact,
      config: configDesc,
      layers: layerDescriptors(input.layers[arch]),
      annotations,
    };
    const bytes = encodeManifest(m);
    const descriptor: Descriptor = {
      mediaType: MediaType.ImageManifest,
      digest: sha256(bytes),
      size: bytes.byteLength,
      annotations,
      platform: { architecture: arch, os: "linux" },
    };
    return { arch, descriptor, bytes };
  });

  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ImageIndex,
    manifests: manifests.map((m) => m.descriptor),
    annotations,
  };
  const indexBytes = encodeIndex(index);
  return {
    index: { descriptor: { mediaType: MediaType.ImageIndex, digest: sha256(indexBytes), size: indexBytes.byteLength }, bytes: indexBytes },
    manifests,
    ...(config ? { config } : {}),
    annotations,
  };
}
