/** The signed bytes, pinned: cosign's simple-signing JSON, the in-toto statement, DSSE's PAE. */
import { describe, expect, it } from "vitest";
import { inTotoStatement, pae, parseSimpleSigning, simpleSigningPayload, statementSubjectDigests } from "../../core/sign/payload.js";
import { checkSimpleSigningPayload, checkStatementPayload } from "../../core/sign/verify.js";
import { publicKeyHint } from "../../core/sign/keys.js";
import { createPublicKey } from "node:crypto";
import { execFileSync } from "node:child_process";

const D = "sha256:2f096beb75baadce98f52500552f1d7eabf19f4c35007869350d6f496084e992" as const;
const E = "sha256:0000000000000000000000000000000000000000000000000000000000000000" as const;

describe("payloads", () => {
  it("simple signing: Go's encoding/json of SimpleContainerImage, optional null or a sorted, HTML-escaped map", () => {
    expect(simpleSigningPayload("ttl.sh/signed", D).toString()).toBe(
      `{"critical":{"identity":{"docker-reference":"ttl.sh/signed"},"image":{"docker-manifest-digest":"${D}"},"type":"cosign container image signature"},"optional":null}`,
    );
    expect(simpleSigningPayload("r/x", D, { z: "1", a: "<b>&" }).toString()).toMatch(/,"optional":\{"a":"\\u003cb\\u003e\\u0026","z":"1"\}\}$/);
    const p = parseSimpleSigning(simpleSigningPayload("r/x", D));
    expect(p).toEqual({ type: "cosign container image signature", dockerReference: "r/x", digest: D, optional: null });
  });

  it("payload checks follow ig's messages", () => {
    expect(checkSimpleSigningPayload(simpleSigningPayload("r/x", D), D)).toEqual({ ok: true });
    expect(checkSimpleSigningPayload(simpleSigningPayload("r/x", D), E)).toEqual({ ok: false, why: `payload digest does not correspond to image: expected ${E}, got ${D}`, got: D });
    const wrongType = Buffer.from(simpleSigningPayload("r/x", D).toString().replace("cosign container image signature", "atomic container signature"));
    expect(checkSimpleSigningPayload(wrongType, D)).toEqual({ ok: false, why: 'unexpected critical type: expected "cosign container image signature", got "atomic container signature"' });
    expect(checkSimpleSigningPayload(Buffer.from("{nope"), D).ok).toBe(false);
    expect(checkStatementPayload(inTotoStatement(D), D)).toEqual({ ok: true });
    expect(checkStatementPayload(inTotoStatement(D), E)).toMatchObject({ ok: false, why: `payload digest does not correspond to image: expected ${E}, got ${D}` });
    expect(checkStatementPayload(Buffer.from('{"subject":[]}'), D)).toEqual({ ok: false, why: "payload has no subject" });
  });

  it("in-toto statement as cosign --new-bundle-format writes it", () => {
    expect(inTotoStatement(D).toString()).toBe(
      `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${D.slice(7)}"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1"}`,
    );
    expect(statementSubjectDigests(inTotoStatement(D))).toEqual([[D]]);
    // like ig, only the first subject counts
    const two = Buffer.from(`{"subject":[{"digest":{"sha256":"${E.slice(7)}"}},{"digest":{"sha256":"${D.slice(7)}"}}]}`);
    expect(checkStatementPayload(two, D)).toMatchObject({ ok: false, got: E });
  });

  it("DSSE v1 PAE (the spec's example) counts bytes, not characters", () => {
    expect(pae("http://example.com/HelloWorld", Buffer.from("hello world")).toString()).toBe("DSSEv1 29 http://example.com/HelloWorld 11 hello world");
    expect(pae("t", Buffer.from("é")).toString()).toBe("DSSEv1 1 t 2 é");
  });

  it("public-key hint is base64(SHA-256(SubjectPublicKeyInfo DER)), as sigstore bundles carry it", () => {
    const pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
    // computed independently with openssl: DER of the PEM, SHA-256, base64
    const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "DER"], { input: pem });
    const digest = execFileSync("openssl", ["dgst", "-sha256", "-binary"], { input: der });
    expect(publicKeyHint(createPublicKey(pem))).toBe(digest.toString("base64"));
  });
});
