/**
 * Export/import throughput against GNU tar on the same layout, and peak memory for one big blob.
 *
 *   GADGET_BENCH_TAR_IMAGES   images in the store (default 50)
 *   GADGET_BENCH_TAR_LAYER_KB size of each per-arch program layer (default 256)
 *   GADGET_BENCH_TAR_REPEAT   timed repetitions, the median is reported (default 5)
 *   GADGET_BENCH_TAR_BIG_MB   size of the single big blob for the RSS run (default 1024)
 *
 * Figures are printed; nothing asserts on timing. Every run checks that what was measured worked.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";
import { pack } from "../../core/oci/pack.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { sha256, type Digest } from "../../core/oci/digest.js";
import { MediaType } from "../../core/oci/media-types.js";

const IMAGES = Number(process.env.GADGET_BENCH_TAR_IMAGES ?? 50);
const LAYER_KB = Number(process.env.GADGET_BENCH_TAR_LAYER_KB ?? 256);
const REPEAT = Number(process.env.GADGET_BENCH_TAR_REPEAT ?? 5);
const BIG_MB = Number(process.env.GADGET_BENCH_TAR_BIG_MB ?? 1024);

let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-bench-tar-"));
});
afterAll(async () => {
  await cleanup();
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function makeImages(storeDir: string): Promise<string[]> {
  const store = await LayoutStore.open(storeDir);
  const refs: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const layers: Record<string, { ebpf: { digest: Digest; size: number } }> = {};
    for (const arch of ["amd64", "arm64"] as const) {
      const bytes = randomBytes(LAYER_KB * 1024);
      const desc = { mediaType: MediaType.EbpfProgram, digest: sha256(bytes), size: bytes.length };
      await store.push(desc, bytes);
      layers[arch] = { ebpf: { digest: desc.digest, size: desc.size } };
    }
    const config = Buffer.from(`name: bench-${i}\ndescription: benchmark gadget ${i}\n`);
    const packed = pack({ config, archs: ["amd64", "arm64"], layers, created: "2024-01-01T00:00:00Z", builderVersion: "bench" });
    if (packed.config) await store.push(packed.config.descriptor, packed.config.bytes);
    for (const m of packed.manifests) await store.push(m.descriptor, m.bytes);
    await store.push(packed.index.descriptor, packed.index.bytes);
    const ref = `localhost:5000/bench/gadget-${i}:v1`;
    await store.tag(packed.index.descriptor, ref);
    refs.push(ref);
  }
  return refs;
}

/** Run a snippet in a fresh Node process and return its peak RSS (bytes) and output. */
function inChild(code: string): { maxRss: number; out: string } {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", `${code}\nprocess.stdout.write("\\nMAXRSS " + process.resourceUsage().maxRSS * 1024 + "\\n");`], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  const m = /MAXRSS (\d+)/.exec(r.stdout);
  return { maxRss: Number(m![1]), out: r.stdout };
}

const MB = 1024 * 1024;
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

