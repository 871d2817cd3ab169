/**
 * `gadget image sign`: sign an image's index digest offline, in one of cosign's three layouts,
 * and store the signature beside the image (see related.ts for where each lives).
 */
import { GadgetError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { isIndexType, isManifestType } from "../oci/media-types.js";
import type { Descriptor } from "../oci/model.js";
import { formatReference, parseReference } from "../oci/reference.js";
import type { LayoutStore } from "../store/layout-store.js";
import { cosignSignatureTag, isSignatureTagName, referrersTag, SignMediaType, SIGNATURE_FORMATS, type SignatureFormat } from "./constants.js";
import { publicKeyHint, signData, type SigningKey } from "./keys.js";
import { bundleImage, simpleSigningImage, sigstoreBundle, type SignatureImage } from "./manifests.js";
import { inTotoStatement, pae, simpleSigningPayload } from "./payload.js";
import { addReferrers } from "./related.js";
import { findOwnSignature } from "./existing.js";

export interface SignOptions {
  format?: SignatureFormat;
  /** cosign's `-a key=value`: extra claims in the simple-signing payload's `optional`. */
  annotations?: Record<string, string>;
  /** RFC 3339 time for the bundle manifest's `org.opencontainers.image.created` (default: now, UTC). */
  created?: string;
  /**
   * Sign even when a valid signature by this key (same format and claims) already exists. By
   * default signing such a digest again is a no-op that returns the existing signature.
   */
  resign?: boolean;
}

export interface SignResult {
  /** The normalized image reference signed. */
  reference: string;
  /** The signed (index) digest. */
  digest: Digest;
  format: SignatureFormat;
  /** The tag the signature is stored under (`sha256-<hex>.sig` or `sha256-<hex>`). */
  tag: string;
  /** The signature manifest. */
  signature: Descriptor;
  /** True when the digest was already signed by this key: nothing was written. */
  existing: boolean;
}

export function parseFormat(value: string | undefined, which = "--format"): SignatureFormat {
  const v = value ?? "legacy";
  if ((SIGNATURE_FORMATS as readonly string[]).includes(v)) return v as SignatureFormat;
  throw new GadgetError({ what: "invalid signature format", which, why: `${JSON.stringify(v)} is not one of ${SIGNATURE_FORMATS.join(", ")}`, exitCode: 2, code: "USAGE" });
}

/** The image to sign: resolved in the store, with the docker-reference cosign would record. */
export async function resolveSignable(store: LayoutStore, reference: string): Promise<{ reference: string; dockerReference: string; descriptor: Descriptor }> {
  if (isSignatureTagName(reference)) {
    throw new GadgetError({ what: "signing image", which: reference, why: "this is a signature tag, not an image", code: "USAGE", exitCode: 2 });
  }
  const ref = parseReference(reference);
  const descriptor = await store.resolve(reference);
  if (!isIndexType(descriptor.mediaType) && !isManifestType(descriptor.mediaType)) {
    throw new GadgetError({ what: "signing image", which: reference, why: `${descriptor.digest} is not an image index or manifest (${descriptor.mediaType || "no media type"})` });
  }
  return { reference: formatReference(ref), dockerReference: `${ref.registry}/${ref.repository}`, descriptor };
}

async function storeImage(store: LayoutStore, img: SignatureImage): Promise<void> {
  for (const b of img.blobs) await store.push(b.descriptor, b.bytes);
  await store.push(img.manifest.descriptor, img.manifest.bytes);
}

function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

export async function signImage(store: LayoutStore, reference: string, key: SigningKey, opts: SignOptions = {}): Promise<SignResult> {
  const format = opts.format ?? "legacy";
  const target = await resolveSignable(store, reference);
  const digest = target.descriptor.digest;
  const subject: Descriptor = { mediaType: target.descriptor.mediaType, digest, size: target.descriptor.size };
  if (!opts.resign) {
    const own = await findOwnSignature(store, digest, format, key, format === "bundle" ? undefined : opts.annotations);
    if (own) return { reference: target.reference, digest, format, tag: own.tag, signature: own.signature, existing: true };
  }

  if (format === "bundle") {
    const statement = inTotoStatement(digest);
    const sig = signData(key, pae(SignMediaType.InToto, statement));
    const bundle = sigstoreBundle(SignMediaType.InToto, statement, sig, publicKeyHint(key.publicKey));
    const img = bundleImage(bundle, subject, opts.created ?? nowRfc3339());
    await storeImage(store, img);
    await addReferrers(store, digest, [{ ...img.manifest.descriptor, annotations: img.annotations ?? {} }], [SignMediaType.BundleV03]);
    return { reference: target.reference, digest, format, tag: referrersTag(digest), signature: img.manifest.descriptor, existing: false };
  }

  const payload = simpleSigningPayload(target.dockerReference, digest, opts.annotations);
  const sig = signData(key, payload);
  if (format === "legacy") {
    const img = simpleSigningImage(payload, sig);
    await storeImage(store, img);
    const tag = cosignSignatureTag(digest);
    await store.tagExact(img.manifest.descriptor, tag);
    return { reference: target.reference, digest, format, tag, signature: img.manifest.descriptor, existing: false };
  }
  const img = simpleSigningImage(payload, sig, subject);
  await storeImage(store, img);
  await addReferrers(store, digest, [img.manifest.descriptor], [SignMediaType.ArtifactSig]);
  return { reference: target.reference, digest, format, tag: referrersTag(digest), signature: img.manifest.descriptor, existing: false };
}
