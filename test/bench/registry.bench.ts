/**
 * Registry transfer benchmark (`npm run bench`), whole processes against local docker-registry
 * instances, alternating in one loop (report.ts), median of GADGET_BENCH_RUNS (≥ 5):
 *  - `gadget image push` of a gadget with one big random layer (default 100 MB) vs `skopeo copy
 *    --all` of the same OCI layout vs the floor — a Node process doing one streamed upload of the
 *    same bytes with one sha256 pass — each push to a fresh registry;
 *  - `gadget image pull` vs `skopeo copy --all` into an OCI layout vs the floor that also writes
 *    and fsyncs the file (a Node process: one GET, sha256, write, fsync);
 *  - peak RSS of `gadget image push` / `pull` of a big layer (default 1 GB);
 *  - re-push of an unchanged image and N small gadgets, against skopeo;
 *  - the same push and pull in-process (pushImage/pullImage), labelled as such.
 * Sizes: GADGET_BENCH_LAYER_MB (100), GADGET_BENCH_BIG_MB (1024), GADGET_BENCH_SMALL_COUNT (20).
 * Prints figures; never asserts on timing.
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
import { GADGET_BIN, REPO_ROOT, tempDir } from "../helpers/cli.js";
import { alternate, infoRow, loadLine, median, RUNS, ratioRow, runProcess, valueRow } from "./report.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";

const exec = promisify(execFile);
const MB = 1024 * 1024;
const LAYER = Number(process.env.GADGET_BENCH_LAYER_MB ?? 100) * MB;
const BIG = Number(process.env.GADGET_BENCH_BIG_MB ?? 1024) * MB;
const SMALL = Number(process.env.GADGET_BENCH_SMALL_COUNT ?? 20);
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

/**
 * The floor as a whole process: Node + undici doing the one transfer a push or pull needs, with
 * one sha256 pass over the bytes (and, for a pull, writing the file and fsyncing it).
 */
function floorScript(): string {
  return `
    const { request } = await import(${JSON.stringify(join(REPO_ROOT, "node_modules", "undici", "index.js"))});
    const { createHash } = await import("node:crypto");
    const { createReadStream } = await import("node:fs");
    const { open, rm } = await import("node:fs/promises");
    const { Transform } = await import("node:stream");
    const [op, base, repo, digest, size, path] = process.argv.slice(1);
    const h = createHash("sha256");
    if (op === "push") {
      const post = await request(base + "/v2/" + repo + "/blobs/uploads/", { method: "POST", headers: { "content-length": "0" } });
      await post.body.dump();
      const loc = new URL(String(post.headers.location), base);
      loc.searchParams.set("digest", digest);
      const hashing = new Transform({ transform(c, _e, cb) { h.update(c); cb(null, c); } });
      const put = await request(loc.toString(), { method: "PUT", headers: { "content-type": "application/octet-stream", "content-length": size }, body: createReadStream(path, { highWaterMark: 1 << 20 }).pipe(hashing) });
      await put.body.dump();
      if (put.statusCode !== 201) throw new Error("floor push: " + put.statusCode);
    } else {
      const res = await request(base + "/v2/" + repo + "/blobs/" + digest);
      const fh = await open(path, "w");
      for await (const c of res.body) { h.update(c); await fh.write(c); }
      await fh.sync();
      await fh.close();
      await rm(path);
    }
    if ("sha256:" + h.digest("hex") !== digest) throw new Error("floor: digest mismatch");
  `;
}

async function timedProcess(file: string, args: string[], what: string): Promise<number> {
  const r = await runProcess(file, args);
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r.ms;
}

