import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256 } from "../../core/oci/digest.js";
import { LayoutStore, releaseWriterLock } from "../../core/store/layout-store.js";
import { IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";

let dir: string;
let cleanup: () => Promise<void>;

function extractFixture(): string {
  execFileSync("tar", ["xf", IG_FIXTURE_TAR, "-C", dir]);
  return dir;
}
const blobCount = () => readdirSync(join(dir, "blobs", "sha256")).length;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir("gadget-store-"));
});
afterEach(() => cleanup());

describe("image list / tag / rm on ig's own export", () => {
  it("lists trace_open with ig's digest and created time", async () => {
    extractFixture();
    const r = await runGadget(["--oci-store", dir, "image", "list"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+CREATED$/);
    expect(lines[1]!.split(/\s+/)).toEqual(["trace_open", "latest", IG_FIXTURE_INDEX_DIGEST, "2024-05-15T18:45:32Z"]);
    expect(lines).toHaveLength(2);
  });

  it("global flags work after the subcommand and GADGET_OCI_STORE is honoured; -o json", async () => {
    extractFixture();
    const a = await runGadget(["image", "ls", "--oci-store", dir, "-o", "json"]);
    const b = await runGadget(["image", "list", "-o", "json"], { env: { GADGET_OCI_STORE: dir } });
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout)).toEqual([{ Repository: "trace_open", Tag: "latest", Digest: IG_FIXTURE_INDEX_DIGEST, Created: "2024-05-15T18:45:32Z" }]);
  });

  it("tag adds a second name; rm of one tag keeps the blobs; rm of the last removes every blob it reached", async () => {
    extractFixture();
    const before = blobCount();
    expect(before).toBe(6);
    const t = await runGadget(["--oci-store", dir, "image", "tag", "trace_open", "localhost:5000/mine:v1"]);
    // ig: `Successfully tagged with %s` with GadgetImageDesc.String() = <repo>:<tag>@<digest>
    expect(t.stderr).toBe(`Successfully tagged with localhost:5000/mine:v1@${IG_FIXTURE_INDEX_DIGEST}\n`);
    const l = await runGadget(["--oci-store", dir, "image", "list", "-o", "json"]);
    expect(JSON.parse(l.stdout).map((x: { Repository: string; Tag: string }) => `${x.Repository}:${x.Tag}`)).toEqual(["trace_open:latest", "localhost:5000/mine:v1"]); // sorted by full reference, as ig (ghcr.io/… < localhost:5000/…)

    const rm1 = await runGadget(["--oci-store", dir, "image", "rm", "trace_open"]);
    expect(rm1.stderr).toBe("Successfully removed trace_open\n");
    expect(blobCount()).toBe(before);

    const rm2 = await runGadget(["--oci-store", dir, "image", "remove", "localhost:5000/mine:v1"]);
    expect(rm2.code).toBe(0);
    expect(blobCount()).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).manifests).toEqual([]);
  });

  it("rm keeps blobs another image still reaches, and signature tags survive", async () => {
    extractFixture();
    const store = await LayoutStore.open(dir);
    const sigBytes = Buffer.from('{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}');
    const sig = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(sigBytes), size: sigBytes.length };
    await store.push(sig, sigBytes);
    await store.tagExact(sig, `sha256-${IG_FIXTURE_INDEX_DIGEST.slice(7)}.sig`);
    // another image sharing the config blob
    const shared = JSON.parse(readFileSync(join(dir, "blobs/sha256/20a6646251ab1273da15f6f3588a8fef4c6934f3dd88937db93a61dd652c66df"), "utf8"));
    shared.annotations = { other: "yes" };
    const otherBytes = Buffer.from(JSON.stringify(shared));
    const other = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(otherBytes), size: otherBytes.length };
    await store.push(other, otherBytes);
    await store.tag(other, "other:v1");
    // this process wrote blobs (it holds the writers lock): rm only collects garbage when no writer is active
    await releaseWriterLock(dir);

    const r = await runGadget(["--oci-store", dir, "image", "rm", "trace_open"]);
    expect(r.code).toBe(0);
    const left = readdirSync(join(dir, "blobs", "sha256")).sort();
    // other manifest + its config + amd64 layer, and the signature manifest
    expect(left).toEqual([sig.digest.slice(7), other.digest.slice(7), "4326d8996b54290ca8e8422cf7119ccb7822650ae40837805f5ff867250ca2fe", "d4797e15f105a82e08912fe7168650ff5d425d8505742e4cbaa6e8a3b0b7a636"].sort());
    const names = (await store.entries()).map((e) => e.annotations?.["org.opencontainers.image.ref.name"]);
    expect(names).toContain(`sha256-${IG_FIXTURE_INDEX_DIGEST.slice(7)}.sig`);
    const list = await runGadget(["--oci-store", dir, "image", "list", "-o", "json"]);
    expect(JSON.parse(list.stdout).map((x: { Repository: string }) => x.Repository)).toEqual(["other"]);
  });

  it("inspect -o summary shows the index, both manifests and their layers (human and --json)", async () => {
    extractFixture();
    const h = await runGadget(["--oci-store", dir, "image", "inspect", "trace_open", "-o", "summary"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain(`Digest:     ${IG_FIXTURE_INDEX_DIGEST}`);
    expect(h.stdout).toMatch(/linux\/amd64\s+sha256:20a66462/);
    expect(h.stdout).toMatch(/linux\/arm64\s+sha256:cd246274/);
    expect(h.stdout).toContain("application/vnd.gadget.ebpf.program.v1+binary");
    // the eBPF objects read in TypeScript: maps with type, key/value size, max entries; programs by section
    expect(h.stdout).toContain("\neBPF (amd64):\n");
    expect(h.stdout).toContain("  map events  RingBuf  key 0 B  value 0 B  max entries 262144\n");
    expect(h.stdout).toContain("  program ig_openat_x  tracepoint  syscalls/sys_exit_openat  (109 instructions)\n");
    const j = await runGadget(["--oci-store", dir, "image", "inspect", "trace_open", "--json"]);
    const doc = JSON.parse(j.stdout);
    expect(doc.descriptor.digest).toBe(IG_FIXTURE_INDEX_DIGEST);
    expect(doc.manifests.map((m: { descriptor: { platform: { architecture: string } } }) => m.descriptor.platform.architecture)).toEqual(["amd64", "arm64"]);
    expect(doc.annotations["org.opencontainers.image.title"]).toBe("trace open");
  });

  it("reads ig-style stores: manifests:null, no mediaType, bare signature tags, digest-only entries", async () => {
    extractFixture();
    const idx = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    for (const m of idx.manifests) delete m.mediaType;
    idx.manifests.push({ digest: idx.manifests[1].digest, size: idx.manifests[1].size, annotations: { "org.opencontainers.image.ref.name": `sha256-${"b".repeat(64)}.sig` } });
    writeFileSync(join(dir, "index.json"), JSON.stringify(idx));
    const r = await runGadget(["--oci-store", dir, "image", "list", "-o", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ Repository: "trace_open", Tag: "latest", Digest: IG_FIXTURE_INDEX_DIGEST, Created: "2024-05-15T18:45:32Z" }]);

    writeFileSync(join(dir, "index.json"), '{"schemaVersion":2,"manifests":null}');
    const empty = await runGadget(["--oci-store", dir, "image", "list", "-o", "json"]);
    expect(empty.stdout.trim()).toBe("[]");
    const t = await runGadget(["--oci-store", dir, "image", "tag", `trace_open@${IG_FIXTURE_INDEX_DIGEST}`, "back:again"]);
    expect(t.code).toBe(0);
    expect((await runGadget(["--oci-store", dir, "image", "list", "-o", "json"])).stdout).toContain("back");
  });
});

