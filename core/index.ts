/**
 * The public library: everything the CLI does, as typed functions, plus the types and helpers
 * gadgetfile.ts authors import (`import { defineGadgetfile } from "gadget"`).
 */
export * from "./stage-api.js";
export { LayoutStore } from "./store/layout-store.js";
export { listImages, type ImageSummary } from "./image/list.js";
export { inspectImage, type InspectResult } from "./image/inspect.js";
export { signImage, parseFormat, type SignOptions, type SignResult } from "./sign/sign.js";
export { verifyImage, type VerifyResult } from "./sign/verify.js";
export { signatureArtifacts, signatureTagNames, addReferrers, findReferrers, type SignatureArtifact } from "./sign/related.js";
export { cosignSignatureTag, referrersTag, isSignatureTagName, SIGNATURE_FORMATS, type SignatureFormat } from "./sign/constants.js";
export { parsePrivateKey, parsePublicKey, generateKeyPairPem, type SigningKey, type PublicKey, type KeyType } from "./sign/keys.js";
export { loadSigningKeyFile, loadSigningKey, parseKeySource, keySourceName, looksLikeKeyMaterial, loadPublicKeys, passwordFrom, writeKeyPair, type KeySource } from "./sign/key-files.js";
export { exportImages, type ExportOptions, type ExportResult, type ExportedImage, type TransferProgress } from "./image/export.js";
export { importImages, type ImportOptions, type ImportResult, type ImportedImage, type ImportLimits } from "./image/import.js";
export { pushImage, pushResultLine, type PushOptions, type PushResult } from "./image/push.js";
export { pullImage, pullResultLine, type PullOptions, type PullResult } from "./image/pull.js";
export { copyImages, type CopyImagesOptions, type CopyImagesResult, type CopiedImage } from "./image/copy-images.js";
export { copyRoot, type CopyRootOptions, type CopyRootResult } from "./image/copy.js";
export { parseLocation, type Location } from "./image/locations.js";
export { mirrorImages, parseMirrorList, parseMirrorTarget, mirrorDestination, type MirrorOptions, type MirrorSummary, type MirrorResult, type MirrorEvent } from "./image/mirror.js";
export { listTags, remoteDigest, type TagList, type RemoteDigest, type RemoteInfoOptions } from "./image/remote-info.js";
export { prune, type PruneReport, type PruneItem } from "./store/prune.js";
export { readAhead, type ReadAhead } from "./oci/prefetch.js";
export { copySignatures, type TransferredSignature } from "./sign/transfer.js";
export { RegistryClient, type RegistryClientOptions, type RetryPolicy } from "./registry/client.js";
export { RemoteRepository } from "./registry/repository.js";
export { openRemoteRepository, type TransferOptions } from "./registry/open.js";
export { registryTimeouts, type RegistryTimeouts } from "./registry/timeouts.js";
export type { ProgressEvent } from "./registry/progress-events.js";
export { login, logout, getLogin, type LoginOptions } from "./auth/login.js";
export { getCredential, saveCredential, removeCredential, type Credential } from "./auth/credentials.js";
export { buildImage, type BuildOptions, type BuildResult } from "./image/build.js";
// engine: the step graph, the cache, gadgetfiles, plugins, watch (`gadget run`)
export { runGraph, type RunGraphOptions, type GadgetRunResult, type StepEvent } from "./engine/run-graph.js";
export { exec, ToolError, isToolError } from "./engine/exec.js";
export { loadBuiltinStages, loadPlugins } from "./engine/plugins.js";
export { loadProject, runProject, imageDigest, type Project, type LoadProjectOptions, type RunProjectOptions } from "./engine/project.js";
export { watchProject, type WatchOptions } from "./engine/watch.js";
export { cacheRoot, CACHE_DIR_ENV } from "./engine/cache-dir.js";
export { loadGadgetfile, findGadgetfile, type LoadedGadgetfile } from "./gadgetfile/load.js";
export { validateGadgetfile } from "./gadgetfile/validate.js";
// check: load objects into the verifier of the host and of kernels booted in a micro-VM
export { checkObjects, defaultTimeoutMs } from "./check/check.js";
export { parseDuration } from "./duration.js";
export { objectsOfImage } from "./check/image.js";
export { identifyKernel, bzImageRelease } from "./check/kernel.js";
export { findLoader, parseLoaderOutput, type LoaderRun, type LoadedObject } from "./check/loader.js";
export { defaultCheckCacheDir, cacheKey } from "./check/cache.js";
export { resultLines, resultTable, compareWithBaseline, regressionLine, type Regression } from "./check/report.js";
export type { CheckObject, CheckOptions, CheckReport, CheckResult, KernelInfo, KernelSpec, ProgramResult, ResultStatus } from "./check/types.js";
