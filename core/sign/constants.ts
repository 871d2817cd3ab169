/**
 * Names cosign, sigstore and ig agree on (cosign pkg/types, sigstore pkg/signature/payload,
 * ig pkg/signature): media types, annotation keys, payload type strings and tag schemas.
 */
import { digestHex, type Digest } from "../oci/digest.js";

export const SignMediaType = {
  /** The payload layer of a cosign signature manifest (legacy and oci11). */
  SimpleSigning: "application/vnd.dev.cosign.simplesigning.v1+json",
  /** Config media type (and thus artifact type) of cosign's OCI 1.1 signature referrer. */
  ArtifactSig: "application/vnd.dev.cosign.artifact.sig.v1+json",
  /** A sigstore bundle v0.3 (artifact type and layer media type of a bundle referrer). */
  BundleV03: "application/vnd.dev.sigstore.bundle.v0.3+json",
  /** go-containerregistry's config file media type, used by cosign's legacy `.sig` manifests. */
  ImageConfig: "application/vnd.oci.image.config.v1+json",
  /** DSSE payload type of an in-toto statement. */
  InToto: "application/vnd.in-toto+json",
} as const;

/** Layer annotation holding the base64 signature of the payload. */
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** `critical.type` of a simple-signing payload. */
export const COSIGN_SIGNATURE_TYPE = "cosign container image signature";
export const IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1";
/** predicateType cosign writes for `cosign sign --new-bundle-format`. */
export const COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";
export const BundleAnnotation = {
  Content: "dev.sigstore.bundle.content",
  PredicateType: "dev.sigstore.bundle.predicateType",
} as const;

export type SignatureFormat = "legacy" | "oci11" | "bundle";
export const SIGNATURE_FORMATS: readonly SignatureFormat[] = ["legacy", "oci11", "bundle"];

/** cosign's legacy signature tag: `sha256-<hex>.sig`. */
export function cosignSignatureTag(digest: Digest): string {
  return `${digest.slice(0, digest.indexOf(":"))}-${digestHex(digest)}.sig`;
}

/** The OCI distribution referrers tag schema: `sha256-<hex>` → an index listing the referrers. */
export function referrersTag(digest: Digest): string {
  return `${digest.slice(0, digest.indexOf(":"))}-${digestHex(digest)}`;
}

/** True for the bare tag names signatures live under (`sha256-<hex>` and `sha256-<hex>.sig`). */
export function isSignatureTagName(name: string): boolean {
  return /^sha(256|512)-[a-f0-9]{64,128}(\.sig)?$/.test(name);
}