describe("store safety", () => {
  it("20 processes tagging the same store at once: all 20 tags present, index valid", async () => {
    extractFixture();
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => runGadget(["--oci-store", dir, "image", "tag", "trace_open", `localhost:5000/c${i}:t${i}`])),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const idx = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    const names = idx.manifests.map((m: { annotations?: Record<string, string> }) => m.annotations?.["org.opencontainers.image.ref.name"]).filter(Boolean);
    for (let i = 0; i < 20; i++) expect(names).toContain(`localhost:5000/c${i}:t${i}`);
    expect(names).toHaveLength(21);
    expect(readdirSync(join(dir, ".tmp")).filter((n) => n.includes("index.json"))).toEqual([]);
  });

  it("a blob whose bytes do not match its digest never enters the store", async () => {
    const store = await LayoutStore.open(dir);
    const good = Buffer.from("hello");
    const desc = { mediaType: "application/octet-stream", digest: sha256("other bytes"), size: good.length };
    await expect(store.push(desc, good)).rejects.toThrow(/digest mismatch/);
    await expect(store.push({ ...desc, digest: sha256(good), size: 3 }, good)).rejects.toThrow(/size mismatch/);
    expect(readdirSync(join(dir, "blobs", "sha256"))).toEqual([]);
    expect(readdirSync(join(dir, ".tmp")).filter((n) => n !== "writers.lock")).toEqual([]);
    await store.push({ ...desc, digest: sha256(good) }, good);
    const path = join(dir, "blobs", "sha256", sha256(good).slice(7));
    expect(readFileSync(path, "utf8")).toBe("hello");
    expect((await import("node:fs")).statSync(path).mode & 0o777).toBe(0o444);
  });

  it("a crash between blob writes and the index save leaves a store that lists and works", async () => {
    extractFixture();
    // simulate: a process wrote blobs and a temp index file, then died before the rename
    mkdirSync(join(dir, ".tmp"), { recursive: true });
    writeFileSync(join(dir, ".tmp", ".index.json.tmp-999-abc"), '{"schemaVersion":2,"manif');
    writeFileSync(join(dir, ".tmp", "blob.tmp-999-def"), "partial");
    const orphan = Buffer.from("orphan blob");
    writeFileSync(join(dir, "blobs", "sha256", sha256(orphan).slice(7)), orphan);
    const l = await runGadget(["--oci-store", dir, "image", "list", "-o", "json"]);
    expect(JSON.parse(l.stdout)).toHaveLength(1);
    const t = await runGadget(["--oci-store", dir, "image", "tag", "trace_open", "x:y"]);
    expect(t.code).toBe(0);
    expect(JSON.parse((await runGadget(["--oci-store", dir, "image", "list", "-o", "json"])).stdout)).toHaveLength(2);
  });
});

