/**
 * `gadget image build` end to end with the real CLI, clang, llvm-strip: the examples build for
 * both architectures into the §4 artifact, reproducibly, and survive inspect/list/tag/rm.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readFile, rm, readdir, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { readBpfObject, parseElf } from "../../core/index.js";
import { blob, blobJson, copyExamples, digestOf, EXAMPLE_NAMES, requireTools } from "./helpers.js";

const SDE = "1700000000";
let root: string;
let cleanup: () => Promise<void>;
let examples: string;
let store: string;
const built: Record<string, { digest: string; ref: string }> = {};

beforeAll(async () => {
  requireTools("clang", "llvm-strip");
  ({ dir: root, cleanup } = await tempDir("gadget-build-"));
  examples = await copyExamples(root);
  store = join(root, "store");
  // all three examples, concurrently (as users run several builds)
  await Promise.all(
    EXAMPLE_NAMES.map(async (name) => {
      const r = await runGadget(["image", "build", join(examples, name), "-t", `${name}:test`, "--oci-store", store], { env: { SOURCE_DATE_EPOCH: SDE } });
      // ig (cmd/common/image/build.go): cmd.Printf("Successfully built %s\n", desc.String()) → stderr
      expect(r.stdout).toBe("");
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^Successfully built ghcr\\.io/inspektor-gadget/gadget/${name}:test@sha256:[a-f0-9]{64}\\n$`));
      built[name] = { digest: digestOf(r.stderr), ref: `ghcr.io/inspektor-gadget/gadget/${name}:test` };
    }),
  );
});
afterAll(async () => cleanup?.());

async function manifestsOf(digest: string) {
  const index = await blobJson(store, digest);
  return { index, manifests: await Promise.all(index.manifests.map(async (d: any) => ({ desc: d, m: await blobJson(store, d.digest) }))) };
}

describe("gadget image build (examples)", () => {
  it("each example is an OCI index with linux/amd64 then linux/arm64 and gadget media types", async () => {
    for (const name of EXAMPLE_NAMES) {
      const raw = (await blob(store, built[name]!.digest)).toString("utf8");
      expect(raw.startsWith('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[')).toBe(true);
      const { index, manifests } = await manifestsOf(built[name]!.digest);
      expect(index.manifests.map((d: any) => d.platform)).toEqual([{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux" }]);
      for (const { desc, m } of manifests) {
        expect(desc.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
        expect(m.mediaType).toBeUndefined();
        expect(m.artifactType).toBe("application/vnd.gadget.v1+binary");
        expect(m.config.mediaType).toBe("application/vnd.gadget.config.v1+yaml");
        const expected = name === "wasm_hello" ? ["application/vnd.gadget.ebpf.program.v1+binary", "application/vnd.gadget.wasm.program.v1+binary"] : ["application/vnd.gadget.ebpf.program.v1+binary"];
        expect(m.layers.map((l: any) => l.mediaType)).toEqual(expected);
        for (const l of m.layers) expect(Object.keys(l)).toEqual(["mediaType", "digest", "size"]);
        // config = the raw gadget.yaml bytes
        expect((await blob(store, m.config.digest)).equals(await readFile(join(examples, name, "gadget.yaml")))).toBe(true);
      }
    }
  });

  it("each ebpf layer is a stripped EM_BPF object with .BTF, built for its own __TARGET_ARCH", async () => {
    for (const name of EXAMPLE_NAMES) {
      const { manifests } = await manifestsOf(built[name]!.digest);
      for (const { m } of manifests) {
        const bytes = await blob(store, m.layers[0].digest);
        const elf = parseElf(bytes);
        expect(elf.machine).toBe(247);
        const sections = elf.sections.map((s) => s.name);
        expect(sections.filter((s) => s.startsWith(".debug"))).toEqual([]);
        expect(sections).toContain(".BTF");
        expect(sections).toContain(".BTF.ext");
        // no trace of the checkout's path (-ffile-prefix-map)
        expect(bytes.includes(Buffer.from(root))).toBe(false);
      }
    }
    // count_syscall's default syscall number comes from syscall_nr.h per __TARGET_ARCH: openat is 257 on x86_64, 56 on arm64
    const { manifests } = await manifestsOf(built.count_syscall!.digest);
    const values = await Promise.all(manifests.map(async ({ m }: any) => readBpfObject(await blob(store, m.layers[0].digest)).globals.find((g) => g.name === "target_nr")!.value));
    expect(values).toEqual(["257", "56"]);
  });

  it("the wasm layer is the module built from C, shared by both manifests", async () => {
    const { manifests } = await manifestsOf(built.wasm_hello!.digest);
    const [a, b] = manifests.map(({ m }: any) => m.layers[1]);
    expect(a).toEqual(b);
    const mod = await WebAssembly.compile(new Uint8Array(await blob(store, a.digest)));
    expect(WebAssembly.Module.exports(mod).map((e) => e.name)).toEqual(expect.arrayContaining(["gadgetAPIVersion", "gadgetInit", "gadgetStart", "gadgetStop"]));
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: "ig", name: "gadgetLog", kind: "function" }]);
  });

  it("annotations per §4 on the index, manifests, config and the index.json tag entry", async () => {
    const want = {
      "io.example.category": "counters",
      "io.inspektor-gadget.builder.version": "v0.1.0+gadget",
      "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
      "org.opencontainers.image.description": "Count one system call per process",
      "org.opencontainers.image.documentation": "https://github.com/example/gadget/tree/main/examples/count_syscall",
      "org.opencontainers.image.source": "https://github.com/example/gadget/tree/main/examples/count_syscall",
      "org.opencontainers.image.title": "count_syscall",
      "org.opencontainers.image.url": "https://github.com/example/gadget",
    };
    const { index, manifests } = await manifestsOf(built.count_syscall!.digest);
    expect(index.annotations).toEqual(want);
    for (const { desc, m } of manifests) {
      expect(desc.annotations).toEqual(want);
      expect(m.annotations).toEqual(want);
      expect(m.config.annotations).toEqual(want);
    }
    const entries = JSON.parse(await readFile(join(store, "index.json"), "utf8")).manifests;
    const entry = entries.find((e: any) => e.annotations["org.opencontainers.image.ref.name"] === built.count_syscall!.ref);
    expect(entry).toMatchObject({ mediaType: "application/vnd.oci.image.index.v1+json", digest: built.count_syscall!.digest });
    expect(entry.annotations).toEqual({ ...want, "org.opencontainers.image.ref.name": built.count_syscall!.ref });
  });

  it("is reproducible: twice, and from another directory, with SOURCE_DATE_EPOCH → the same digests", async () => {
    const other = await copyExamples(root, "elsewhere/checkout");
    const store2 = join(root, "store2");
    const again = await Promise.all(
      EXAMPLE_NAMES.flatMap((name) => [
        runGadget(["image", "build", join(examples, name), "--oci-store", store2], { env: { SOURCE_DATE_EPOCH: SDE } }),
        runGadget(["image", "build", name, "--oci-store", store2], { env: { SOURCE_DATE_EPOCH: SDE }, cwd: other }),
      ]),
    );
    again.forEach((r) => expect(r.code, r.stderr).toBe(0));
    EXAMPLE_NAMES.forEach((name, i) => {
      expect(digestOf(again[2 * i]!.stderr)).toBe(built[name]!.digest);
      expect(digestOf(again[2 * i + 1]!.stderr)).toBe(built[name]!.digest);
      expect(again[2 * i]!.stderr).toBe(`Successfully built @${built[name]!.digest}\n`);
    });
  });

  it("without SOURCE_DATE_EPOCH the created time is now, so the digest changes", async () => {
    const r = await runGadget(["image", "build", join(examples, "count_syscall"), "--oci-store", join(root, "store3")], { env: { SOURCE_DATE_EPOCH: undefined } });
    expect(r.code).toBe(0);
    expect(digestOf(r.stderr)).not.toBe(built.count_syscall!.digest);
  });

  it("built images survive inspect, list, tag and rm", async () => {
    const s = ["--oci-store", store];
    const list = await runGadget(["image", "list", "--no-trunc", "-o", "json", ...s]);
    expect(JSON.parse(list.stdout).map((x: any) => `${x.Repository}:${x.Tag}`).sort()).toEqual(["count_syscall:test", "trace_exec:test", "wasm_hello:test"]);
    const ins = await runGadget(["image", "inspect", "trace_exec:test", "--json", ...s]);
    expect(ins.code).toBe(0);
    expect(JSON.parse(ins.stdout).descriptor.digest).toBe(built.trace_exec!.digest);
    const tag = await runGadget(["image", "tag", "trace_exec:test", "localhost:5000/te:v2", ...s]);
    expect(tag.stderr).toBe(`Successfully tagged with localhost:5000/te:v2@${built.trace_exec!.digest}\n`);
    expect((await runGadget(["image", "rm", "trace_exec:test", ...s])).code).toBe(0);
    const ins2 = await runGadget(["image", "inspect", "localhost:5000/te:v2", "--json", ...s]);
    expect(JSON.parse(ins2.stdout).descriptor.digest).toBe(built.trace_exec!.digest);
    expect((await runGadget(["image", "rm", "localhost:5000/te:v2", ...s])).code).toBe(0);
    const blobsLeft = await readdir(join(store, "blobs", "sha256"));
    expect(blobsLeft).not.toContain(built.trace_exec!.digest.slice(7));
    expect(blobsLeft).toContain(built.count_syscall!.digest.slice(7));
  });

  it("--json prints one document; -o keeps ig's output files; --arch builds one architecture", async () => {
    const out = join(root, "out");
    await rm(out, { recursive: true, force: true });
    await mkdir(out);
    const r = await runGadget(["image", "build", join(examples, "wasm_hello"), "--json", "-o", out, "--oci-store", store], { env: { SOURCE_DATE_EPOCH: SDE } });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ gadget: "wasm_hello", reference: null, digest: built.wasm_hello!.digest });
    expect(doc.manifests.map((m: any) => m.arch)).toEqual(["amd64", "arm64"]);
    expect((await readdir(out)).sort()).toEqual(["amd64.bpf.o", "arm64.bpf.o", "program.wasm"]);
    const one = await runGadget(["image", "build", join(examples, "count_syscall"), "--arch", "arm64", "-t", "cs:arm", "--oci-store", store], { env: { SOURCE_DATE_EPOCH: SDE } });
    expect(one.code, one.stderr).toBe(0);
    const idx = await blobJson(store, digestOf(one.stderr));
    expect(idx.manifests.map((d: any) => d.platform.architecture)).toEqual(["arm64"]);
  });

  it("--update-metadata creates gadget.yaml from the program, which then validates", async () => {
    const g = join(examples, "trace_exec");
    await rm(join(g, "gadget.yaml"));
    const r = await runGadget(["image", "build", g, "--update-metadata", "--oci-store", store], { env: { SOURCE_DATE_EPOCH: SDE } });
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(join(g, "gadget.yaml"), "utf8");
    expect(text).toMatch(/^name: "?TODO: Fill the gadget name"?$/m);
    expect(text).toMatch(/targ_uid:\n\s+key: targ_uid/);
    expect(text).toMatch(/datasources:\n\s+exec:\n\s+fields:\n\s+timestamp:/);
    const again = await runGadget(["image", "build", g, "--oci-store", store], { env: { SOURCE_DATE_EPOCH: SDE } });
    expect(again.code, again.stderr).toBe(0);
    expect(digestOf(again.stderr)).toBe(digestOf(r.stderr));
  });
});
