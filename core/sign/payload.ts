/**
 * The signed bytes, written exactly as cosign writes them (Go's encoding/json: compact, struct
 * field order, `<>&` escaped):
 * - simple signing (sigstore `payload.Cosign` → `SimpleContainerImage`):
 *   `{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
 *   "type":"cosign container image signature"},"optional":null}`
 * - the in-toto statement cosign puts in a DSSE envelope for `--new-bundle-format`, and DSSE's
 *   pre-authentication encoding (PAE), which is what actually gets signed there.
 */
import { digestHex, type Digest } from "../oci/digest.js";
import { goString, goStringMap } from "../oci/gojson.js";
import { COSIGN_SIGNATURE_TYPE, COSIGN_SIGN_PREDICATE, IN_TOTO_STATEMENT_V1 } from "./constants.js";

/** cosign's simple-signing payload for `dockerReference@digest` (optional: `-a key=value` annotations). */
export function simpleSigningPayload(dockerReference: string, digest: Digest, optional?: Record<string, string>): Buffer {
  const opt = optional && Object.keys(optional).length > 0 ? goStringMap(optional) : "null";
  const json =
    `{"critical":{"identity":{"docker-reference":${goString(dockerReference)}},` +
    `"image":{"docker-manifest-digest":${goString(digest)}},` +
    `"type":${goString(COSIGN_SIGNATURE_TYPE)}},"optional":${opt}}`;
  return Buffer.from(json, "utf8");
}

export interface SimpleSigning {
  type: string;
  dockerReference: string;
  digest: string;
  optional: Record<string, unknown> | null;
}

/** Parse a simple-signing payload (only after its signature was verified). */
export function parseSimpleSigning(bytes: Uint8Array): SimpleSigning {
  const o = JSON.parse(Buffer.from(bytes).toString("utf8")) as {
    critical?: { identity?: { "docker-reference"?: unknown }; image?: { "docker-manifest-digest"?: unknown }; type?: unknown };
    optional?: unknown;
  };
  const c = o?.critical ?? {};
  return {
    type: typeof c.type === "string" ? c.type : "",
    dockerReference: typeof c.identity?.["docker-reference"] === "string" ? c.identity["docker-reference"] : "",
    digest: typeof c.image?.["docker-manifest-digest"] === "string" ? c.image["docker-manifest-digest"] : "",
    optional: o?.optional && typeof o.optional === "object" ? (o.optional as Record<string, unknown>) : null,
  };
}

/** The in-toto statement cosign signs in a bundle: the subject is the image digest. */
export function inTotoStatement(digest: Digest): Buffer {
  const algo = digest.slice(0, digest.indexOf(":"));
  const json =
    `{"_type":${goString(IN_TOTO_STATEMENT_V1)},` +
    `"subject":[{"digest":{${goString(algo)}:${goString(digestHex(digest))}}}],` +
    `"predicateType":${goString(COSIGN_SIGN_PREDICATE)}}`;
  return Buffer.from(json, "utf8");
}

/**
 * Digests (`sha256:<hex>` form) an in-toto statement's subjects name, one list per subject.
 * ig checks only the first subject.
 */
export function statementSubjectDigests(bytes: Uint8Array): string[][] {
  const o = JSON.parse(Buffer.from(bytes).toString("utf8")) as { subject?: { digest?: Record<string, unknown> }[] };
  return (Array.isArray(o?.subject) ? o.subject : []).map((s) => Object.entries(s?.digest ?? {}).map(([algo, hex]) => `${algo}:${String(hex)}`));
}

/** DSSE v1 pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.byteLength} `, "utf8"),
    type,
    Buffer.from(` ${payload.byteLength} `, "utf8"),
    Buffer.from(payload),
  ]);
}