describe("bad input: one-line errors and exit codes", () => {
  it("unknown image → exit 1, names it", async () => {
    extractFixture();
    const r = await runGadget(["--oci-store", dir, "image", "rm", "nothere"]);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe('Error: resolving image ("nothere"): not found');
    expect(r.stderr).not.toMatch(/\s+at /);
    const i = await runGadget(["--oci-store", dir, "image", "inspect", "nothere:v2", "--pull", "never"]);
    expect(i.code).toBe(1);
    expect(i.stderr.split("\n")[0]).toBe("Error: resolving image on local registry (ghcr.io/inspektor-gadget/gadget/nothere:v2): not found");
  });

  it("bad name → exit 1 naming the name", async () => {
    const r = await runGadget(["--oci-store", dir, "image", "tag", "x", "Bad Name!"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"Bad Name!"');
  });

  it("unknown flag, missing argument, unknown command → exit 2", async () => {
    expect((await runGadget(["image", "list", "--nope"])).code).toBe(2);
    expect((await runGadget(["image", "tag", "only-one"])).code).toBe(2);
    const u = await runGadget(["image", "frobnicate"]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("unknown command");
    expect((await runGadget(["image", "list", "-o", "yaml", "--oci-store", dir])).code).toBe(2);
  });

  it("an unreadable store is named in the error", async () => {
    writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, "index.json"), "{not json");
    const r = await runGadget(["--oci-store", dir, "image", "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(dir);
    expect(r.stderr.split("\n")[0]).toMatch(/^Error: opening OCI store \(.*\): index.json is corrupt/);
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    const r2 = await runGadget(["--oci-store", join(file, "store"), "image", "list"]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(join(file, "store"));
    const ro = join(dir, "ro");
    mkdirSync(ro);
    writeFileSync(join(ro, "oci-layout"), '{"imageLayoutVersion":"2.0.0"}');
    chmodSync(ro, 0o555);
    const r3 = await runGadget(["--oci-store", ro, "image", "list"]);
    expect(r3.stderr).toContain("unsupported imageLayoutVersion");
  });

  it("--help on every command and --version", async () => {
    const cmds = [["image", "list"], ["image", "tag"], ["image", "rm"], ["image", "inspect"], ["image", "build"], ["image", "check"], ["image", "pull"], ["image", "push"], ["image", "export"], ["image", "import"], ["login"], ["logout"], ["run"], ["init"]];
    for (const c of cmds) {
      const r = await runGadget([...c, "--help"]);
      expect(r.code, c.join(" ")).toBe(0);
      expect(r.stdout).toContain("Usage: gadget");
    }
    const v = await runGadget(["--version"]);
    expect(v.stdout).toMatch(/^gadget v\d+\.\d+\.\d+/);
    expect(existsSync(dir)).toBe(true);
  });
});
