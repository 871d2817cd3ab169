/** Test images built in a temp store: random per-arch eBPF layers + gadget.yaml, packed as ig does. */
import { randomBytes } from "node:crypto";
import { sha256 } from "../../core/oci/digest.js";
import { pack } from "../../core/oci/pack.js";
import type { Descriptor } from "../../core/oci/model.js";
import { LayoutStore } from "../../core/store/layout-store.js";

export interface FixtureImage {
  reference: string;
  index: Descriptor;
  /** every digest in the graph (index, manifests, config, layers) */
  digests: string[];
}

export async function makeImage(storeDir: string, reference: string, opts: { layerSize?: number; name?: string; layer?: Buffer; created?: string } = {}): Promise<FixtureImage> {
  const store = await LayoutStore.open(storeDir);
  const size = opts.layerSize ?? 4096;
  const config = Buffer.from(`name: ${opts.name ?? "test"}\ndescription: a test gadget\n`);
  const amd = opts.layer ?? randomBytes(size);
  const arm = randomBytes(size);
  const packed = pack({
    config,
    archs: ["amd64", "arm64"],
    layers: {
      amd64: { ebpf: { digest: sha256(amd), size: amd.length } },
      arm64: { ebpf: { digest: sha256(arm), size: arm.length } },
    },
    created: opts.created ?? "2024-01-01T00:00:00Z",
    builderVersion: "test",
  });
  const blobs: [Descriptor, Uint8Array][] = [
    [{ mediaType: "application/octet-stream", digest: sha256(amd), size: amd.length }, amd],
    [{ mediaType: "application/octet-stream", digest: sha256(arm), size: arm.length }, arm],
    [packed.config!.descriptor, packed.config!.bytes],
    ...packed.manifests.map((m) => [m.descriptor, m.bytes] as [Descriptor, Uint8Array]),
    [packed.index.descriptor, packed.index.bytes],
  ];
  for (const [d, b] of blobs) await store.push(d, b);
  await store.tag(packed.index.descriptor, reference);
  return { reference, index: packed.index.descriptor, digests: blobs.map(([d]) => d.digest) };
}