describe("tar benchmark", () => {
  it(`export/import of ${IMAGES} images vs tar cf/xf of the same layout`, async () => {
    const storeDir = join(dir, "store");
    const refs = await makeImages(storeDir);
    const blobCount = (await readdir(join(storeDir, "blobs", "sha256"))).length;

    // timed in a child Node process running the built library (dist/), as the CLI runs it —
    // not inside the test runner's module transform
    const ours = join(dir, "ours.tar");
    const plain = join(dir, "plain.tar");
    const lib = JSON.stringify(join(REPO_ROOT, "dist", "core", "index.js"));
    const script = `
      const { exportImages, importImages } = await import(${lib});
      const { execFileSync } = await import("node:child_process");
      const { rmSync, mkdirSync } = await import("node:fs");
      const refs = ${JSON.stringify(refs)};
      const t = { export: [], tarCf: [], tarCfSync: [], import: [], tarXf: [], tarXfSync: [] };
      const time = async (k, fn) => { const s = performance.now(); await fn(); t[k].push(performance.now() - s); };
      for (let r = 0; r < ${REPEAT}; r++) {
        rmSync(${JSON.stringify(ours)}, { force: true });
        rmSync(${JSON.stringify(plain)}, { force: true });
        await time("export", () => exportImages({ storeDir: ${JSON.stringify(storeDir)}, references: refs, file: ${JSON.stringify(ours)} }));
        await time("tarCf", () => execFileSync("tar", ["cf", ${JSON.stringify(plain)}, "-C", ${JSON.stringify(storeDir)}, "blobs", "index.json", "oci-layout"]));
        rmSync(${JSON.stringify(plain)}, { force: true });
        // the same with the archive flushed to disk, as export does before its rename
        await time("tarCfSync", () => execFileSync("sh", ["-c", 'tar cf "$1" -C "$2" blobs index.json oci-layout && sync "$1"', "sh", ${JSON.stringify(plain)}, ${JSON.stringify(storeDir)}]));
        const dst = ${JSON.stringify(dir)} + "/import-" + r;
        const xdst = ${JSON.stringify(dir)} + "/xf-" + r;
        mkdirSync(xdst);
        await time("import", async () => { const res = await importImages({ storeDir: dst, file: ${JSON.stringify(ours)} }); if (res.images.length !== refs.length) throw new Error("import lost images"); });
        await time("tarXf", () => execFileSync("tar", ["xf", ${JSON.stringify(plain)}, "-C", xdst]));
        rmSync(xdst, { recursive: true, force: true });
        mkdirSync(xdst);
        // the same with the files flushed to disk (syncfs of the file system), as import does
        await time("tarXfSync", () => execFileSync("sh", ["-c", 'tar xf "$1" -C "$2" && sync -f "$2"', "sh", ${JSON.stringify(plain)}, xdst]));
        rmSync(dst, { recursive: true, force: true });
        rmSync(xdst, { recursive: true, force: true });
      }
      process.stdout.write("TIMES " + JSON.stringify(t) + "\\n");
    `;
    const child = inChild(script);
    const times = JSON.parse(/TIMES (.*)/.exec(child.out)![1]!) as Record<string, number[]>;
    const exportTimes = times.export!;
    const tarCfTimes = times.tarCf!;
    const tarCfSyncTimes = times.tarCfSync!;
    const importTimes = times.import!;
    const tarXfTimes = times.tarXf!;
    const tarXfSyncTimes = times.tarXfSync!;
    const size = (await stat(ours)).size;
    const ex = median(exportTimes);
    const cf = median(tarCfTimes);
    const im = median(importTimes);
    const xf = median(tarXfTimes);
    // the CLI end to end once, for the user's view (includes Node start-up)
    const cliDst = join(dir, "cli-import");
    const cliExport = await timed(() => void execFileSync(process.execPath, [join(REPO_ROOT, "bin", "gadget.js"), "image", "export", ...refs, join(dir, "cli.tar"), "--oci-store", storeDir]));
    const cliImport = await timed(() => void execFileSync(process.execPath, [join(REPO_ROOT, "bin", "gadget.js"), "image", "import", join(dir, "cli.tar"), "--oci-store", cliDst]));
    console.log(
      [
        "",
        `== tar benchmark: ${IMAGES} images, ${blobCount} blobs, archive ${(size / MB).toFixed(1)} MiB, median of ${REPEAT} ==`,
        `export (library)   ${fmt(ex)}   tar cf ${fmt(cf)}   ratio ${(ex / cf).toFixed(2)}x   (tar cf + sync FILE ${fmt(median(tarCfSyncTimes))}: ratio ${(ex / median(tarCfSyncTimes)).toFixed(2)}x; export verifies every digest)`,
        `import (library)   ${fmt(im)}   tar xf ${fmt(xf)}   ratio ${(im / xf).toFixed(2)}x   (tar xf + sync -f ${fmt(median(tarXfSyncTimes))}: ratio ${(im / median(tarXfSyncTimes)).toFixed(2)}x; import verifies every digest)`,
        `export (CLI, once) ${fmt(cliExport)}   import (CLI, once) ${fmt(cliImport)}   (include Node start-up)`,
        "",
      ].join("\n"),
    );
  });

  it(`peak RSS exporting and importing one ${BIG_MB} MiB blob`, async () => {
    const storeDir = join(dir, "big-store");
    const store = await LayoutStore.open(storeDir);
    const chunk = randomBytes(MB);
    const hash = createHash("sha256");
    for (let i = 0; i < BIG_MB; i++) {
      chunk.writeUInt32LE(i, 0);
      hash.update(chunk);
    }
    const digest = `sha256:${hash.digest("hex")}` as Digest;
    async function* content(): AsyncGenerator<Buffer> {
      for (let i = 0; i < BIG_MB; i++) {
        chunk.writeUInt32LE(i, 0);
        yield Buffer.from(chunk);
      }
    }
    const layer = { mediaType: MediaType.EbpfProgram, digest, size: BIG_MB * MB };
    await store.push(layer, Readable.from(content()));
    const packed = pack({ archs: ["amd64"], layers: { amd64: { ebpf: { digest, size: layer.size } } }, created: "2024-01-01T00:00:00Z", builderVersion: "bench" });
    for (const m of packed.manifests) await store.push(m.descriptor, m.bytes);
    await store.push(packed.index.descriptor, packed.index.bytes);
    await store.tag(packed.index.descriptor, "localhost:5000/bench/big:v1");

    const tarFile = join(dir, "big.tar");
    const lib = JSON.stringify(join(REPO_ROOT, "dist", "core", "index.js"));
    // each in a fresh Node process (peak RSS is per process), timed inside it
    const ms = (out: string) => Number(/MS ([0-9.]+)/.exec(out)![1]);
    const ex = inChild(`const { exportImages } = await import(${lib}); const s = performance.now(); await exportImages({ storeDir: ${JSON.stringify(storeDir)}, references: ["localhost:5000/bench/big:v1"], file: ${JSON.stringify(tarFile)} }); process.stdout.write("MS " + (performance.now() - s) + "\\n");`);
    const dst = join(dir, "big-import");
    const im = inChild(`const { importImages } = await import(${lib}); const s = performance.now(); const r = await importImages({ storeDir: ${JSON.stringify(dst)}, file: ${JSON.stringify(tarFile)} }); process.stdout.write("MS " + (performance.now() - s) + "\\n" + JSON.stringify(r));`);
    const exportMs = ms(ex.out);
    const importMs = ms(im.out);
    expect(im.out).toContain("localhost:5000/bench/big:v1");
    expect((await stat(join(dst, "blobs", "sha256", digest.slice(7)))).size).toBe(layer.size);
    const baseline = inChild("await import('node:fs');").maxRss;
    const plain = join(dir, "big-plain.tar");
    const cf = await timed(() => void execFileSync("sh", ["-c", 'tar cf "$1" -C "$2" blobs index.json oci-layout && sync "$1"', "sh", plain, storeDir]));
    const xdst = join(dir, "big-xf");
    await mkdir(xdst);
    const xf = await timed(() => void execFileSync("sh", ["-c", 'tar xf "$1" -C "$2" && sync -f "$2"', "sh", plain, xdst]));
    console.log(
      [
        "",
        `== big blob: ${BIG_MB} MiB ==`,
        `export  ${fmt(exportMs)}  peak RSS ${(ex.maxRss / MB).toFixed(0)} MiB   (${((BIG_MB * MB) / (exportMs / 1000) / MB).toFixed(0)} MiB/s)   tar cf + sync ${fmt(cf)}  ratio ${(exportMs / cf).toFixed(2)}x`,
        `import  ${fmt(importMs)}  peak RSS ${(im.maxRss / MB).toFixed(0)} MiB   (${((BIG_MB * MB) / (importMs / 1000) / MB).toFixed(0)} MiB/s)   tar xf + sync -f ${fmt(xf)}  ratio ${(importMs / xf).toFixed(2)}x`,
        `bare Node process peak RSS ${(baseline / MB).toFixed(0)} MiB`,
        "",
      ].join("\n"),
    );
  });
});
