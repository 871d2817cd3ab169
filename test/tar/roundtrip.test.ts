/**
 * Export and import through the real CLI: ig's export imports with ig's digest, our export is
 * byte-identical across runs and matches ig's tar headers byte for byte except mtime, and
 * export → import into a fresh store keeps every digest. Also stdin/stdout, gzip, JSON output,
 * signatures and referrers, and bare ref names.
 */
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, runCommand, runGadget, tempDir } from "../helpers/cli.js";
import { BLOCK, padding } from "../../core/tar/header.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { encodeManifest } from "../../core/oci/gojson.js";
import { sha256 } from "../../core/oci/digest.js";
import { exportImages, importImages } from "../../core/index.js";
import { buildTar, fixtureEntries, snapshot, storeWithFixture } from "./helpers.js";

const REF = "ghcr.io/inspektor-gadget/gadget/trace_open:latest";
let dir: string;
let cleanup: () => Promise<void>;
let store: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-roundtrip-"));
  store = join(dir, "store");
  await storeWithFixture(store);
});

afterAll(async () => {
  await cleanup();
});

/** Header blocks of a tar, in order, with the offset of each. */
function headers(tar: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    out.push(h);
    const size = parseInt(h.toString("latin1", 124, 135), 8);
    off += BLOCK + size + padding(size);
  }
  return out;
}

