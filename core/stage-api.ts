/**
 * The light public entry for stage authors (`import … from "gadget/stage"`): the stage API and the
 * small pure helpers a stage needs (errors, digests, media types, the OCI model and writer, pack,
 * names, BPF object reading, gadget.yaml checks). It loads in a fraction of the full library's
 * time, which matters on every no-op build. Everything here is also exported from "gadget".
 */
export { GadgetError, ToolError, isToolError } from "./errors.js";
export type { GadgetErrorInit, ErrorLocation } from "./errors.js";
export { sha256, isDigest, type Digest } from "./oci/digest.js";
export { MediaType, Annotation, EMPTY_DIGEST, EMPTY_JSON } from "./oci/media-types.js";
export { readFileCapped } from "./io.js";
export { tarToBuffer, type MemoryTarEntry } from "./tar/writer.js";
export type { Descriptor, Manifest, Index, Platform, Annotations } from "./oci/model.js";
export { parseManifest, parseIndex } from "./oci/model.js";
export { encodeManifest, encodeIndex } from "./oci/gojson.js";
export { pack, createdTimestamp, metadataAnnotations, ALL_ARCHS, type Arch, type PackInput, type PackedImage } from "./oci/pack.js";
export { parseReference, normalizeReference, formatReference, type Reference } from "./oci/reference.js";
export { defineStage, defineGadgetfile, step } from "./types.js";
export { t, checkSchema, formatKeyPath, type Schema, type Infer, type KeyPath, type Problem } from "./schema.js";
export type * from "./types.js";
export { builderVersion } from "./version.js";
export { resolveBuilderVersion, type ResolvedBuilderVersion } from "./builder-version.js";
export { parseElf, isElf, EM_BPF, type ElfFile, type ElfSection, type ElfSymbol } from "./btf/elf.js";
export { parseBtf, BtfKind, type Btf, type BtfType } from "./btf/btf.js";
export { readBpfObject, unresolvedSymbols, decodeValue, goQuote, type BpfObject, type BpfGlobal, type BpfMap, type BpfProgram, type BpfExtern, type GadgetMarker } from "./btf/object.js";
export { parseMetadata, validateMetadata, assertValid, checkParamVar, paramVarProblem, markerProblems, type ValidationReport, type MetadataProblem } from "./metadata/validate.js";
export { unknownMetadataKeys } from "./metadata/keys.js";
export { updateMetadata, paramVariables, type UpdateResult } from "./metadata/update.js";
