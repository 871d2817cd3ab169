/**
 * Registry transfer benchmark (`npm run bench`), everything against the same local
 * docker-registry in the same run:
 *  - push and pull of a gadget with one big random layer (default 100 MB) vs `skopeo copy --all`
 *    of the same OCI layout, and vs the floor: a raw HTTP transfer of the same bytes with one
 *    sha256 pass over them;
 *  - push of N small gadgets in one process vs N `skopeo copy` invocations;
 *  - re-push of an unchanged image;
 *  - peak RSS of a push and a pull of a big layer (default 1 GB) in a child process.
 * Sizes: GADGET_BENCH_LAYER_MB (100), GADGET_BENCH_BIG_MB (1024), GADGET_BENCH_SMALL_COUNT (20),
 * GADGET_BENCH_RUNS (3, the median is reported). Prints figures; never asserts on timing.
 */
import { it, expect } from "vitest";
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { promisify } from "node:util";
import { pullImage } from "../../core/image/pull.js";
import { pushImage } from "../../core/image/push.js";
import { pack } from "../../core/oci/pack.js";
import type { Descriptor } from "../../core/oci/model.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { REPO_ROOT, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";

const exec = promisify(execFile);
const MB = 1024 * 1024;
const LAYER = Number(process.env.GADGET_BENCH_LAYER_MB ?? 100) * MB;
const BIG = Number(process.env.GADGET_BENCH_BIG_MB ?? 1024) * MB;
const SMALL = Number(process.env.GADGET_BENCH_SMALL_COUNT ?? 20);
const RUNS = Math.max(1, Number(process.env.GADGET_BENCH_RUNS ?? 3));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const rate = (bytes: number, ms: number) => `${(bytes / MB / (ms / 1000)).toFixed(0)} MiB/s`;

