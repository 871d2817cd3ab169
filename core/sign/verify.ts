/**
 * `gadget image verify`: check an image's signatures offline, in any of cosign's three layouts,
 * against its index digest, with any of the given public keys. As ig does, the signature is
 * checked before the payload is read, then the payload must name this image's digest.
 * Messages follow ig: `the image was not signed by the provided keys`,
 * `payload digest does not correspond to image: expected …, got …`.
 */
import { GadgetError, type ErrorCode } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { parseManifest, type Manifest } from "../oci/model.js";
import { refNameOf, type LayoutStore } from "../store/layout-store.js";
import { COSIGN_SIGNATURE_TYPE, cosignSignatureTag, SIGNATURE_ANNOTATION, SignMediaType, type SignatureFormat } from "./constants.js";
import { verifyData, type PublicKey } from "./keys.js";
import { pae, parseSimpleSigning, statementSubjectDigests } from "./payload.js";
import { findReferrers } from "./related.js";
import { resolveSignable } from "./sign.js";

/** What one stored signature claims: the signed bytes, the signature, and how to read the payload. */
export interface SignatureCandidate {
  format: SignatureFormat;
  /** Where it was found (tag or manifest digest), for messages. */
  source: string;
  signature: Buffer;
  /** The exact bytes the signature covers (the payload, or the DSSE PAE). */
  signed: Buffer;
  /** The payload: simple-signing JSON or an in-toto statement. */
  payload: Buffer;
}

export interface VerifyResult {
  reference: string;
  digest: Digest;
  format: SignatureFormat;
  /** Which key verified it (file path or "public key #N"). */
  key: string;
}

type Check = { ok: true } | { ok: false; why: string; got?: string };

/** ig's payload check for a simple-signing payload. */
export function checkSimpleSigningPayload(payload: Uint8Array, digest: Digest): Check {
  let p;
  try {
    p = parseSimpleSigning(payload);
  } catch (e) {
    return { ok: false, why: `unmarshalling payload: ${(e as Error).message}` };
  }
  if (p.type !== COSIGN_SIGNATURE_TYPE) return { ok: false, why: `unexpected critical type: expected ${JSON.stringify(COSIGN_SIGNATURE_TYPE)}, got ${JSON.stringify(p.type)}` };
  if (p.digest !== digest) return { ok: false, why: `payload digest does not correspond to image: expected ${digest}, got ${p.digest}`, got: p.digest };
  return { ok: true };
}

/** ig's payload check for an in-toto statement: the first subject must name the digest. */
export function checkStatementPayload(payload: Uint8Array, digest: Digest): Check {
  let subjects: string[][];
  try {
    subjects = statementSubjectDigests(payload);
  } catch (e) {
    return { ok: false, why: `unmarshalling payload: ${(e as Error).message}` };
  }
  const first = subjects[0];
  if (first === undefined) return { ok: false, why: "payload has no subject" };
  if (first.includes(digest)) return { ok: true };
  return { ok: false, why: `payload digest does not correspond to image: expected ${digest}, got ${first.join(", ") || "no digest"}`, got: first[0] ?? "" };
}

function simpleSigningCandidate(format: SignatureFormat, source: string, manifest: Manifest): { layer: Manifest["layers"][number]; signature: Buffer } {
  if (manifest.layers.length !== 1) throw new Error(`wrong number of signature manifest layers: expected 1, got ${manifest.layers.length}`);
  const layer = manifest.layers[0]!;
  if (layer.mediaType !== SignMediaType.SimpleSigning) throw new Error(`wrong payload media type: expected ${SignMediaType.SimpleSigning}, got ${layer.mediaType}`);
  const sig = layer.annotations?.[SIGNATURE_ANNOTATION];
  if (!sig) throw new Error(`no ${SIGNATURE_ANNOTATION} annotation in ${format} signature ${source}`);
  return { layer, signature: Buffer.from(sig, "base64") };
}

