/**
 * Signing and verification keys with node:crypto: PEM ECDSA (P-256; P-384/P-521 too, always
 * hashed with SHA-256 as cosign and ig do), RSA (PKCS#1 v1.5, SHA-256) and Ed25519 (pure).
 * Private keys: PKCS#8, SEC1 (`EC PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`), and password-encrypted
 * PKCS#8 (`ENCRYPTED PRIVATE KEY`). cosign's own encrypted format (`ENCRYPTED SIGSTORE PRIVATE
 * KEY`: scrypt + NaCl secretbox) is recognised and refused with a way out: node:crypto has no
 * XSalsa20-Poly1305 and no dependency here provides it.
 */
import { constants, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { GadgetError, type ErrorCode } from "../errors.js";

export type KeyType = "ecdsa" | "rsa" | "ed25519";
export const KEY_TYPES: readonly KeyType[] = ["ecdsa", "rsa", "ed25519"];

export interface SigningKey {
  type: KeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Where it came from (file path), for messages. */
  source: string;
}

export interface PublicKey {
  type: KeyType;
  key: KeyObject;
  /** File path, or "public key #N" for inline PEM. */
  source: string;
}

const EC_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);
const MIN_RSA_BITS = 2048;

function keyError(what: string, which: string, why: string, hint?: string, code: ErrorCode = "BAD_KEY"): GadgetError {
  return new GadgetError({ what, which, why, hint, code });
}

/** The PEM block labels in a text, in order. */
export function pemLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!);
}

