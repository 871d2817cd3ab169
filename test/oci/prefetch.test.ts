/**
 * Read-ahead (core/oci/prefetch.ts): a node's existence check and its read start together, and
 * when it is missing every child's check (and a child manifest's read) starts at once — not one
 * round trip per level. Driven with in-memory storages whose answers the test releases by hand.
 */
import { describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import { readAhead } from "../../core/oci/prefetch.js";
import { copyGraph } from "../../core/oci/copy.js";
import { sha256 } from "../../core/oci/digest.js";
import { encodeIndex } from "../../core/oci/gojson.js";
import { MediaType } from "../../core/oci/media-types.js";
import type { Descriptor } from "../../core/oci/model.js";
import type { Storage } from "../../core/oci/content.js";

function blob(bytes: Buffer, mediaType: string): { desc: Descriptor; bytes: Buffer } {
  return { desc: { mediaType, digest: sha256(bytes), size: bytes.byteLength }, bytes };
}

/** index → 2 manifests → config + one layer each */
function image() {
  const config = blob(Buffer.from("{}"), "application/vnd.oci.image.config.v1+json");
  const layers = [blob(Buffer.from("layer-a"), "application/octet-stream"), blob(Buffer.from("layer-b"), "application/octet-stream")];
  const manifests = layers.map((l) => blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: config.desc, layers: [l.desc] })), MediaType.ImageManifest));
  const index = blob(encodeIndex({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: manifests.map((m) => m.desc) }), MediaType.ImageIndex);
  const all = new Map([index, ...manifests, config, ...layers].map((b) => [b.desc.digest, b.bytes]));
  return { index, manifests, config, layers, all };
}

describe("readAhead", () => {
  it("checks and reads a node together, and starts every child's check once the parent is known missing", async () => {
    const img = image();
    const log: string[] = [];
    const pending = new Map<string, (v: boolean) => void>();
    const name = (d: Descriptor) => (d.digest === img.index.desc.digest ? "index" : img.manifests.findIndex((m) => m.desc.digest === d.digest) >= 0 ? `m${img.manifests.findIndex((m) => m.desc.digest === d.digest)}` : d.digest === img.config.desc.digest ? "config" : `l${img.layers.findIndex((l) => l.desc.digest === d.digest)}`);
    const src = {
      exists: async () => true,
      fetch: async (d: Descriptor) => {
        log.push(`read ${name(d)}`);
        return Readable.from([img.all.get(d.digest)!]);
      },
    };
    const dst: Storage = {
      exists: (d) => {
        log.push(`check ${name(d)}`);
        return new Promise<boolean>((r) => pending.set(name(d), r));
      },
      fetch: async () => Readable.from([]),
      push: async (d) => void log.push(`push ${name(d)}`),
    };
    const ra = readAhead(src, dst, { concurrency: 8 });
    ra.start(img.index.desc);
    const tick = () => new Promise((r) => setTimeout(r, 5));
    await tick();
    // the index's check and read are both in flight before the check answered
    expect(log).toEqual(["check index", "read index"]);
    pending.get("index")!(false);
    await tick();
    // both manifests: checked and read at once; nothing waits for their checks to answer
    expect(log).toEqual(expect.arrayContaining(["check m0", "read m0", "check m1", "read m1"]));
    expect(log).not.toContain("check config");
    pending.get("m0")!(false);
    pending.get("m1")!(true);
    await tick();
    // below the missing manifest: config and its layer are checked; the present one's layer is not
    expect(log).toEqual(expect.arrayContaining(["check config", "check l0"]));
    expect(log).not.toContain("check l1");
    pending.get("config")!(true);
    pending.get("l0")!(false);
    // the copy then runs on memoised answers: one read per manifest, nothing checked twice
    await copyGraph(ra.source, ra.destination, img.index.desc);
    expect(log.filter((l) => l === "read index").length).toBe(1);
    expect(log.filter((l) => l === "read m0").length).toBe(1);
    expect(log.filter((l) => l.startsWith("check ")).length).toBe(new Set(log.filter((l) => l.startsWith("check "))).size);
    expect(log.filter((l) => l.startsWith("push "))).toEqual(["push l0", "push m0", "push index"]);
  });
});