/** Every signature the store holds for `digest`, in ig's order (legacy, bundle, oci11); malformed ones as errors. */
export async function loadCandidates(store: LayoutStore, digest: Digest): Promise<{ candidates: SignatureCandidate[]; problems: string[] }> {
  const candidates: SignatureCandidate[] = [];
  const problems: string[] = [];
  const entries = await store.entries();

  const legacyTag = cosignSignatureTag(digest);
  const legacy = entries.find((e) => refNameOf(e) === legacyTag);
  if (legacy) {
    try {
      const m = parseManifest(await store.fetchBytes(legacy), legacyTag);
      const { layer, signature } = simpleSigningCandidate("legacy", legacyTag, m);
      const payload = await store.fetchBytes(layer);
      candidates.push({ format: "legacy", source: legacyTag, signature, signed: payload, payload });
    } catch (e) {
      problems.push(`legacy signature ${legacyTag}: ${(e as Error).message}`);
    }
  }

  const referrers = await findReferrers(store, digest);
  for (const r of referrers.filter((x) => x.artifactType === SignMediaType.BundleV03)) {
    try {
      const layer = r.manifest.layers.find((l) => l.mediaType === SignMediaType.BundleV03);
      if (!layer) throw new Error("no bundle layer");
      const bundle = JSON.parse((await store.fetchBytes(layer)).toString("utf8")) as {
        dsseEnvelope?: { payload?: string; payloadType?: string; signatures?: { sig?: string }[] };
      };
      const env = bundle.dsseEnvelope;
      if (!env) throw new Error("DSSE envelope not found in bundle");
      const sigs = env.signatures ?? [];
      if (sigs.length !== 1) throw new Error(`wrong number of signatures: expected 1, got ${sigs.length}`);
      const payload = Buffer.from(env.payload ?? "", "base64");
      candidates.push({
        format: "bundle",
        source: r.descriptor.digest,
        signature: Buffer.from(sigs[0]!.sig ?? "", "base64"),
        signed: pae(env.payloadType ?? "", payload),
        payload,
      });
    } catch (e) {
      problems.push(`bundle ${r.descriptor.digest}: ${(e as Error).message}`);
    }
  }
  for (const r of referrers.filter((x) => x.artifactType === SignMediaType.ArtifactSig)) {
    try {
      const { layer, signature } = simpleSigningCandidate("oci11", r.descriptor.digest, r.manifest);
      const payload = await store.fetchBytes(layer);
      candidates.push({ format: "oci11", source: r.descriptor.digest, signature, signed: payload, payload });
    } catch (e) {
      problems.push(`oci11 signature ${r.descriptor.digest}: ${(e as Error).message}`);
    }
  }
  return { candidates, problems };
}

/** Verify candidates against keys: the first that verifies and names the digest wins. */
export function verifyCandidates(candidates: SignatureCandidate[], digest: Digest, keys: PublicKey[]): { ok: true; format: SignatureFormat; key: string } | { ok: false; mismatch?: string; malformed?: string } {
  let mismatch: string | undefined;
  let malformed: string | undefined;
  for (const c of candidates) {
    const key = keys.find((k) => verifyData(k, c.signed, c.signature));
    if (!key) continue;
    const check = c.format === "bundle" ? checkStatementPayload(c.payload, digest) : checkSimpleSigningPayload(c.payload, digest);
    if (check.ok) return { ok: true, format: c.format, key: key.source };
    if (check.got !== undefined) mismatch ??= check.why;
    else malformed ??= check.why;
  }
  return { ok: false, mismatch, malformed };
}

export async function verifyImage(store: LayoutStore, reference: string, keys: PublicKey[]): Promise<VerifyResult> {
  if (keys.length === 0) {
    throw new GadgetError({ what: "verifying image", which: reference, why: "no public keys given", hint: "pass --public-keys cosign.pub", exitCode: 2, code: "USAGE" });
  }
  const target = await resolveSignable(store, reference);
  const digest = target.descriptor.digest;
  const fail = (why: string, hint?: string, code: ErrorCode = "NOT_VERIFIED") => new GadgetError({ what: "verifying image", which: target.reference, why, hint, code });
  const { candidates, problems } = await loadCandidates(store, digest);
  if (candidates.length === 0) {
    if (problems.length > 0) throw fail(`getting signing information: ${problems.join("; ")}`, undefined, "BAD_SIGNATURE");
    throw fail(
      `no signature found for ${digest} (no ${cosignSignatureTag(digest)} tag and no signature referrers)`,
      "sign it with `gadget image sign IMAGE --key KEY`, or pull it again so its signatures come along",
      "NO_SIGNATURE",
    );
  }
  const r = verifyCandidates(candidates, digest, keys);
  if (r.ok) return { reference: target.reference, digest, format: r.format, key: r.key };
  if (r.mismatch) throw fail(r.mismatch, undefined, "DIGEST_MISMATCH");
  if (r.malformed) throw fail(`checking payload image: ${r.malformed}`, undefined, "BAD_SIGNATURE");
  throw fail("the image was not signed by the provided keys", undefined, "NOT_SIGNED_BY_KEYS");
}
