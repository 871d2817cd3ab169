/** Test fixtures for signing: small real gadget images packed into a temp store, key pairs on disk. */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256 } from "../../core/oci/digest.js";
import { pack } from "../../core/oci/pack.js";
import type { LayoutStore } from "../../core/store/layout-store.js";
import type { Descriptor } from "../../core/oci/model.js";
import type { KeyType } from "../../core/sign/keys.js";

/** Pack an ig-style image (both archs, a distinct fake eBPF layer per seed) and tag it. */
export async function makeImage(store: LayoutStore, reference: string, seed = "a"): Promise<Descriptor> {
  const layers: Record<string, { digest: ReturnType<typeof sha256>; size: number }> = {};
  for (const arch of ["amd64", "arm64"] as const) {
    const bytes = Buffer.from(`\x7fELF fake program ${seed} ${arch} ${randomBytes(4).toString("hex")}`);
    const d = { mediaType: "application/vnd.gadget.ebpf.program.v1+binary", digest: sha256(bytes), size: bytes.byteLength };
    await store.push(d, bytes);
    layers[arch] = { digest: d.digest, size: d.size };
  }
  const config = Buffer.from(`name: ${seed}\ndescription: test gadget ${seed}\n`);
  const img = pack({
    config,
    archs: ["amd64", "arm64"],
    layers: { amd64: { ebpf: layers.amd64! }, arm64: { ebpf: layers.arm64! } },
    created: "2024-01-01T00:00:00Z",
    builderVersion: "test",
  });
  if (img.config) await store.push(img.config.descriptor, img.config.bytes);
  for (const m of img.manifests) await store.push(m.descriptor, m.bytes);
  await store.push(img.index.descriptor, img.index.bytes);
  await store.tag(img.index.descriptor, reference);
  return img.index.descriptor;
}

export interface KeyFiles {
  type: KeyType;
  key: string;
  pub: string;
}

/** Write an unencrypted PKCS#8 private key and its SPKI public key, made with node:crypto. */
export async function writeKeys(dir: string, type: KeyType, name: string = type): Promise<KeyFiles> {
  const pair =
    type === "ecdsa"
      ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
      : type === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ed25519");
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  await writeFile(key, pair.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  await writeFile(pub, pair.publicKey.export({ type: "spki", format: "pem" }));
  return { type, key, pub };
}
