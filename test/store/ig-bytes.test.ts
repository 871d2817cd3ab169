/**
 * Gap 7 of issue 17: store and export bytes as ig writes them.
 *
 * - index.json of a new store and of an export: oras v2.6's oci.Store writes
 *   `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[…]}`
 *   (ig's ExportGadgetImages copies into a fresh oci.New(tmpDir) and re-marshals it in sortIndex).
 * - the store root is created 0700: pkg/oci/local_oci_store.go newLocalOciStore,
 *   `os.MkdirAll(filepath.Dir(defaultOciStore), 0o700)`.
 * - an untagged `image build` leaves the index listed by digest: ig's BuildGadgetImage pushes the
 *   index into the oras store, whose Push tags a manifest by its digest and saveIndex writes such
 *   entries without a ref name (content/oci/oci.go saveIndex, "descriptors that are not associated
 *   with any tag").
 * - with no gadget.yaml the empty config descriptor carries `org.opencontainers.image.created`
 *   (oras.PackManifest: `configDesc.Annotations = opts.ConfigAnnotations`).
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";
import { blobJson, digestOf, requireTools } from "../build/helpers.js";

const INDEX_HEAD = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("gadget-ig-bytes-")));
afterAll(async () => cleanup?.());

describe("store and export bytes", () => {
  it("a new store is created 0700 and its index.json has the top-level mediaType", async () => {
    const store = join(dir, "a", "deeper", "store");
    const r = await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", store]);
    expect(r.code, r.stderr).toBe(0);
    expect((await stat(store)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "a"))).mode & 0o777).toBe(0o700);
    expect((await readFile(join(store, "index.json"), "utf8")).startsWith(INDEX_HEAD)).toBe(true);

    const tar = join(dir, "out.tar");
    expect((await runGadget(["image", "export", "trace_open", tar, "--oci-store", store])).code).toBe(0);
    const { readFileSync } = await import("node:fs");
    const entries = readTarEntriesSync(readFileSync(tar));
    expect(entries.get("index.json")!.startsWith(INDEX_HEAD)).toBe(true);
  });
});

/** index.json and friends from an uncompressed ustar (512-byte headers, names in the first 100 bytes). */
function readTarEntriesSync(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (let off = 0; off + 512 <= buf.length; ) {
    const name = buf.subarray(off, off + 100).toString("utf8").replace(/\0.*$/s, "");
    if (!name) break;
    const size = parseInt(buf.subarray(off + 124, off + 136).toString("utf8").replace(/\0.*$/s, "").trim(), 8);
    if (!name.startsWith("blobs/")) out.set(name, buf.subarray(off + 512, off + 512 + size).toString("utf8"));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe("untagged and metadata-less builds", () => {
  it("an untagged build is listed by digest in index.json, fsck finds no garbage, and the empty config carries `created`", async () => {
    requireTools("clang", "llvm-strip");
    const g = join(dir, "nometa");
    await mkdir(g, { recursive: true });
    await writeFile(join(g, "program.bpf.c"), '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("tracepoint/syscalls/sys_enter_openat")\nint x(void *ctx) { return 0; }\nchar LICENSE[] SEC("license") = "GPL";\n');
    const store = join(dir, "store-b");
    const r = await runGadget(["image", "build", g, "--arch", "amd64", "--oci-store", store], { env: { SOURCE_DATE_EPOCH: "1700000000" } });
    expect(r.code, r.stderr).toBe(0);
    const digest = digestOf(r.stderr);
    const index = JSON.parse(await readFile(join(store, "index.json"), "utf8"));
    expect(index.manifests).toEqual([{ mediaType: "application/vnd.oci.image.index.v1+json", digest, size: expect.any(Number) }]);
    const fsck = await runGadget(["image", "fsck", "--oci-store", store]);
    expect(fsck.code, fsck.stdout).toBe(0);
    // building it again keeps one entry
    expect((await runGadget(["image", "build", g, "--arch", "amd64", "--oci-store", store], { env: { SOURCE_DATE_EPOCH: "1700000000" } })).code).toBe(0);
    expect(JSON.parse(await readFile(join(store, "index.json"), "utf8")).manifests).toHaveLength(1);
    // and tagging it afterwards by digest works
    const t = await runGadget(["image", "tag", `x@${digest}`, "nometa:v1", "--oci-store", store]);
    expect(t.code, t.stderr).toBe(0);

    const m = await blobJson(store, (await blobJson(store, digest)).manifests[0].digest);
    expect(m.config).toEqual({
      mediaType: "application/vnd.oci.empty.v1+json",
      digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      size: 2,
      annotations: { "org.opencontainers.image.created": "2023-11-14T22:13:20Z" },
      data: "e30=",
    });
  });
});
