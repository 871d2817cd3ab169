/**
 * Signing is idempotent (DESIGN §13): before signing, look for a signature of the same digest, in
 * the same format, that verifies with the signing key's public part and carries the same claims.
 * When there is one, signing again would only replace it (ECDSA signatures differ every time) and
 * leave the old one as garbage, so the signer keeps it instead.
 */
import type { Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/model.js";
import { refNameOf, type LayoutStore } from "../store/layout-store.js";
import { cosignSignatureTag, referrersTag, type SignatureFormat } from "./constants.js";
import type { SigningKey } from "./keys.js";
import { parseSimpleSigning } from "./payload.js";
import { findReferrers } from "./related.js";
import { loadCandidates, verifyCandidates } from "./verify.js";

export interface ExistingSignature {
  /** The tag it is listed under (`sha256-<hex>.sig`, or the referrers tag `sha256-<hex>`). */
  tag: string;
  /** The signature manifest. */
  signature: Descriptor;
}

function sameClaims(optional: Record<string, unknown> | null, wanted: Record<string, string> | undefined): boolean {
  const a = optional ?? {};
  const b = wanted ?? {};
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/** A valid signature of `digest` by `key` in `format` with these claims, already in the store. */
export async function findOwnSignature(store: LayoutStore, digest: Digest, format: SignatureFormat, key: SigningKey, annotations?: Record<string, string>): Promise<ExistingSignature | undefined> {
  const { candidates } = await loadCandidates(store, digest);
  const pub = [{ type: key.type, key: key.publicKey, source: key.source }];
  for (const c of candidates) {
    if (c.format !== format) continue;
    if (!verifyCandidates([c], digest, pub).ok) continue;
    if (format !== "bundle") {
      let claims;
      try {
        claims = parseSimpleSigning(c.payload).optional;
      } catch {
        continue;
      }
      if (!sameClaims(claims, annotations)) continue;
    }
    if (format === "legacy") {
      const tag = cosignSignatureTag(digest);
      const entry = (await store.entries()).find((e) => refNameOf(e) === tag);
      if (entry) return { tag, signature: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size } };
      continue;
    }
    const referrer = (await findReferrers(store, digest)).find((r) => r.descriptor.digest === c.source);
    if (referrer) return { tag: referrersTag(digest), signature: { mediaType: referrer.descriptor.mediaType, digest: referrer.descriptor.digest, size: referrer.descriptor.size } };
  }
  return undefined;
}