/** A random file of `size` bytes, hashed while written. */
async function randomFile(path: string, size: number): Promise<{ digest: `sha256:${string}`; size: number }> {
  const h = createHash("sha256");
  const out = createWriteStream(path);
  const chunk = 4 * MB;
  for (let off = 0; off < size; off += chunk) {
    const b = randomBytes(Math.min(chunk, size - off));
    h.update(b);
    if (!out.write(b)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
  return { digest: `sha256:${h.digest("hex")}`, size };
}

/** A two-arch gadget image in `storeDir` whose amd64 layer is the file at `layerPath`. */
async function imageFromFile(storeDir: string, reference: string, layerPath: string, layer: { digest: `sha256:${string}`; size: number }): Promise<Descriptor> {
  const store = await LayoutStore.open(storeDir);
  const arm = randomBytes(1024);
  const armDigest = `sha256:${createHash("sha256").update(arm).digest("hex")}` as const;
  const packed = pack({
    config: Buffer.from(`name: bench\n`),
    archs: ["amd64", "arm64"],
    layers: { amd64: { ebpf: layer }, arm64: { ebpf: { digest: armDigest, size: arm.length } } },
    created: "2024-01-01T00:00:00Z",
    builderVersion: "bench",
  });
  await store.push({ mediaType: "application/octet-stream", ...layer }, createReadStream(layerPath, { highWaterMark: MB }));
  await store.push({ mediaType: "application/octet-stream", digest: armDigest, size: arm.length }, arm);
  await store.push(packed.config!.descriptor, packed.config!.bytes);
  for (const m of packed.manifests) await store.push(m.descriptor, m.bytes);
  await store.push(packed.index.descriptor, packed.index.bytes);
  await store.tag(packed.index.descriptor, reference);
  return packed.index.descriptor;
}

async function skopeo(args: string[]): Promise<void> {
  await exec("skopeo", args, { maxBuffer: 16 * MB }).catch((e: NodeJS.ErrnoException & { stderr?: string }) => {
    if (e.code === "ENOENT") throw new Error("skopeo is not installed: run scripts/bootstrap");
    throw new Error(`skopeo ${args.join(" ")}: ${e.stderr ?? e.message}`);
  });
}

/** Floor push: POST + one streamed PUT of the file, sha256 computed over the bytes as they go. */
async function floorPush(reg: RunningRegistry, repo: string, path: string, layer: { digest: string; size: number }): Promise<void> {
  const { request } = await import("undici");
  const post = await request(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { "content-length": "0" } });
  await post.body.dump();
  const loc = new URL(String(post.headers.location), reg.url);
  loc.searchParams.set("digest", layer.digest);
  const h = createHash("sha256");
  const hashing = new Transform({
    transform(c: Buffer, _e, cb) {
      h.update(c);
      cb(null, c);
    },
  });
  const put = await request(loc.toString(), {
    method: "PUT",
    headers: { "content-type": "application/octet-stream", "content-length": String(layer.size) },
    body: createReadStream(path, { highWaterMark: MB }).pipe(hashing),
  });
  await put.body.dump();
  if (put.statusCode !== 201 || `sha256:${h.digest("hex")}` !== layer.digest) throw new Error(`floor push failed: ${put.statusCode}`);
}

/** Floor pull: one GET of the blob, sha256 over the bytes as they arrive. */
async function floorPull(reg: RunningRegistry, repo: string, layer: { digest: string; size: number }): Promise<void> {
  const { request } = await import("undici");
  const res = await request(`${reg.url}/v2/${repo}/blobs/${layer.digest}`);
  const h = createHash("sha256");
  let n = 0;
  for await (const c of res.body) {
    h.update(c as Buffer);
    n += (c as Buffer).length;
  }
  if (n !== layer.size || `sha256:${h.digest("hex")}` !== layer.digest) throw new Error("floor pull mismatch");
}

/** Floor pull that also lands the bytes on disk: GET, sha256 and write to a file, fsync. */
async function floorPullToDisk(reg: RunningRegistry, repo: string, layer: { digest: string; size: number }, path: string): Promise<void> {
  const { request } = await import("undici");
  const { open } = await import("node:fs/promises");
  const res = await request(`${reg.url}/v2/${repo}/blobs/${layer.digest}`);
  const h = createHash("sha256");
  const fh = await open(path, "w");
  try {
    for await (const c of res.body) {
      h.update(c as Buffer);
      await fh.write(c as Buffer);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (`sha256:${h.digest("hex")}` !== layer.digest) throw new Error("floor pull mismatch");
  await rm(path, { force: true });
}

/** Run push or pull in a child process (the built dist/) and report its peak RSS. */
async function childTransfer(op: "push" | "pull", storeDir: string, reference: string, host: string): Promise<{ ms: number; maxRssMB: number }> {
  const script = `
    const { pushImage, pullImage } = await import(${JSON.stringify(join(REPO_ROOT, "dist", "core", "index.js"))});
    const [op, storeDir, reference, host] = process.argv.slice(1);
    const t = performance.now();
    const opts = { storeDir, reference, insecureRegistries: [host] };
    if (op === "push") await pushImage({ ...opts, mountFrom: [] }); else await pullImage(opts);
    process.stdout.write(JSON.stringify({ ms: performance.now() - t, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, op, storeDir, reference, host], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as { ms: number; maxRssMB: number }) : reject(new Error(`child ${op} failed: ${err}`))));
  });
}

it("registry transfers: gadget vs skopeo vs the raw HTTP floor", async () => {
  if (!existsSync(join(REPO_ROOT, "dist", "core", "index.js"))) await exec(process.execPath, [join(REPO_ROOT, "scripts", "build.mjs")]);
  const tmp = await tempDir("gadget-bench-registry-");
  const reg = await startRegistry();
  const lines: string[] = [];
  const log = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  try {
    // ---- the big-layer gadget ----------------------------------------------------------------
    const layerPath = join(tmp.dir, "layer.bin");
    const layer = await randomFile(layerPath, LAYER);
    const storeA = join(tmp.dir, "store-a");
    const base = `${reg.host}/bench/base:v1`;
    const index = await imageFromFile(storeA, base, layerPath, layer);
    const store = await LayoutStore.open(storeA);
    const push = { ours: [] as number[], skopeo: [] as number[], floor: [] as number[] };
    const pull = { ours: [] as number[], skopeo: [] as number[], floor: [] as number[] };
    const pullDisk: number[] = [];
    // each push goes to a fresh registry: nothing to mount, no client-side blob cache to exploit
    // (skopeo remembers where it pushed blobs and would mount them on the next run)
    const fresh = async <T>(fn: (r: RunningRegistry) => Promise<T>): Promise<T> => {
      const r = await startRegistry();
      try {
        return await fn(r);
      } finally {
        await r.stop();
      }
    };
    for (let i = 0; i < RUNS; i++) {
      push.ours.push(
        await fresh(async (r) => {
          const ours = `${r.host}/bench/ours:v1`;
          await store.tag(index, ours);
          return timed(() => pushImage({ storeDir: storeA, reference: ours, insecureRegistries: [r.host], mountFrom: [] }));
        }),
      );
      push.skopeo.push(await fresh((r) => timed(() => skopeo(["copy", "--all", "--dest-tls-verify=false", `oci:${storeA}:${base}`, `docker://${r.host}/bench/skopeo:v1`]))));
      push.floor.push(await fresh((r) => timed(() => floorPush(r, "bench/floor", layerPath, layer))));
    }
    // the pull source: one push of the image and of the floor blob to the shared registry
    for (let i = 0; i < RUNS; i++) {
      const ours = `${reg.host}/bench/ours-${i}:v1`;
      await store.tag(index, ours);
      await pushImage({ storeDir: storeA, reference: ours, insecureRegistries: [reg.host] });
    }
    await floorPush(reg, "bench/floor-0", layerPath, layer);
    for (let i = 0; i < RUNS; i++) {
      const dst = join(tmp.dir, `pull-ours-${i}`);
      pull.ours.push(await timed(() => pullImage({ storeDir: dst, reference: `${reg.host}/bench/ours-${i}:v1`, insecureRegistries: [reg.host] })));
      await rm(dst, { recursive: true, force: true });
      const sdst = join(tmp.dir, `pull-skopeo-${i}`);
      await mkdir(sdst, { recursive: true });
      pull.skopeo.push(await timed(() => skopeo(["copy", "--all", "--src-tls-verify=false", `docker://${reg.host}/bench/ours-${i}:v1`, `oci:${sdst}:bench`])));
      await rm(sdst, { recursive: true, force: true });
      pull.floor.push(await timed(() => floorPull(reg, "bench/floor-0", layer)));
      pullDisk.push(await timed(() => floorPullToDisk(reg, "bench/floor-0", layer, join(tmp.dir, "floor.bin"))));
    }
    const mb = (LAYER / MB).toFixed(0);
    log(`\nregistry benchmark (median of ${RUNS}; ${mb} MiB random layer; local docker-registry, plain HTTP; pushes to a fresh registry each)`);
    const row = (what: string, r: { ours: number[]; skopeo: number[]; floor: number[] }) => {
      const o = median(r.ours);
      const s = median(r.skopeo);
      const f = median(r.floor);
      log(`  ${what}: gadget ${fmt(o)} (${rate(LAYER, o)}) | skopeo ${fmt(s)} | floor ${fmt(f)} (${rate(LAYER, f)}) | gadget/skopeo ${(o / s).toFixed(2)} (target ≤ 0.9) | gadget/floor ${(o / f).toFixed(2)} (target ≤ 1.2)`);
    };
    row("push", push);
    row("pull", pull);
    const pd = median(pullDisk);
    log(`  pull floor incl. writing the file + fsync: ${fmt(pd)} (${rate(LAYER, pd)}) | gadget/that ${(median(pull.ours) / pd).toFixed(2)}`);

    // ---- re-push -----------------------------------------------------------------------------
    const repush = [] as number[];
    for (let i = 0; i < RUNS; i++) repush.push(await timed(() => pushImage({ storeDir: storeA, reference: `${reg.host}/bench/ours-0:v1`, insecureRegistries: [reg.host] })));
    log(`  re-push of an unchanged image: ${fmt(median(repush))}`);

    // ---- many small gadgets ------------------------------------------------------------------
    const storeS = join(tmp.dir, "store-small");
    const small = await LayoutStore.open(storeS);
    const refs: string[] = [];
    for (let i = 0; i < SMALL; i++) {
      const p = join(tmp.dir, `small-${i}.bin`);
      const l = await randomFile(p, 16 * 1024);
      const ref = `${reg.host}/small/g${i}:v1`;
      await imageFromFile(storeS, ref, p, l);
      refs.push(ref);
    }
    void small;
    const oursSmall = await timed(async () => {
      for (const r of refs) await pushImage({ storeDir: storeS, reference: r, insecureRegistries: [reg.host], mountFrom: [] });
    });
    const skopeoSmall = await timed(async () => {
      for (const r of refs) await skopeo(["copy", "--all", "--dest-tls-verify=false", `oci:${storeS}:${r}`, `docker://${r.replace("/small/", "/small-skopeo/")}`]);
    });
    log(`  ${SMALL} small gadgets: gadget (one process) ${fmt(oursSmall)} | ${SMALL}× skopeo copy ${fmt(skopeoSmall)} | ratio ${(oursSmall / skopeoSmall).toFixed(2)}`);

    // ---- peak RSS for a big layer ------------------------------------------------------------
    await rm(storeA, { recursive: true, force: true });
    await rm(layerPath, { force: true });
    const bigPath = join(tmp.dir, "big.bin");
    const big = await randomFile(bigPath, BIG);
    const storeB = join(tmp.dir, "store-big");
    const bigRef = `${reg.host}/bench/big:v1`;
    await imageFromFile(storeB, bigRef, bigPath, big);
    await rm(bigPath, { force: true });
    const p1 = await childTransfer("push", storeB, bigRef, reg.host);
    await rm(storeB, { recursive: true, force: true });
    const p2 = await childTransfer("pull", join(tmp.dir, "store-big-pulled"), bigRef, reg.host);
    const bigMb = (BIG / MB).toFixed(0);
    log(`  ${bigMb} MiB layer: push ${fmt(p1.ms)} (${rate(BIG, p1.ms)}), peak RSS ${p1.maxRssMB.toFixed(0)} MB | pull ${fmt(p2.ms)} (${rate(BIG, p2.ms)}), peak RSS ${p2.maxRssMB.toFixed(0)} MB (target ≤ 150 MB)`);
    const pulledSize = (await stat(join(tmp.dir, "store-big-pulled", "blobs", "sha256", big.digest.slice(7)))).size;
    expect(pulledSize).toBe(BIG);
    await writeFile(join(tmp.dir, "summary.txt"), lines.join("\n"));
  } finally {
    await reg.stop();
    await tmp.cleanup();
  }
});