it("registry transfers: the gadget command vs skopeo vs the floor (whole processes)", async () => {
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
    const floor = floorScript();
    // each push goes to a fresh registry: nothing to mount, no client-side blob cache to exploit
    // (skopeo remembers where it pushed blobs and would mount them on the next run)
    const fresh = async (fn: (r: RunningRegistry) => Promise<number>): Promise<number> => {
      const r = await startRegistry();
      try {
        return await fn(r);
      } finally {
        await r.stop();
      }
    };
    const mb = (LAYER / MB).toFixed(0);
    log(`\nregistry benchmark (whole processes, alternating, median of ${RUNS}; ${mb} MiB random layer; local docker-registry, plain HTTP)`);
    const push = await alternate(RUNS, {
      gadget: () =>
        fresh(async (r) => {
          const ref = `${r.host}/bench/ours:v1`;
          await store.tag(index, ref);
          try {
            return await timedProcess(process.execPath, [GADGET_BIN, "image", "push", ref, "--insecure-registries", r.host, "--oci-store", storeA], "gadget image push");
          } finally {
            await store.untag(ref);
          }
        }),
      skopeo: () => fresh((r) => timedProcess("skopeo", ["copy", "--all", "--dest-tls-verify=false", `oci:${storeA}:${base}`, `docker://${r.host}/bench/skopeo:v1`], "skopeo copy")),
      floor: () => fresh((r) => timedProcess(process.execPath, ["--input-type=module", "-e", floor, "push", r.url, "bench/floor", layer.digest, String(layer.size), layerPath], "floor push")),
    });
    lines.push(ratioRow(`push ${mb} MiB, gadget image push vs skopeo copy --all`, push.gadget.median, "skopeo", push.skopeo.median, { max: 1.0 }));
    lines.push(ratioRow(`push ${mb} MiB, gadget image push vs the floor process`, push.gadget.median, "floor", push.floor.median, { max: 1.05 }, "node + undici: one streamed upload, one sha256 pass"));

    // the pull source: the image and the floor blob, pushed once to the shared registry
    const src = `${reg.host}/bench/ours:v1`;
    await store.tag(index, src);
    await pushImage({ storeDir: storeA, reference: src, insecureRegistries: [reg.host] });
    await floorPush(reg, "bench/floor-0", layerPath, layer);
    let n = 0;
    const pull = await alternate(RUNS, {
      gadget: async () => {
        const dst = join(tmp.dir, `pull-ours-${n++}`);
        try {
          return await timedProcess(process.execPath, [GADGET_BIN, "image", "pull", src, "--insecure-registries", reg.host, "--oci-store", dst], "gadget image pull");
        } finally {
          await rm(dst, { recursive: true, force: true });
        }
      },
      skopeo: async () => {
        const dst = join(tmp.dir, `pull-skopeo-${n++}`);
        await mkdir(dst, { recursive: true });
        try {
          return await timedProcess("skopeo", ["copy", "--all", "--src-tls-verify=false", `docker://${src}`, `oci:${dst}:bench`], "skopeo copy");
        } finally {
          await rm(dst, { recursive: true, force: true });
        }
      },
      floor: () => timedProcess(process.execPath, ["--input-type=module", "-e", floor, "pull", reg.url, "bench/floor-0", layer.digest, String(layer.size), join(tmp.dir, "floor.bin")], "floor pull"),
    });
    lines.push(ratioRow(`pull ${mb} MiB, gadget image pull vs skopeo copy --all`, pull.gadget.median, "skopeo", pull.skopeo.median, { max: 0.9 }));
    lines.push(ratioRow(`pull ${mb} MiB, gadget image pull vs the floor process`, pull.gadget.median, "floor", pull.floor.median, { max: 1.1 }, "node + undici: one GET, sha256, write, fsync"));
    lines.push(infoRow("node -e 0 (every Node process pays it)", `${(await alternate(RUNS, { node: () => timedProcess(process.execPath, ["-e", "0"], "node") })).node.median.toFixed(0)} ms`));

    // ---- re-push of an unchanged image -------------------------------------------------------
    await exec("skopeo", ["copy", "--all", "--dest-tls-verify=false", `oci:${storeA}:${base}`, `docker://${reg.host}/bench/skopeo-again:v1`]);
    const again = await alternate(RUNS, {
      gadget: () => timedProcess(process.execPath, [GADGET_BIN, "image", "push", src, "--insecure-registries", reg.host, "--oci-store", storeA], "gadget image push"),
      skopeo: () => timedProcess("skopeo", ["copy", "--all", "--dest-tls-verify=false", `oci:${storeA}:${base}`, `docker://${reg.host}/bench/skopeo-again:v1`], "skopeo copy"),
    });
    lines.push(ratioRow("re-push of an unchanged image (nothing to upload)", again.gadget.median, "skopeo", again.skopeo.median, { max: 1.0 }));

    // ---- in-process (library calls; not what users run) ----------------------------------------
    const inproc = await alternate(3, {
      push: () =>
        fresh(async (r) => {
          const ours = `${r.host}/bench/ours:v1`;
          await store.tag(index, ours);
          return timed(() => pushImage({ storeDir: storeA, reference: ours, insecureRegistries: [r.host], mountFrom: [] }));
        }),
      pushFloor: () => fresh((r) => timed(() => floorPush(r, "bench/floor", layerPath, layer))),
      pull: async () => {
        const dst = join(tmp.dir, `pull-inproc-${n++}`);
        try {
          return await timed(() => pullImage({ storeDir: dst, reference: src, insecureRegistries: [reg.host] }));
        } finally {
          await rm(dst, { recursive: true, force: true });
        }
      },
      pullFloor: () => timed(() => floorPullToDisk(reg, "bench/floor-0", layer, join(tmp.dir, "floor.bin"))),
      pullFloorNoDisk: () => timed(() => floorPull(reg, "bench/floor-0", layer)),
    });
    lines.push(infoRow("in-process push (pushImage; library call, not the CLI)", `${fmt(inproc.push.median)} (${rate(LAYER, inproc.push.median)}) vs in-process floor ${fmt(inproc.pushFloor.median)} → ${(inproc.push.median / inproc.pushFloor.median).toFixed(2)}`));
    lines.push(infoRow("in-process pull (pullImage; library call, not the CLI)", `${fmt(inproc.pull.median)} (${rate(LAYER, inproc.pull.median)}) vs in-process floor with write + fsync ${fmt(inproc.pullFloor.median)} → ${(inproc.pull.median / inproc.pullFloor.median).toFixed(2)}; without the disk ${fmt(inproc.pullFloorNoDisk.median)}`));

    // ---- many small gadgets ------------------------------------------------------------------
    const storeS = join(tmp.dir, "store-small");
    const refs: string[] = [];
    for (let i = 0; i < SMALL; i++) {
      const p = join(tmp.dir, `small-${i}.bin`);
      const l = await randomFile(p, 16 * 1024);
      const ref = `${reg.host}/small/g${i}:v1`;
      await imageFromFile(storeS, ref, p, l);
      refs.push(ref);
    }
    const oursSmall = await timed(async () => {
      for (const r of refs) await timedProcess(process.execPath, [GADGET_BIN, "image", "push", r, "--insecure-registries", reg.host, "--oci-store", storeS], "gadget image push");
    });
    const skopeoSmall = await timed(async () => {
      for (const r of refs) await timedProcess("skopeo", ["copy", "--all", "--dest-tls-verify=false", `oci:${storeS}:${r}`, `docker://${r.replace("/small/", "/small-skopeo/")}`], "skopeo copy");
    });
    lines.push(ratioRow(`${SMALL} small gadgets, one gadget image push each vs one skopeo copy each`, oursSmall, "skopeo", skopeoSmall, { max: 1.0 }));

    // ---- peak RSS for a big layer ------------------------------------------------------------
    await rm(storeA, { recursive: true, force: true });
    await rm(layerPath, { force: true });
    const bigPath = join(tmp.dir, "big.bin");
    const big = await randomFile(bigPath, BIG);
    const storeB = join(tmp.dir, "store-big");
    const bigRef = `${reg.host}/bench/big:v1`;
    await imageFromFile(storeB, bigRef, bigPath, big);
    await rm(bigPath, { force: true });
    const bigMb = (BIG / MB).toFixed(0);
    const p1 = await runProcess(process.execPath, [GADGET_BIN, "image", "push", bigRef, "--insecure-registries", reg.host, "--oci-store", storeB]);
    expect(p1.code, p1.stderr).toBe(0);
    await rm(storeB, { recursive: true, force: true });
    const pulled = join(tmp.dir, "store-big-pulled");
    const p2 = await runProcess(process.execPath, [GADGET_BIN, "image", "pull", bigRef, "--insecure-registries", reg.host, "--oci-store", pulled]);
    expect(p2.code, p2.stderr).toBe(0);
    lines.push(valueRow(`${bigMb} MiB layer, gadget image push peak RSS (${fmt(p1.ms)}, ${rate(BIG, p1.ms)})`, p1.maxRssMB, "MB", { max: 150 }));
    lines.push(valueRow(`${bigMb} MiB layer, gadget image pull peak RSS (${fmt(p2.ms)}, ${rate(BIG, p2.ms)})`, p2.maxRssMB, "MB", { max: 150 }));
    const pulledSize = (await stat(join(pulled, "blobs", "sha256", big.digest.slice(7)))).size;
    expect(pulledSize).toBe(BIG);
    log(loadLine());
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
    console.log(`\nimage copy registry → registry (${(LAYER / MB).toFixed(0)} MiB layer, whole processes, alternating, median of ${runs})`);
    ratioRow("gadget image copy vs skopeo copy --all, registry → registry", median(ours), "skopeo", median(peer), { max: 0.9 }, rate(LAYER, median(ours)));
    ratioRow("nothing to copy (process start + round trips)", median(idleOurs), "skopeo", median(idlePeer), { max: 1.0 });
    expect(ours.length).toBe(runs);
  } finally {
    await src.stop();
    await tmp.cleanup();
  }
}, 600_000);
