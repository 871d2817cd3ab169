/**
 * Signature manifests byte-for-byte as cosign (go-containerregistry) writes them: ggcr's struct
 * field order — manifest `schemaVersion, mediaType, config, layers, annotations, subject,
 * artifactType`; descriptor `mediaType, size, digest, data, urls, annotations, platform,
 * artifactType` — and ggcr's config file for the legacy/oci11 signature image.
 * Pure functions: bytes in, bytes and descriptors out.
 */
import { sha256, type Digest } from "../oci/digest.js";
import { goString, goStringMap } from "../oci/gojson.js";
import { EMPTY_DIGEST, MediaType } from "../oci/media-types.js";
import type { Descriptor } from "../oci/model.js";
import { BundleAnnotation, COSIGN_SIGN_PREDICATE, SIGNATURE_ANNOTATION, SignMediaType } from "./constants.js";

export interface Blob {
  descriptor: Descriptor;
  bytes: Buffer;
}

function blob(mediaType: string, bytes: Buffer, extra: Partial<Descriptor> = {}): Blob {
  return { descriptor: { mediaType, digest: sha256(bytes), size: bytes.byteLength, ...extra }, bytes };
}

/** A descriptor in ggcr's field order. */
export function ggcrDescriptor(d: Descriptor): string {
  const parts = [`"mediaType":${goString(d.mediaType)}`, `"size":${d.size}`, `"digest":${goString(d.digest)}`];
  if (d.annotations && Object.keys(d.annotations).length > 0) parts.push(`"annotations":${goStringMap(d.annotations)}`);
  if (d.artifactType) parts.push(`"artifactType":${goString(d.artifactType)}`);
  return `{${parts.join(",")}}`;
}

interface GgcrManifest {
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
}

export function ggcrManifest(m: GgcrManifest): Buffer {
  const parts = [
    `"schemaVersion":2`,
    `"mediaType":${goString(MediaType.ImageManifest)}`,
    `"config":${ggcrDescriptor(m.config)}`,
    `"layers":[${m.layers.map(ggcrDescriptor).join(",")}]`,
  ];
  if (m.annotations && Object.keys(m.annotations).length > 0) parts.push(`"annotations":${goStringMap(m.annotations)}`);
  if (m.subject) parts.push(`"subject":${ggcrDescriptor(m.subject)}`);
  if (m.artifactType) parts.push(`"artifactType":${goString(m.artifactType)}`);
  return Buffer.from(`{${parts.join(",")}}`, "utf8");
}

/** ggcr's (empty) config file whose rootfs names the payload layer, as in every cosign signature image. */
export function signatureConfigFile(payloadDigest: Digest): Buffer {
  return Buffer.from(
    `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"",` +
      `"rootfs":{"type":"layers","diff_ids":[${goString(payloadDigest)}]},"config":{}}`,
    "utf8",
  );
}

export interface SignatureImage {
  manifest: Blob;
  /** Every blob the manifest references (payload/bundle, config), to store before the manifest. */
  blobs: Blob[];
  /** The manifest's annotations (a referrers index lists them). */
  annotations?: Record<string, string>;
}

/** Only the fields a subject descriptor carries (mediaType, size, digest). */
export function subjectOf(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/**
 * A cosign simple-signing signature image: one payload layer with the base64 signature in
 * `dev.cosignproject.cosign/signature`. Legacy (`.sig` tag) when there is no subject; with a
 * subject it is cosign's OCI 1.1 referrer (config media type = the artifact type).
 */
export function simpleSigningImage(payload: Buffer, signature: Buffer, subject?: Descriptor): SignatureImage {
  const payloadBlob = blob(SignMediaType.SimpleSigning, payload);
  const config = blob(subject ? SignMediaType.ArtifactSig : SignMediaType.ImageConfig, signatureConfigFile(payloadBlob.descriptor.digest));
  const layer: Descriptor = { ...payloadBlob.descriptor, annotations: { [SIGNATURE_ANNOTATION]: signature.toString("base64") } };
  const manifestBytes = ggcrManifest({
    config: config.descriptor,
    layers: [layer],
    ...(subject ? { subject: subjectOf(subject) } : {}),
  });
  const manifest = blob(MediaType.ImageManifest, manifestBytes, subject ? { artifactType: SignMediaType.ArtifactSig } : {});
  return { manifest, blobs: [payloadBlob, config] };
}

/** The OCI empty config `{}`. */
export function emptyConfigBlob(): Blob {
  const bytes = Buffer.from("{}", "utf8");
  return { descriptor: { mediaType: MediaType.Empty, digest: EMPTY_DIGEST as Digest, size: 2 }, bytes };
}

/** cosign's sigstore-bundle referrer: empty config, one bundle layer, subject = the image. */
export function bundleImage(bundleJson: Buffer, subject: Descriptor, created: string): SignatureImage {
  const bundleBlob = blob(SignMediaType.BundleV03, bundleJson);
  const config = emptyConfigBlob();
  const annotations = {
    [BundleAnnotation.Content]: "dsse-envelope",
    [BundleAnnotation.PredicateType]: COSIGN_SIGN_PREDICATE,
    "org.opencontainers.image.created": created,
  };
  const manifestBytes = ggcrManifest({
    config: { ...config.descriptor, artifactType: SignMediaType.BundleV03 },
    layers: [bundleBlob.descriptor],
    annotations,
    subject: subjectOf(subject),
    artifactType: SignMediaType.BundleV03,
  });
  const manifest = blob(MediaType.ImageManifest, manifestBytes, { artifactType: SignMediaType.BundleV03 });
  return { manifest, blobs: [bundleBlob, config], annotations };
}

/**
 * A sigstore bundle v0.3 (protojson field names) carrying a DSSE envelope and a public-key hint.
 * Made offline: no transparency-log entry and no timestamp.
 */
export function sigstoreBundle(payloadType: string, payload: Buffer, signature: Buffer, publicKeyHint: string): Buffer {
  const json =
    `{"mediaType":${goString(SignMediaType.BundleV03)},` +
    `"verificationMaterial":{"publicKey":{"hint":${goString(publicKeyHint)}}},` +
    `"dsseEnvelope":{"payload":${goString(payload.toString("base64"))},"payloadType":${goString(payloadType)},` +
    `"signatures":[{"sig":${goString(signature.toString("base64"))}}]}}`;
  return Buffer.from(json, "utf8");
}