/**
 * `gadget image copy` registry → registry (issue 15) vs `skopeo copy --all` of the same image:
 * whole processes, alternating, each copy into a fresh registry (nothing to skip or mount),
 * median of GADGET_BENCH_COPY_RUNS (5). Goal: gadget ≤ 0.9 × skopeo.
 */
it("registry → registry copy: gadget image copy vs skopeo copy --all", async () => {
  if (!existsSync(join(REPO_ROOT, "dist", "core", "index.js"))) await exec(process.execPath, [join(REPO_ROOT, "scripts", "build.mjs")]);
  const runs = Math.max(5, Number(process.env.GADGET_BENCH_COPY_RUNS ?? 5));
  const tmp = await tempDir("gadget-bench-copy-");
  const src = await startRegistry();
  try {
    const layerPath = join(tmp.dir, "layer.bin");
    const layer = await randomFile(layerPath, LAYER);
    const storeDir = join(tmp.dir, "store");
    const ref = `${src.host}/bench/copy:v1`;
    await imageFromFile(storeDir, ref, layerPath, layer);
    await pushImage({ storeDir, reference: ref, insecureRegistries: [src.host] });
    await rm(layerPath, { force: true });
    const gadgetBin = join(REPO_ROOT, "bin", "gadget.js");
    const ours: number[] = [];
    const peer: number[] = [];
    const emptyStore = join(tmp.dir, "unused-store");
    for (let i = 0; i < runs; i++) {
      for (const who of i % 2 === 0 ? (["ours", "peer"] as const) : (["peer", "ours"] as const)) {
        const dst = await startRegistry();
        try {
          if (who === "ours") {
            ours.push(await timed(() => exec(process.execPath, [gadgetBin, "image", "copy", ref, `${dst.host}/bench/copy:v1`, "--insecure-registries", `${src.host},${dst.host}`, "--oci-store", emptyStore])));
          } else {
            peer.push(await timed(() => skopeo(["copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${ref}`, `docker://${dst.host}/bench/copy:v1`])));
          }
        } finally {
          await dst.stop();
        }
      }
    }
    // fixed costs: a copy with nothing to do (process start, a few round trips), same destination
    const idleOurs: number[] = [];
    const idlePeer: number[] = [];
    const dst = await startRegistry();
    try {
      const target = `${dst.host}/bench/idle:v1`;
      await exec(process.execPath, [gadgetBin, "image", "copy", ref, target, "--insecure-registries", `${src.host},${dst.host}`, "--oci-store", emptyStore]);
      for (let i = 0; i < runs; i++) {
        idleOurs.push(await timed(() => exec(process.execPath, [gadgetBin, "image", "copy", ref, target, "--insecure-registries", `${src.host},${dst.host}`, "--oci-store", emptyStore])));
        idlePeer.push(await timed(() => skopeo(["copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false", `docker://${ref}`, `docker://${target}`])));
      }
    } finally {
      await dst.stop();
    }
    const o = median(ours);
    const p = median(peer);
    const ratio = o / p;
    console.log(
      `\nimage copy registry → registry (${(LAYER / MB).toFixed(0)} MiB layer, whole processes, alternating, median of ${runs}): ` +
        `ours ${fmt(o)} (${rate(LAYER, o)}) | peer skopeo copy --all ${fmt(p)} | ratio ${ratio.toFixed(2)} | goal ≤ 0.90 | met ${ratio <= 0.9 ? "yes" : "no"}` +
        `\n  nothing to copy (fixed cost: process start + round trips): ours ${fmt(median(idleOurs))} | skopeo ${fmt(median(idlePeer))}`,
    );
    expect(ours.length).toBe(runs);
  } finally {
    await src.stop();
    await tmp.cleanup();
  }
}, 600_000);