function pemBlock(text: string, label: string): string | undefined {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`);
  return re.exec(text)?.[0];
}

/** The kind of a loaded key, or an error naming what it is when we cannot sign/verify with it. */
export function keyTypeOf(key: KeyObject, which: string, what: string): KeyType {
  const t = key.asymmetricKeyType;
  if (t === "ed25519") return "ed25519";
  if (t === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw keyError(what, which, `RSA key of ${bits} bits is too small (at least ${MIN_RSA_BITS})`);
    return "rsa";
  }
  if (t === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? "unknown";
    if (!EC_CURVES.has(curve)) throw keyError(what, which, `unsupported ECDSA curve ${curve}`, "use a P-256 key (`gadget image keygen`)");
    return "ecdsa";
  }
  throw keyError(what, which, `unsupported key type ${t ?? "unknown"}`, "use an ECDSA P-256, RSA or Ed25519 key (`gadget image keygen`)");
}

export interface LoadKeyOptions {
  /** Password for an encrypted key: COSIGN_PASSWORD or a prompt. Undefined when none can be had. */
  password?: () => Promise<string | undefined>;
}

/** Parse a PEM private key (text already read from `source`). */
export async function parsePrivateKey(text: string, source: string, opts: LoadKeyOptions = {}): Promise<SigningKey> {
  const what = "loading signing key";
  const labels = pemLabels(text);
  if (labels.some((l) => l === "ENCRYPTED SIGSTORE PRIVATE KEY" || l === "ENCRYPTED COSIGN PRIVATE KEY")) {
    throw keyError(
      what,
      source,
      "cosign-encrypted keys (ENCRYPTED SIGSTORE PRIVATE KEY: scrypt + NaCl secretbox) are not supported",
      "sign with a PEM key (`gadget image keygen` writes one; `cosign import-key-pair --key KEY.pem` makes cosign use the same key)",
      "UNSUPPORTED_KEY",
    );
  }
  const label = labels.find((l) => /PRIVATE KEY$/.test(l));
  if (!label) {
    if (labels.includes("PUBLIC KEY") || labels.includes("CERTIFICATE")) {
      throw keyError(what, source, `this is a ${labels.includes("PUBLIC KEY") ? "public key" : "certificate"}, not a private key`, "--key takes the private key (e.g. cosign.key); the public key goes to `gadget image verify --public-keys`", "WRONG_KEY_TYPE");
    }
    throw keyError(what, source, labels.length ? `unsupported PEM block ${labels[0]}` : "not a PEM private key", "use a PEM ECDSA P-256, RSA or Ed25519 private key (`gadget image keygen`)");
  }
  const pem = pemBlock(text, label) ?? text;
  const encrypted = label === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(pem);
  let privateKey: KeyObject;
  if (encrypted) {
    const password = await opts.password?.();
    if (password === undefined) {
      throw keyError(what, source, "the key is encrypted and no password was given", "set COSIGN_PASSWORD (or run on a terminal to be prompted)", "PASSWORD_REQUIRED");
    }
    try {
      privateKey = createPrivateKey({ key: pem, format: "pem", passphrase: password });
    } catch {
      throw keyError(what, source, "wrong password (could not decrypt the key)", "check COSIGN_PASSWORD", "BAD_PASSWORD");
    }
  } else {
    try {
      privateKey = createPrivateKey({ key: pem, format: "pem" });
    } catch (e) {
      throw keyError(what, source, `cannot parse the ${label}: ${firstLine(e)}`);
    }
  }
  const type = keyTypeOf(privateKey, source, what);
  return { type, privateKey, publicKey: createPublicKey(privateKey), source };
}

/** Parse one PEM public key (a `PUBLIC KEY` block, as cosign and ig use). */
export function parsePublicKey(text: string, source: string): PublicKey {
  const what = "loading public key";
  const labels = pemLabels(text);
  if (!labels.includes("PUBLIC KEY")) {
    if (labels.some((l) => /PRIVATE KEY$/.test(l))) {
      throw keyError(what, source, "this is a private key, not a public key", "pass the .pub file (e.g. cosign.pub)", "WRONG_KEY_TYPE");
    }
    throw keyError(what, source, labels.length ? `expected a PEM PUBLIC KEY block, found ${labels[0]}` : "not a PEM public key", "pass a PEM public key such as cosign.pub");
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pemBlock(text, "PUBLIC KEY")!, format: "pem" });
  } catch (e) {
    throw keyError(what, source, `cannot parse the PUBLIC KEY: ${firstLine(e)}`);
  }
  return { type: keyTypeOf(key, source, what), key, source };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0]!;
}

/** Sign data as cosign does: ECDSA/SHA-256 (ASN.1 DER), RSA PKCS#1 v1.5/SHA-256, Ed25519 (pure). */
export function signData(key: SigningKey, data: Uint8Array): Buffer {
  switch (key.type) {
    case "ed25519":
      return sign(null, data, key.privateKey);
    case "rsa":
      return sign("sha256", data, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING });
    case "ecdsa":
      return sign("sha256", data, { key: key.privateKey, dsaEncoding: "der" });
  }
}

/** Verify as sigstore's LoadVerifier(pub, SHA256) does. Never throws: malformed → false. */
export function verifyData(pub: PublicKey, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    switch (pub.type) {
      case "ed25519":
        return verify(null, data, pub.key, signature);
      case "rsa":
        return verify("sha256", data, { key: pub.key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case "ecdsa":
        return verify("sha256", data, { key: pub.key, dsaEncoding: "der" }, signature);
    }
  } catch {
    return false;
  }
}

/** sigstore's public-key hint: base64(SHA-256(DER SubjectPublicKeyInfo)). */
export function publicKeyHint(pub: KeyObject): string {
  return createHash("sha256").update(pub.export({ type: "spki", format: "der" })).digest("base64");
}

export function publicKeyPem(pub: KeyObject): string {
  return pub.export({ type: "spki", format: "pem" }).toString();
}

/** A fresh key pair as PEM: PKCS#8 private (encrypted with AES-256-CBC when a password is given), SPKI public. */
export function generateKeyPairPem(type: KeyType, password?: string): { privatePem: string; publicPem: string } {
  const pair =
    type === "ecdsa"
      ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
      : type === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: 3072 })
        : generateKeyPairSync("ed25519");
  const privatePem = password
    ? pair.privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: password }).toString()
    : pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { privatePem, publicPem: publicKeyPem(pair.publicKey) };
}
