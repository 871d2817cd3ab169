import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../../core/oci/digest.js";
import { encodeIndex, encodeManifest, goString } from "../../core/oci/gojson.js";
import { parseIndex, parseManifest } from "../../core/oci/model.js";
import { createdTimestamp, pack } from "../../core/oci/pack.js";
import { IG_FIXTURE_TAR, tempDir } from "../helpers/cli.js";

describe("pack: bytes identical to ig's image build", () => {
  it("config `name: unsigned` gives ig's 933-byte manifest and 1535-byte index", () => {
    const packed = pack({
      config: Buffer.from("name: unsigned\n"),
      archs: ["amd64", "arm64"],
      layers: {},
      created: "2025-10-20T15:28:46+02:00",
      builderVersion: "v0.45.0-45-gfc2e80680-dirty",
    });
    expect(packed.manifests.map((m) => m.arch)).toEqual(["amd64", "arm64"]);
    for (const m of packed.manifests) {
      expect(m.bytes.byteLength).toBe(933);
      expect(m.descriptor.digest).toBe("sha256:f04a4a04a15fef85a1438a2b7079c2bbc81a822acee2fb9c4827ae1709f3101f");
      expect(Buffer.from(m.bytes).toString()).toContain('"layers":[]');
      expect(Buffer.from(m.bytes).toString()).not.toContain('"mediaType":"application/vnd.oci.image.manifest.v1+json"');
    }
    expect(packed.index.bytes.byteLength).toBe(1535);
    expect(packed.index.descriptor.digest).toBe("sha256:f34a362f177727ed3f12eadc1f255ffe6a19190ab82d48df98c19f1bddc3b86a");
    expect(packed.index.bytes.at(-1)).toBe("}".charCodeAt(0));
  });

  it("no gadget.yaml → the OCI empty config descriptor with data e30= and only `created`, on the config too", () => {
    // issue 17 gap 7: ig packs with oras.PackManifest (content/oras pack.go: `configDesc =
    // ocispec.DescriptorEmptyJSON; configDesc.Annotations = opts.ConfigAnnotations`), so the empty
    // config descriptor carries the manifest's annotations: only org.opencontainers.image.created.
    const packed = pack({ archs: ["amd64"], layers: {}, created: "2024-01-01T00:00:00Z", builderVersion: "v1" });
    const raw = Buffer.from(packed.manifests[0]!.bytes).toString();
    expect(raw).toContain(
      '"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"},"data":"e30="}',
    );
    const m = JSON.parse(raw);
    expect(m.config).toEqual({
      mediaType: "application/vnd.oci.empty.v1+json",
      digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      size: 2,
      annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
      data: "e30=",
    });
    expect(m.annotations).toEqual({ "org.opencontainers.image.created": "2024-01-01T00:00:00Z" });
    expect(packed.config).toBeUndefined();
  });

  it("layers appear in ig's order with only mediaType, digest, size; gadget.yaml annotations override", () => {
    const blob = (s: string) => ({ digest: sha256(s), size: s.length });
    const packed = pack({
      config: Buffer.from("name: x\nannotations:\n  org.opencontainers.image.title: custom\n  a.b: '<&>'\n"),
      archs: ["arm64", "amd64"],
      layers: { amd64: { btfgen: blob("b"), wasm: blob("w"), ebpf: blob("e") }, arm64: { ebpf: blob("e2") } },
      created: "2024-01-01T00:00:00Z",
      builderVersion: "v1",
    });
    expect(packed.manifests.map((m) => m.arch)).toEqual(["amd64", "arm64"]);
    const text = Buffer.from(packed.manifests[0]!.bytes).toString();
    const m = JSON.parse(text);
    expect(m.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      "application/vnd.gadget.ebpf.program.v1+binary",
      "application/vnd.gadget.wasm.program.v1+binary",
      "application/vnd.gadget.btfgen.v1+binary",
    ]);
    expect(Object.keys(m.layers[0])).toEqual(["mediaType", "digest", "size"]);
    expect(m.annotations["org.opencontainers.image.title"]).toBe("custom");
    expect(text).toContain('"a.b":"\\u003c\\u0026\\u003e"');
  });

  it("SOURCE_DATE_EPOCH gives a UTC timestamp; local time carries its offset", () => {
    expect(createdTimestamp("1700000000")).toBe("2023-11-14T22:13:20Z");
    expect(createdTimestamp(undefined, new Date("2024-05-15T18:45:32.123Z"))).toMatch(/^2024-05-1\dT\d\d:\d\d:32(Z|[+-]\d\d:\d\d)$/);
    expect(() => createdTimestamp("yesterday")).toThrow(/SOURCE_DATE_EPOCH/);
  });
});

describe("Go encoding/json writer", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    execFileSync("tar", ["xf", IG_FIXTURE_TAR, "-C", dir]);
  });
  afterAll(() => cleanup());

  it("rewrites every manifest and index of ig's trace_open export byte-identically", () => {
    const blobs = join(dir, "blobs", "sha256");
    let manifests = 0;
    let indexes = 0;
    for (const hex of readdirSync(blobs)) {
      const bytes = readFileSync(join(blobs, hex));
      const text = bytes.toString();
      if (!text.startsWith("{")) continue;
      const doc = JSON.parse(text);
      const rewritten = doc.manifests ? encodeIndex(parseIndex(bytes)) : encodeManifest(parseManifest(bytes));
      expect(rewritten.equals(bytes), `blob ${hex}`).toBe(true);
      expect(sha256(rewritten)).toBe(`sha256:${hex}`);
      if (doc.manifests) indexes++;
      else manifests++;
    }
    expect(manifests).toBe(2);
    expect(indexes).toBe(1);
    // the layout's own index.json too
    const indexJson = readFileSync(join(dir, "index.json"));
    expect(encodeIndex(parseIndex(indexJson)).equals(indexJson)).toBe(true);
  });

  it("escapes like Go: <>& as \\u00XX, control characters, U+2028, lone surrogates", () => {
    expect(goString("a<b>&c")).toBe('"a\\u003cb\\u003e\\u0026c"');
    expect(goString('q"\\\n\r\t')).toBe('"q\\"\\\\\\n\\r\\t"');
    expect(goString("\u0001\u001f")).toBe('"\\u0001\\u001f"');
    expect(goString("\u2028\u2029")).toBe('"\\u2028\\u2029"');
    expect(goString("é😀")).toBe('"é😀"');
    expect(goString("\ud800x")).toBe('"\\ufffdx"');
  });

  it("sorts map keys and omits empty optional fields", () => {
    const out = encodeManifest({
      schemaVersion: 2,
      config: { mediaType: "x", digest: sha256(""), size: 0, annotations: { b: "2", a: "1" } },
      layers: [],
      annotations: {},
    }).toString();
    expect(out).toBe(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"${sha256("")}","size":0,"annotations":{"a":"1","b":"2"}},"layers":[]}`);
  });

  it("parsers tolerate manifests:null and a missing mediaType, and reject bad digests", () => {
    expect(parseIndex('{"schemaVersion":2,"manifests":null}').manifests).toEqual([]);
    expect(parseIndex('{"schemaVersion":2,"manifests":[{"digest":"' + sha256("") + '","size":0}]}').manifests[0]!.mediaType).toBe("");
    expect(() => parseIndex('{"schemaVersion":2,"manifests":[{"digest":"sha256:xyz","size":0}]}')).toThrow(/manifests\[0\]\.digest/);
    expect(() => parseManifest("not json")).toThrow(/not valid JSON/);
  });
});
