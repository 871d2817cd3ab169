/** Sign → verify with every key type and every format; tampering, other images and wrong keys fail as ig says. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { LayoutStore, refNameOf } from "../../core/store/layout-store.js";
import { sha256, type Digest } from "../../core/oci/digest.js";
import { parseIndex, parseManifest, type Descriptor } from "../../core/oci/model.js";
import { cosignSignatureTag, referrersTag, SIGNATURE_ANNOTATION, SignMediaType, type SignatureFormat } from "../../core/sign/constants.js";
import { loadPublicKeys, loadSigningKeyFile } from "../../core/sign/key-files.js";
import { signImage } from "../../core/sign/sign.js";
import { verifyImage } from "../../core/sign/verify.js";
import { signatureArtifacts } from "../../core/sign/related.js";
import { ggcrManifest } from "../../core/sign/manifests.js";
import type { KeyType } from "../../core/sign/keys.js";
import { tempDir } from "../helpers/cli.js";
import { makeImage, writeKeys, type KeyFiles } from "./fixtures.js";

const noPassword = async () => undefined;
const TYPES: KeyType[] = ["ecdsa", "rsa", "ed25519"];
const FORMATS: SignatureFormat[] = ["legacy", "oci11", "bundle"];

let tmp: { dir: string; cleanup: () => Promise<void> };
const keys = new Map<KeyType, KeyFiles>();
let other: KeyFiles;

beforeAll(async () => {
  tmp = await tempDir("gadget-sign-");
  for (const t of TYPES) keys.set(t, await writeKeys(tmp.dir, t));
  other = await writeKeys(tmp.dir, "ecdsa", "other");
});
afterAll(() => tmp.cleanup());

async function freshStore(name: string): Promise<LayoutStore> {
  return LayoutStore.open(`${tmp.dir}/${name}`);
}

async function sign(store: LayoutStore, ref: string, type: KeyType, format: SignatureFormat) {
  return signImage(store, ref, await loadSigningKeyFile(keys.get(type)!.key, noPassword), { format });
}

async function pubs(...files: string[]) {
  return loadPublicKeys(files, tmp.dir);
}

async function verifyError(store: LayoutStore, ref: string, pubFiles: string[]): Promise<string> {
  try {
    await verifyImage(store, ref, await pubs(...pubFiles));
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("verification unexpectedly succeeded");
}

describe.each(TYPES)("%s key", (type) => {
  it.each(FORMATS)("signs and verifies the index digest (%s)", async (format) => {
    const store = await freshStore(`ok-${type}-${format}`);
    const desc = await makeImage(store, "localhost:5000/gadgets/trace:v1", `${type}-${format}`);
    const r = await sign(store, "localhost:5000/gadgets/trace:v1", type, format);
    expect(r.digest).toBe(desc.digest);
    expect(r.tag).toBe(format === "legacy" ? cosignSignatureTag(desc.digest) : referrersTag(desc.digest));
    const v = await verifyImage(store, "localhost:5000/gadgets/trace:v1", await pubs(keys.get(type)!.pub));
    expect(v).toMatchObject({ digest: desc.digest, format, key: keys.get(type)!.pub });
    // any of several keys: the right one listed second still verifies
    const v2 = await verifyImage(store, "localhost:5000/gadgets/trace:v1", await pubs(other.pub, keys.get(type)!.pub));
    expect(v2.format).toBe(format);
  });

  it.each(FORMATS)("a wrong key fails: not signed by the provided keys (%s)", async (format) => {
    const store = await freshStore(`wrong-${type}-${format}`);
    await makeImage(store, "localhost:5000/w:v1", "w");
    await sign(store, "localhost:5000/w:v1", type, format);
    expect(await verifyError(store, "localhost:5000/w:v1", [other.pub])).toBe(
      "verifying image (localhost:5000/w:v1): the image was not signed by the provided keys",
    );
  });
});

describe.each(FORMATS)("%s format", (format) => {
  it("a signature of another image fails: payload digest does not correspond to image", async () => {
    const store = await freshStore(`other-${format}`);
    const a = await makeImage(store, "localhost:5000/a:v1", "A");
    const b = await makeImage(store, "localhost:5000/b:v1", "B");
    await sign(store, "localhost:5000/a:v1", "ecdsa", format);
    // Move A's signature so it claims to be B's: same bytes, B's tag.
    if (format === "legacy") {
      const sig = await store.resolve(cosignSignatureTag(a.digest));
      await store.tagExact(sig, cosignSignatureTag(b.digest));
    } else {
      const idx = await store.resolve(referrersTag(a.digest));
      const referrer = parseIndex(await store.fetchBytes(idx)).manifests[0]!;
      // rewrite the referrer's subject to B (an attacker can do that: the subject is not signed)
      const m = parseManifest(await store.fetchBytes(referrer));
      const bytes = ggcrManifest({ config: m.config, layers: m.layers, annotations: m.annotations, subject: { mediaType: b.mediaType, digest: b.digest, size: b.size }, artifactType: m.artifactType });
      const d: Descriptor = { mediaType: referrer.mediaType, digest: sha256(bytes), size: bytes.byteLength, artifactType: referrer.artifactType };
      await store.push(d, bytes);
      const { addReferrers } = await import("../../core/sign/related.js");
      await addReferrers(store, b.digest, [d]);
    }
    expect(await verifyError(store, "localhost:5000/b:v1", [keys.get("ecdsa")!.pub])).toBe(
      `verifying image (localhost:5000/b:v1): payload digest does not correspond to image: expected ${b.digest}, got ${a.digest}`,
    );
    // A itself still verifies
    expect((await verifyImage(store, "localhost:5000/a:v1", await pubs(keys.get("ecdsa")!.pub))).format).toBe(format);
  });

  it("a tampered payload fails: not signed by the provided keys", async () => {
    const store = await freshStore(`tamper-${format}`);
    const a = await makeImage(store, "localhost:5000/t:v1", "T");
    const b = await makeImage(store, "localhost:5000/u:v1", "U");
    await sign(store, "localhost:5000/u:v1", "ecdsa", format);
    await sign(store, "localhost:5000/t:v1", "ecdsa", format);
    // Swap T's signed payload for U's... and keep T's signature: payload and signature no longer match.
    const tagOf = format === "legacy" ? cosignSignatureTag : referrersTag;
    const manifestOf = async (digest: Digest) => {
      const root = await store.resolve(tagOf(digest));
      const desc = format === "legacy" ? root : parseIndex(await store.fetchBytes(root)).manifests[0]!;
      return { desc, m: parseManifest(await store.fetchBytes(desc)) };
    };
    const t = await manifestOf(a.digest);
    const u = await manifestOf(b.digest);
    let tampered: Buffer;
    if (format === "bundle") {
      // keep T's DSSE signature, put a payload naming T (re-encoded with a space) in the envelope
      const bundle = JSON.parse((await store.fetchBytes(t.m.layers[0]!)).toString()) as { dsseEnvelope: { payload: string } };
      const stmt = Buffer.from(bundle.dsseEnvelope.payload, "base64").toString().replace('"subject"', ' "subject"');
      bundle.dsseEnvelope.payload = Buffer.from(stmt).toString("base64");
      const layerBytes = Buffer.from(JSON.stringify(bundle));
      const layer = { mediaType: SignMediaType.BundleV03, digest: sha256(layerBytes), size: layerBytes.byteLength };
      await store.push(layer, layerBytes);
      tampered = ggcrManifest({ config: t.m.config, layers: [layer], annotations: t.m.annotations, subject: t.m.subject, artifactType: t.m.artifactType });
    } else {
      // U's payload with T's signature annotation; the payload is then edited to name T's digest
      const payload = Buffer.from((await store.fetchBytes(u.m.layers[0]!)).toString().replace(b.digest, a.digest));
      const layer = { mediaType: SignMediaType.SimpleSigning, digest: sha256(payload), size: payload.byteLength, annotations: t.m.layers[0]!.annotations };
      await store.push(layer, payload);
      tampered = ggcrManifest({ config: t.m.config, layers: [layer], subject: t.m.subject });
    }
    const d: Descriptor = { mediaType: t.desc.mediaType, digest: sha256(tampered), size: tampered.byteLength, artifactType: t.desc.artifactType };
    await store.push(d, tampered);
    if (format === "legacy") await store.tagExact(d, cosignSignatureTag(a.digest));
    else {
      const { addReferrers } = await import("../../core/sign/related.js");
      await addReferrers(store, a.digest, [d], [d.artifactType!]);
    }
    expect(await verifyError(store, "localhost:5000/t:v1", [keys.get("ecdsa")!.pub])).toBe(
      "verifying image (localhost:5000/t:v1): the image was not signed by the provided keys",
    );
  });
});

describe("stored layout", () => {
  it("legacy: a .sig-tagged cosign manifest with one simple-signing layer carrying the signature annotation", async () => {
    const store = await freshStore("layout-legacy");
    const img = await makeImage(store, "localhost:5000/l:v1", "L");
    await sign(store, "localhost:5000/l:v1", "ed25519", "legacy");
    const idx = JSON.parse(await readFile(`${store.root}/index.json`, "utf8")) as { manifests: Descriptor[] };
    const entry = idx.manifests.find((e) => refNameOf(e) === `sha256-${img.digest.slice(7)}.sig`)!;
    expect(entry.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    const text = await readFile(store.blobPath(entry.digest), "utf8");
    expect(text).toMatch(/^\{"schemaVersion":2,"mediaType":"application\/vnd\.oci\.image\.manifest\.v1\+json","config":\{"mediaType":"application\/vnd\.oci\.image\.config\.v1\+json","size":\d+,"digest":"sha256:[a-f0-9]{64}"\},"layers":\[\{"mediaType":"application\/vnd\.dev\.cosign\.simplesigning\.v1\+json","size":\d+,"digest":"sha256:[a-f0-9]{64}","annotations":\{"dev\.cosignproject\.cosign\/signature":"[A-Za-z0-9+/=]+"\}\}\]\}$/);
    const m = parseManifest(text);
    const payload = await readFile(store.blobPath(m.layers[0]!.digest), "utf8");
    expect(payload).toBe(
      `{"critical":{"identity":{"docker-reference":"localhost:5000/l"},"image":{"docker-manifest-digest":"${img.digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    expect(m.layers[0]!.annotations![SIGNATURE_ANNOTATION]).toBeTruthy();
    // ggcr config naming the payload as its only diff_id
    const config = await readFile(store.blobPath(m.config.digest), "utf8");
    expect(config).toBe(`{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${m.layers[0]!.digest}"]},"config":{}}`);
    expect(await signatureArtifacts(store, img.digest)).toEqual([{ refName: `sha256-${img.digest.slice(7)}.sig`, descriptor: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size } }]);
  });

  it("oci11 and bundle: referrers listed by one sha256-<hex> index; re-signing replaces, not appends", async () => {
    const store = await freshStore("layout-referrers");
    const img = await makeImage(store, "localhost:5000/r:v1", "R");
    await sign(store, "localhost:5000/r:v1", "ecdsa", "oci11");
    await sign(store, "localhost:5000/r:v1", "ecdsa", "bundle");
    await sign(store, "localhost:5000/r:v1", "rsa", "oci11");
    const idxDesc = await store.resolve(referrersTag(img.digest));
    const idx = parseIndex(await store.fetchBytes(idxDesc));
    expect(idx.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(idx.manifests.map((d) => d.artifactType).sort()).toEqual([SignMediaType.ArtifactSig, SignMediaType.BundleV03]);
    for (const d of idx.manifests) {
      const m = parseManifest(await store.fetchBytes(d));
      expect(m.subject).toEqual({ mediaType: "application/vnd.oci.image.index.v1+json", digest: img.digest, size: img.size });
    }
    // the rsa re-sign replaced the ecdsa oci11 signature; the bundle is still ecdsa's
    expect((await verifyImage(store, "localhost:5000/r:v1", await pubs(keys.get("rsa")!.pub))).format).toBe("oci11");
    expect((await verifyImage(store, "localhost:5000/r:v1", await pubs(keys.get("ecdsa")!.pub))).format).toBe("bundle");
    const arts = await signatureArtifacts(store, img.digest);
    expect(arts.map((a) => a.refName)).toEqual([`sha256-${img.digest.slice(7)}`]);
  });

  it("an unsigned image fails with a hint; an image not in the store fails as not found", async () => {
    const store = await freshStore("unsigned");
    await makeImage(store, "localhost:5000/n:v1", "N");
    const msg = await verifyError(store, "localhost:5000/n:v1", [keys.get("ecdsa")!.pub]);
    expect(msg).toMatch(/^verifying image \(localhost:5000\/n:v1\): no signature found for sha256:[a-f0-9]{64}/);
    await expect(sign(store, "localhost:5000/missing:v1", "ecdsa", "legacy")).rejects.toThrow(/resolving image \("localhost:5000\/missing:v1"\): not found/);
  });
});
