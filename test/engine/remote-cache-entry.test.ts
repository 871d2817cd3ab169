/** The remote cache's entry format (remote-cache-entry.ts) and its configuration (remote-cache-config.ts): pure functions. */
import { describe, expect, it } from "vitest";
import { createHash, generateKeyPairSync } from "node:crypto";
import {
  CACHE_ARTIFACT_TYPE,
  CACHE_CONFIG_TYPE,
  CACHE_OUTPUT_TYPE,
  CACHE_STORE_BLOB_TYPE,
  checkSignaturePayload,
  decodeConfig,
  decodeManifest,
  embeddedBytes,
  encodeEntry,
  entryTag,
  EntryRejected,
  hasBadEmbedding,
  INLINE_MAX,
  KEY_ANNOTATION,
  keyOfTag,
  signaturePayload,
  type EntryConfig,
} from "../../core/engine/remote-cache-entry.js";
import { resolveRemoteCache } from "../../core/engine/remote-cache-config.js";
import { isOlder } from "../../core/engine/remote-cache-list.js";
import { isSignatureTagName } from "../../core/sign/constants.js";
import { signData, verifyData, type SigningKey } from "../../core/sign/keys.js";
import type { Digest } from "../../core/oci/digest.js";

const sha = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}` as Digest;
const KEY = "a".repeat(64);
const OTHER = "b".repeat(64);

const small = Buffer.from("small output");
const big = Buffer.alloc(INLINE_MAX + 1, 7);
const storeIndex = Buffer.from('{"schemaVersion":2}');

function config(over: Partial<EntryConfig> = {}): EntryConfig {
  return {
    v: 1,
    key: KEY,
    stage: { name: "clang", version: "3" },
    outputs: [
      { name: "object", digest: sha(small), size: small.byteLength },
      { name: "big", digest: sha(big), size: big.byteLength },
    ],
    annotations: { a: "b" },
    result: { digest: sha(storeIndex) },
    discovered: { "include/common.h": "c".repeat(64), "/usr/include/linux/bpf.h": "d".repeat(64) },
    storeBlobs: [
      { mediaType: "application/vnd.oci.image.index.v1+json", digest: sha(storeIndex), size: storeIndex.byteLength },
      { mediaType: "application/octet-stream", digest: sha(small), size: small.byteLength }, // also an output
    ],
    ...over,
  };
}

const content = new Map<string, Uint8Array>([
  [sha(small), small],
  [sha(storeIndex), storeIndex],
  [sha(big), big],
]);

describe("entry tags", () => {
  it("are step-sha256-<key>: valid tag grammar, ≤ 128 characters, never a signature or referrers tag", () => {
    const t = entryTag(KEY);
    expect(t).toBe(`step-sha256-${KEY}`);
    expect(t.length).toBeLessThanOrEqual(128);
    expect(t).toMatch(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/);
    expect(isSignatureTagName(t)).toBe(false);
    expect(keyOfTag(t)).toBe(KEY);
    expect(keyOfTag(`sha256-${KEY}`)).toBeUndefined();
    expect(keyOfTag("latest")).toBeUndefined();
    expect(() => entryTag("not-a-key")).toThrow();
  });
});

describe("encodeEntry / decodeManifest / decodeConfig", () => {
  const created = "2026-01-02T03:04:05Z";

  it("writes our artifact type, the key and creation time, one layer per output then the store blobs not already outputs", () => {
    const e = encodeEntry(config(), { created, content });
    const m = JSON.parse(e.manifest.bytes.toString()) as { artifactType: string; config: { mediaType: string; data?: string }; layers: { mediaType: string; digest: string; annotations: Record<string, string>; data?: string }[]; annotations: Record<string, string> };
    expect(m.artifactType).toBe(CACHE_ARTIFACT_TYPE);
    expect(m.annotations).toEqual({ [KEY_ANNOTATION]: KEY, "org.opencontainers.image.created": created });
    expect(m.config.mediaType).toBe(CACHE_CONFIG_TYPE);
    expect(m.layers.map((l) => [l.mediaType, l.digest])).toEqual([
      [CACHE_OUTPUT_TYPE, sha(small)],
      [CACHE_OUTPUT_TYPE, sha(big)],
      [CACHE_STORE_BLOB_TYPE, sha(storeIndex)],
    ]);
    expect(m.layers[0]!.annotations["dev.gadget.cache.output"]).toBe("object");
    expect(m.layers[2]!.annotations["dev.gadget.cache.media-type"]).toBe("application/vnd.oci.image.index.v1+json");
    expect(e.manifest.descriptor.digest).toBe(sha(e.manifest.bytes));
    expect(e.tag).toBe(entryTag(KEY));
  });

  it("embeds small blobs and the config (verified before use), not large ones; inline: false embeds nothing", () => {
    const e = encodeEntry(config(), { created, content });
    const d = decodeManifest(e.manifest.bytes, KEY);
    expect(embeddedBytes(d.config)?.equals(e.config.bytes)).toBe(true);
    expect(embeddedBytes(d.layers[0]!)?.equals(small)).toBe(true);
    expect(d.layers[1]!.data).toBeUndefined();
    expect(embeddedBytes(d.layers[2]!)?.equals(storeIndex)).toBe(true);
    const plain = decodeManifest(encodeEntry(config(), { created, content, inline: false }).manifest.bytes, KEY);
    expect([plain.config, ...plain.layers].every((x) => x.data === undefined)).toBe(true);
  });

  it("round-trips the config", () => {
    const e = encodeEntry(config(), { created, content });
    const d = decodeManifest(e.manifest.bytes, KEY);
    expect(d.created).toBe(created);
    expect(decodeConfig(embeddedBytes(d.config)!, KEY, d.layers)).toEqual(config());
  });

  it("an entry whose annotation names another key is rejected as `another-key`", () => {
    const e = encodeEntry(config(), { created, content });
    const err = (() => {
      try {
        decodeManifest(e.manifest.bytes, OTHER);
      } catch (x) {
        return x;
      }
    })();
    expect(err).toBeInstanceOf(EntryRejected);
    expect((err as EntryRejected).kind).toBe("another-key");
  });

  it("a config naming another key is rejected as `another-key`, even under a matching annotation", () => {
    const e = encodeEntry(config({ key: OTHER }), { created, content });
    const m = JSON.parse(e.manifest.bytes.toString()) as { annotations: Record<string, string> };
    m.annotations[KEY_ANNOTATION] = KEY;
    const d = decodeManifest(Buffer.from(JSON.stringify(m)), KEY);
    expect(() => decodeConfig(embeddedBytes(d.config)!, KEY, d.layers)).toThrow(/names key/);
  });

  it("tampered embedded data is detected; other damage is `corrupt`", () => {
    const e = encodeEntry(config(), { created, content });
    const m = JSON.parse(e.manifest.bytes.toString()) as { layers: { data?: string }[]; artifactType?: string };
    const b = Buffer.from(m.layers[0]!.data!, "base64");
    b[0] = b[0]! ^ 1;
    m.layers[0]!.data = b.toString("base64");
    const d = decodeManifest(Buffer.from(JSON.stringify(m)), KEY);
    expect(hasBadEmbedding(d.layers[0]!)).toBe(true);
    expect(embeddedBytes(d.layers[0]!)).toBeUndefined();
    expect(hasBadEmbedding(d.layers[1]!)).toBe(false);
    delete m.artifactType;
    expect(() => decodeManifest(Buffer.from(JSON.stringify(m)), KEY)).toThrow(/not a gadget cache entry/);
    expect(() => decodeManifest(Buffer.from("{"), KEY)).toThrow(EntryRejected);
    // a config whose outputs are not the manifest's layers
    const d2 = decodeManifest(e.manifest.bytes, KEY);
    expect(() => decodeConfig(embeddedBytes(d2.config)!, KEY, d2.layers.slice(1))).toThrow(/not a layer/);
  });
});

describe("signature payload", () => {
  const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const key: SigningKey = { type: "ecdsa", privateKey: pair.privateKey, publicKey: pair.publicKey, source: "test" };
  const digest = sha("manifest");

  it("binds the manifest digest to the key (cosign simple signing, the key in `optional`)", () => {
    const p = signaturePayload("127.0.0.1:5000/cache", digest, KEY);
    expect(JSON.parse(p.toString())).toMatchObject({ critical: { image: { "docker-manifest-digest": digest }, type: "cosign container image signature" }, optional: { [KEY_ANNOTATION]: KEY } });
    const sig = signData(key, p);
    expect(verifyData({ type: "ecdsa", key: pair.publicKey, source: "pub" }, p, sig)).toBe(true);
    expect(checkSignaturePayload(p, digest, KEY)).toBe(true);
    expect(checkSignaturePayload(p, digest, OTHER)).toBe(false);
    expect(checkSignaturePayload(p, sha("another manifest"), KEY)).toBe(false);
    expect(checkSignaturePayload(Buffer.from("not json"), digest, KEY)).toBe(false);
  });
});

describe("resolveRemoteCache", () => {
  const base = { baseDir: "/repo" };
  it("--remote-cache beats GADGET_REMOTE_CACHE beats the gadgetfile; off disables", () => {
    const g = { remote: "ghcr.io/acme/from-file", readOnly: false };
    expect(resolveRemoteCache({ ...base, env: {}, gadgetfile: g })?.reference).toBe("ghcr.io/acme/from-file");
    expect(resolveRemoteCache({ ...base, env: { GADGET_REMOTE_CACHE: "ghcr.io/acme/from-env" }, gadgetfile: g })?.reference).toBe("ghcr.io/acme/from-env");
    expect(resolveRemoteCache({ ...base, flag: "127.0.0.1:5000/flag", env: { GADGET_REMOTE_CACHE: "ghcr.io/acme/from-env" }, gadgetfile: g })).toMatchObject({ reference: "127.0.0.1:5000/flag", registry: "127.0.0.1:5000", repository: "flag", source: "--remote-cache" });
    expect(resolveRemoteCache({ ...base, flag: "off", env: { GADGET_REMOTE_CACHE: "ghcr.io/acme/from-env" }, gadgetfile: g })).toBeUndefined();
    expect(resolveRemoteCache({ ...base, env: { GADGET_REMOTE_CACHE: "off" }, gadgetfile: g })).toBeUndefined();
    expect(resolveRemoteCache({ ...base, env: {} })).toBeUndefined();
  });

  it("read-only from the flag, GADGET_REMOTE_CACHE_READ_ONLY=1 or the gadgetfile; keys, timeout and inlining", () => {
    const flag = "ghcr.io/acme/c";
    expect(resolveRemoteCache({ ...base, flag, env: {} })!.readOnly).toBe(false);
    expect(resolveRemoteCache({ ...base, flag, flagReadOnly: true, env: {} })!.readOnly).toBe(true);
    expect(resolveRemoteCache({ ...base, flag, env: { GADGET_REMOTE_CACHE_READ_ONLY: "1" } })!.readOnly).toBe(true);
    expect(resolveRemoteCache({ ...base, flag, env: {}, gadgetfile: { readOnly: true } })!.readOnly).toBe(true);
    const s = resolveRemoteCache({ ...base, flag, env: { GADGET_REMOTE_CACHE_TIMEOUT: "500ms", GADGET_REMOTE_CACHE_INLINE: "0" }, gadgetfile: { publicKeys: ["k.pub"], signKey: "env://K" } })!;
    expect(s).toMatchObject({ idleMs: 500, inline: false, publicKeys: ["k.pub"], signKey: "env://K" });
    expect(resolveRemoteCache({ ...base, flag, env: {} })).toMatchObject({ idleMs: 5000, inline: true });
  });

  it("a reference with a tag or digest, or a bad timeout, is a usage error naming where it came from", () => {
    expect(() => resolveRemoteCache({ ...base, flag: "ghcr.io/acme/c:v1", env: {} })).toThrow(/--remote-cache.*names a tag/);
    expect(() => resolveRemoteCache({ ...base, env: {}, gadgetfile: { remote: "Bad Name" } })).toThrow(/cache\.remote/);
    expect(() => resolveRemoteCache({ ...base, flag: "ghcr.io/acme/c", env: { GADGET_REMOTE_CACHE_TIMEOUT: "soon" } })).toThrow(/GADGET_REMOTE_CACHE_TIMEOUT/);
  });
});

describe("isOlder (prune --remote --older-than)", () => {
  const now = Date.parse("2026-01-10T00:00:00Z");
  it("compares the created annotation; an entry without one counts as old", () => {
    expect(isOlder("2026-01-01T00:00:00Z", 7 * 86_400_000, now)).toBe(true);
    expect(isOlder("2026-01-09T00:00:00Z", 7 * 86_400_000, now)).toBe(false);
    expect(isOlder(undefined, 7 * 86_400_000, now)).toBe(true);
    expect(isOlder("2026-01-10T00:00:00Z", 0, now)).toBe(true);
  });
});