async function listJson(storeDir: string): Promise<{ Repository: string; Tag: string; Digest: string }[]> {
  const r = await runGadget(["image", "list", "-o", "json", "--oci-store", storeDir]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe("import of ig's export", () => {
  it("prints ig's lines and list shows trace_open with ig's digest", async () => {
    const fresh = join(dir, "fresh-import");
    const r = await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Successfully imported images:\n  ${REF}\n`);
    expect(r.stderr).toBe("");
    const list = await listJson(fresh);
    expect(list).toEqual([expect.objectContaining({ Repository: "trace_open", Tag: "latest", Digest: IG_FIXTURE_INDEX_DIGEST })]);
    expect(await readdir(join(fresh, "blobs", "sha256"))).toHaveLength(6);
    expect(await snapshot(join(fresh, ".tmp"))).toEqual([]);
  });

  it("importing the same archive twice is harmless", async () => {
    const before = await readFile(join(store, "index.json"));
    const r = await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", store]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(store, "index.json"))).toEqual(before);
  });
});

describe("export", () => {
  it("is byte-identical across runs", async () => {
    const a = join(dir, "a.tar");
    const b = join(dir, "b.tar");
    for (const f of [a, b]) {
      const r = await runGadget(["image", "export", "trace_open", f, "--oci-store", store]);
      expect(r.code, r.stderr).toBe(0);
      // ig (cmd/common/image/export.go): cmd.Printf → stderr
      expect(r.stderr).toBe(`Successfully exported images to ${f}\n`);
      expect(r.stdout).toBe("");
    }
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
    expect((await readdir(dir)).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("writes ig's tar headers byte for byte, except mtime 0", async () => {
    const ours = await readFile(join(dir, "a.tar"));
    const igs = await readFile(IG_FIXTURE_TAR);
    const ho = headers(ours);
    const hi = headers(igs);
    // the fixture predates oras v2.6: its index.json has no top-level mediaType, ours has
    // (`"mediaType":"application/vnd.oci.image.index.v1+json",`); only that entry differs in size
    const sizeOf = (h: Buffer) => parseInt(h.toString("latin1", 124, 135), 8);
    const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
    const at = hi.findIndex((h) => h.toString("latin1", 0, 10) === "index.json");
    expect(sizeOf(ho[at]!)).toBe(sizeOf(hi[at]!) + Buffer.byteLength('"mediaType":"application/vnd.oci.image.index.v1+json",'));
    expect(ours.length).toBe(igs.length - padded(sizeOf(hi[at]!)) + padded(sizeOf(ho[at]!)));
    ho[at]!.fill(0, 124, 136);
    hi[at]!.fill(0, 124, 136);
    expect(ho.map((h) => h.toString("latin1", 0, 100).replace(/\0+$/, ""))).toEqual(hi.map((h) => h.toString("latin1", 0, 100).replace(/\0+$/, "")));
    for (let i = 0; i < ho.length; i++) {
      const o = Buffer.from(ho[i]!);
      const g = Buffer.from(hi[i]!);
      expect(o.toString("latin1", 136, 148)).toBe("00000000000\0");
      o.fill(0, 136, 156); // mtime + checksum
      g.fill(0, 136, 156);
      expect(o.equals(g)).toBe(true);
    }
    // the end: two zero blocks and no record padding, as Go's archive/tar
    expect(ours.subarray(ours.length - 2 * BLOCK).every((b) => b === 0)).toBe(true);
  });

  it("holds the same files as ig's export, index.json sorted by digest", async () => {
    const ours = (await fixtureEntriesOf(join(dir, "a.tar"))).map((e) => [e.path, e.data] as const);
    const igs = (await fixtureEntries()).map((e) => [e.path, e.data] as const);
    expect(ours.map(([p]) => p)).toEqual(igs.map(([p]) => p));
    for (let i = 0; i < ours.length; i++) {
      if (ours[i]![0] === "index.json") continue;
      expect(ours[i]![1].equals(igs[i]![1])).toBe(true);
    }
    const index = JSON.parse(ours.find(([p]) => p === "index.json")![1].toString());
    const igIndex = JSON.parse(igs.find(([p]) => p === "index.json")![1].toString());
    const digests = index.manifests.map((m: { digest: string }) => m.digest);
    expect(digests).toEqual([...digests].sort());
    expect(new Set(index.manifests.map((m: object) => JSON.stringify(m)))).toEqual(new Set(igIndex.manifests.map((m: object) => JSON.stringify(m))));
  });

  it("export → import into a fresh store gives the same digests and blobs", async () => {
    const fresh = join(dir, "fresh-roundtrip");
    const r = await runGadget(["image", "import", join(dir, "a.tar"), "--oci-store", fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(await listJson(fresh)).toEqual(await listJson(store));
    expect((await readdir(join(fresh, "blobs", "sha256"))).sort()).toEqual((await readdir(join(store, "blobs", "sha256"))).sort());
    // and exporting again from there gives the same bytes
    const again = join(dir, "again.tar");
    expect((await runGadget(["image", "export", "trace_open", again, "--oci-store", fresh])).code).toBe(0);
    expect((await readFile(again)).equals(await readFile(join(dir, "a.tar")))).toBe(true);
  });

  it("writes the archive to stdout with -, and the result line to stderr", async () => {
    const r = await runCommand("sh", ["-c", `node bin/gadget.js image export trace_open - --oci-store '${store}' > '${join(dir, "stdout.tar")}'`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("Successfully exported images to -\n");
    expect((await readFile(join(dir, "stdout.tar"))).equals(await readFile(join(dir, "a.tar")))).toBe(true);
  });

  it("--json prints one document", async () => {
    const f = join(dir, "json.tar");
    const r = await runGadget(["image", "export", "trace_open", f, "--json", "--oci-store", store]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ file: f, images: [{ reference: REF, digest: IG_FIXTURE_INDEX_DIGEST }], signatures: [] });
  });

  it("refuses an image that is not in the store, and writes nothing", async () => {
    const f = join(dir, "missing.tar");
    const r = await runGadget(["image", "export", "trace_open", "nope:v1", f, "--oci-store", store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: exporting images \("nope:v1"\): not found in the local store\n/);
    expect(await readdir(dir)).not.toContain("missing.tar");
    expect((await readdir(dir)).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("refuses a digest-only reference (a tar entry needs a tag)", async () => {
    const r = await runGadget(["image", "export", `trace_open@${IG_FIXTURE_INDEX_DIGEST}`, join(dir, "d.tar"), "--oci-store", store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs a tag/);
  });
});

describe("import input forms and output", () => {
  it("reads the archive from stdin with -", async () => {
    const fresh = join(dir, "fresh-stdin");
    const r = await runGadget(["image", "import", "-", "--oci-store", fresh], { input: await readFile(IG_FIXTURE_TAR) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Successfully imported images:\n  ${REF}\n`);
    expect((await listJson(fresh))[0]!.Digest).toBe(IG_FIXTURE_INDEX_DIGEST);
  });

  it("imports a gzip-compressed archive (detected by magic, whatever the name)", async () => {
    const fresh = join(dir, "fresh-gzip");
    const f = join(dir, "compressed.tar");
    await writeFile(f, gzipSync(await readFile(IG_FIXTURE_TAR)));
    const r = await runGadget(["image", "import", f, "--oci-store", fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect((await listJson(fresh))[0]!.Digest).toBe(IG_FIXTURE_INDEX_DIGEST);
  });

  it("-o json|jsonpretty print ig's schema (an array of the imported tags), --json gadget's document", async () => {
    // ig, cmd/common/image/import.go: case OutputModeJSON: bytes, _ := json.Marshal(tags);
    // fmt.Fprintln(cmd.OutOrStdout(), string(bytes)); case OutputModeJSONPretty: json.MarshalIndent(tags, "", "  ")
    const j = await runGadget(["image", "import", IG_FIXTURE_TAR, "-o", "json", "--oci-store", join(dir, "fresh-json")]);
    expect(j.code, j.stderr).toBe(0);
    expect(j.stdout).toBe(`["${REF}"]\n`);
    const p = await runGadget(["image", "import", IG_FIXTURE_TAR, "-o", "jsonpretty", "--oci-store", join(dir, "fresh-json")]);
    expect(p.stdout).toBe(`[\n  "${REF}"\n]\n`);
    const ours = await runGadget(["image", "import", IG_FIXTURE_TAR, "--json", "--oci-store", join(dir, "fresh-json")]);
    expect(JSON.parse(ours.stdout).images).toEqual([{ reference: REF, digest: IG_FIXTURE_INDEX_DIGEST }]);
    const bad = await runGadget(["image", "import", IG_FIXTURE_TAR, "-o", "yaml", "--oci-store", join(dir, "fresh-json")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('Error: invalid usage: invalid output mode "yaml", valid values are: json, jsonpretty\n');
  });

  it("a bare ref name (as skopeo and other tools write) imports under a usable name, with a warning", async () => {
    const entries = await fixtureEntries();
    const tar = buildTar(
      entries.map((e) => ({
        path: e.path,
        data: e.path === "index.json" ? Buffer.from(e.data.toString().replace(`"${REF}"`, '"v1.2"')) : e.data,
      })),
    );
    const f = join(dir, "My Gadget.tar");
    await writeFile(f, tar);
    const fresh = join(dir, "fresh-bare");
    const r = await runGadget(["image", "import", f, "--oci-store", fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("Successfully imported images:\n  ghcr.io/inspektor-gadget/gadget/my-gadget:v1.2\n");
    expect(r.stderr).toBe('Warning: ref name "v1.2" in the archive is a bare tag; imported as ghcr.io/inspektor-gadget/gadget/my-gadget:v1.2 (rename it with `gadget image tag`)\n');
    expect(await listJson(fresh)).toEqual([expect.objectContaining({ Repository: "my-gadget", Tag: "v1.2", Digest: IG_FIXTURE_INDEX_DIGEST })]);
  });
});

describe("concurrency", () => {
  it("two imports into the same store at once both land, and the store stays consistent", async () => {
    const shared = join(dir, "shared-store");
    const entries = await fixtureEntries();
    const renamed = (tag: string) =>
      buildTar(entries.map((e) => ({ path: e.path, data: e.path === "index.json" ? Buffer.from(e.data.toString().replace(`"${REF}"`, `"${tag}"`)) : e.data })));
    const a = join(dir, "conc-a.tar");
    const b = join(dir, "conc-b.tar");
    await writeFile(a, renamed("localhost:5000/a/gadget:v1"));
    await writeFile(b, renamed("localhost:5000/b/gadget:v1"));
    const [ra, rb] = await Promise.all([runGadget(["image", "import", a, "--oci-store", shared]), runGadget(["image", "import", b, "--oci-store", shared])]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const list = await listJson(shared);
    expect(list.map((i) => `${i.Repository}:${i.Tag}`).sort()).toEqual(["localhost:5000/a/gadget:v1", "localhost:5000/b/gadget:v1"]);
    expect(await readdir(join(shared, "blobs", "sha256"))).toHaveLength(6);
    // no staging left behind (an empty .tmp/ may remain: the store's own temp dir)
    expect(await snapshot(join(shared, ".tmp"))).toEqual([]);
  });

  it("export from a directory that is not a store fails without creating one", async () => {
    const nowhere = join(dir, "no-store-here");
    const r = await runGadget(["image", "export", "trace_open", join(dir, "x.tar"), "--oci-store", nowhere]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not an OCI layout/);
    expect(await readdir(dir)).not.toContain("no-store-here");
  });
});

describe("progress", () => {
  it("shows bytes and rate on a terminal's stderr (run under script(1)), and nothing when stderr is not a TTY", async () => {
    const fresh = join(dir, "fresh-tty");
    const cmd = `node bin/gadget.js image import '${IG_FIXTURE_TAR}' --oci-store '${fresh}'`;
    const r = await runCommand("script", ["-qec", cmd, "/dev/null"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\r\x1b\[Kimporting 185\.3 kB \/ 185\.3 kB \(100%\) +[0-9.]+ [kMG]?B\/s/);
    expect(r.stdout).toContain("\r\x1b[KSuccessfully imported images:");
    const tar = join(dir, "tty.tar");
    const e = await runCommand("script", ["-qec", `node bin/gadget.js image export trace_open '${tar}' --oci-store '${fresh}'`, "/dev/null"]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/\r\x1b\[Kexporting [0-9.]+ kB \/ [0-9.]+ kB \(100%\)/);
    const plain = await runGadget(["image", "export", "trace_open", tar, "--oci-store", fresh]);
    // no progress: only ig's result line (cmd.Printf → stderr)
    expect(plain.stderr).toBe(`Successfully exported images to ${tar}\n`);
  });

  it("refuses to write an archive to, or read one from, a terminal", async () => {
    const out = await runCommand("script", ["-qec", `node bin/gadget.js image export trace_open - --oci-store '${store}'; echo "rc=$?"`, "/dev/null"]);
    expect(out.stdout).toContain("Error: invalid usage: refusing to write an archive to a terminal");
    expect(out.stdout).toContain("rc=2");
    const inp = await runCommand("script", ["-qec", `node bin/gadget.js image import - --oci-store '${store}'; echo "rc=$?"`, "/dev/null"]);
    expect(inp.stdout).toContain("Error: invalid usage: refusing to read an archive from a terminal");
    expect(inp.stdout).toContain("rc=2");
  });
});

describe("signatures and referrers travel with the image", () => {
  it("export includes the .sig tag and OCI referrers; import restores them and lists every tag as ig does", async () => {
    const src = join(dir, "signed-store");
    await storeWithFixture(src);
    const s = await LayoutStore.open(src);
    const hex = IG_FIXTURE_INDEX_DIGEST.slice("sha256:".length);
    // a cosign-style legacy signature manifest, tagged sha256-<hex>.sig
    const payload = Buffer.from(`{"critical":{"image":{"docker-manifest-digest":"${IG_FIXTURE_INDEX_DIGEST}"}}}`);
    const config = Buffer.from("{}");
    await s.push({ mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: sha256(payload), size: payload.length }, payload);
    await s.push({ mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length }, config);
    const sigManifest = encodeManifest({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: [{ mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: sha256(payload), size: payload.length, annotations: { "dev.cosignproject.cosign/signature": "MEUCIQ==" } }],
    });
    const sigDesc = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(sigManifest), size: sigManifest.length };
    await s.push(sigDesc, sigManifest);
    await s.tagExact(sigDesc, `sha256-${hex}.sig`);
    // an OCI 1.1 referrer (subject = the image), kept as an untagged index entry
    const refManifest = encodeManifest({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.example.sbom",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2, data: "e30=" },
      layers: [{ mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: sha256(payload), size: payload.length }],
      subject: { mediaType: "application/vnd.oci.image.index.v1+json", digest: IG_FIXTURE_INDEX_DIGEST, size: 1711 },
    });
    const refDesc = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(refManifest), size: refManifest.length, artifactType: "application/vnd.example.sbom" };
    await s.push(refDesc, refManifest);
    await s.updateIndex((entries) => ({ entries: [...entries, refDesc], result: undefined }));

    const tar = join(dir, "signed.tar");
    const ex = await exportImages({ storeDir: src, references: ["trace_open"], file: tar });
    expect(ex.images).toEqual([{ reference: REF, digest: IG_FIXTURE_INDEX_DIGEST }]);
    const inTar = await fixtureEntriesOf(tar);
    const index = JSON.parse(inTar.find((e) => e.path === "index.json")!.data.toString());
    const names = index.manifests.map((m: { annotations?: Record<string, string> }) => m.annotations?.["org.opencontainers.image.ref.name"]).filter(Boolean);
    expect(names.sort()).toEqual([REF, `sha256-${hex}.sig`]);
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toContain(refDesc.digest);
    // the empty config of the referrer is written from its inline data
    expect(inTar.map((e) => e.path)).toContain("blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");

    const dst = join(dir, "signed-import");
    const r = await runGadget(["image", "import", tar, "--oci-store", dst]);
    expect(r.code, r.stderr).toBe(0);
    // ig (ImportGadgetImages) copies and prints every tag of the archive, in ascending order
    expect(r.stdout).toBe(`Successfully imported images:\n  ${REF}\n  sha256-${hex}.sig\n`);
    const j = await runGadget(["image", "import", tar, "-o", "json", "--oci-store", dst]);
    expect(j.stdout).toBe(`["${REF}","sha256-${hex}.sig"]\n`);
    const d = await LayoutStore.open(dst);
    expect((await d.resolve(`sha256-${hex}.sig`)).digest).toBe(sigDesc.digest);
    expect((await d.entries()).map((e) => e.digest)).toContain(refDesc.digest);
    expect(await d.hasBlob(sha256(payload))).toBe(true);

    const lib = await importImages({ storeDir: join(dir, "signed-lib"), file: tar });
    expect(lib.images).toEqual([{ reference: REF, digest: IG_FIXTURE_INDEX_DIGEST }]);
    expect(lib.signatures).toEqual([{ reference: `sha256-${hex}.sig`, digest: sigDesc.digest }]);
  });
});

describe("real signatures (gadget image sign) survive export and import", () => {
  it("legacy, OCI 1.1 and bundle signatures verify in the store the archive was imported into", async () => {
    const src = join(dir, "sign-src");
    await storeWithFixture(src);
    const key = join(dir, "signing");
    const kg = await runGadget(["image", "keygen", "--output-prefix", key]);
    expect(kg.code).toBe(0);
    for (const format of ["legacy", "oci11", "bundle"]) {
      const r = await runGadget(["image", "sign", "trace_open", "--key", `${key}.key`, "--format", format, "--oci-store", src], { env: { COSIGN_PASSWORD: "" } });
      expect(r.code, r.stderr).toBe(0);
    }
    const tar = join(dir, "sign.tar");
    expect((await runGadget(["image", "export", "trace_open", tar, "--oci-store", src])).code).toBe(0);
    const dst = join(dir, "sign-dst");
    const im = await runGadget(["image", "import", tar, "--oci-store", dst]);
    expect(im.code, im.stderr).toBe(0);
    expect(im.stdout).toBe(`Successfully imported images:\n  ${REF}\n  sha256-${IG_FIXTURE_INDEX_DIGEST.slice(7)}\n  sha256-${IG_FIXTURE_INDEX_DIGEST.slice(7)}.sig\n`);
    const v = await runGadget(["image", "verify", "trace_open", "--public-keys", `${key}.pub`, "--oci-store", dst]);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    const names = (await LayoutStore.open(dst).then((s) => s.entries())).map((e) => e.annotations?.["org.opencontainers.image.ref.name"]).filter(Boolean);
    const hex = IG_FIXTURE_INDEX_DIGEST.slice(7);
    expect(names.sort()).toEqual([REF, `sha256-${hex}`, `sha256-${hex}.sig`].sort());
  });
});

describe("library API", () => {
  it("exportImages/importImages from the package entry point round-trip several images", async () => {
    const s = await LayoutStore.open(store);
    const d = await s.resolve("trace_open");
    await s.tag(d, "localhost:5000/other/name:v2");
    const tar = join(dir, "two.tar");
    const ex = await exportImages({ storeDir: store, references: ["localhost:5000/other/name:v2", "trace_open", "trace_open"], file: tar });
    expect(ex.images.map((i) => i.reference)).toEqual(["localhost:5000/other/name:v2", REF]);
    const fresh = join(dir, "fresh-lib");
    const progress: unknown[] = [];
    const im = await importImages({ storeDir: fresh, file: tar, onProgress: (e) => progress.push(e) });
    expect(im.images.map((i) => i.reference).sort()).toEqual([REF, "localhost:5000/other/name:v2"]);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ phase: "import", done: true });
    expect(await snapshot(join(fresh, ".tmp"))).toEqual([]);
  });
});

async function fixtureEntriesOf(file: string): Promise<{ path: string; data: Buffer }[]> {
  const { readTar } = await import("../../core/tar/reader.js");
  const out: { path: string; data: Buffer }[] = [];
  await readTar([await readFile(file)], async (entry, body) => {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c));
    out.push({ path: entry.path, data: Buffer.concat(parts) });
  });
  return out;
}
