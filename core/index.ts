/**
 * The public library: everything the CLI does, as typed functions, plus the types and helpers
 * gadgetfile.ts authors import (`import { defineGadgetfile } from "gadget"`).
 */
export { GadgetError } from "./errors.js";
export type { GadgetErrorInit, ErrorLocation } from "./errors.js";
export { sha256, isDigest, type Digest } from "./oci/digest.js";
export { MediaType, Annotation } from "./oci/media-types.js";
export type { Descriptor, Manifest, Index, Platform, Annotations } from "./oci/model.js";
export { parseManifest, parseIndex } from "./oci/model.js";
export { encodeManifest, encodeIndex } from "./oci/gojson.js";
export { pack, createdTimestamp, metadataAnnotations, ALL_ARCHS, type Arch, type PackInput, type PackedImage } from "./oci/pack.js";
export { parseReference, normalizeReference, formatReference, type Reference } from "./oci/reference.js";
export { LayoutStore } from "./store/layout-store.js";
export { listImages, type ImageSummary } from "./image/list.js";
export { inspectImage, type InspectResult } from "./image/inspect.js";
export { defineStage, defineGadgetfile } from "./types.js";
export type * from "./types.js";
export { exportImages, type ExportOptions, type ExportResult, type ExportedImage, type TransferProgress } from "./image/export.js";
export { importImages, type ImportOptions, type ImportResult, type ImportedImage, type ImportLimits } from "./image/import.js";
