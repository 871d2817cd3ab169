/**
 * `gadget image copy` against real docker-registry instances, cross-checked with skopeo:
 * registry → registry keeps the index digest, carries signatures, writes nothing to the local
 * store and re-sends nothing on a rerun; within one registry blobs are mounted; --all-tags,
 * --skip-signatures, errors; store → archive → registry → store → layout round trip; a corrupted
 * download leaves the destination store as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { LayoutStore, refNameOf } from "../../core/store/layout-store.js";
import { digestHex } from "../../core/oci/digest.js";
import { makeImage as makeSignable, writeKeys, type KeyFiles } from "../sign/fixtures.js";
import { makeImage } from "./fixtures.js";
import { startFaultProxy } from "./fault-proxy.js";

const exec = promisify(execFile);
let a: RunningRegistry;
let b: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
let keys: KeyFiles;

beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await tempDir("gadget-copy-");
  keys = await writeKeys(tmp.dir, "ecdsa");
}, 60_000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await tmp?.cleanup();
});

const insecure = () => ["--insecure-registries", `${a.host},${b.host}`];
const writes = (rs: { method: string }[]) => rs.filter((r) => r.method === "PUT" || r.method === "POST" || r.method === "PATCH");

async function skopeoDigest(ref: string): Promise<string> {
  const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", ref]);
  const { createHash } = await import("node:crypto");
  return `sha256:${createHash("sha256").update(Buffer.from(stdout)).digest("hex")}`;
}

async function skopeoRaw(ref: string): Promise<string> {
  return (await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", ref])).stdout;
}

/** A signed image (legacy .sig + oci11 referrer) pushed to registry A. */
async function signedImageInA(repo: string, seed: string): Promise<string> {
  const storeDir = join(tmp.dir, `src-${seed}`);
  const ref = `${a.host}/${repo}:v1`;
  const desc = await makeSignable(await LayoutStore.open(storeDir), ref, seed);
  for (const format of ["legacy", "oci11"]) {
    const s = await runGadget(["image", "sign", ref, "--key", keys.key, "--format", format, "--oci-store", storeDir]);
    expect(s.code, s.stderr).toBe(0);
  }
  const p = await runGadget(["image", "push", ref, ...insecure(), "--oci-store", storeDir]);
  expect(p.code, p.stderr).toBe(0);
  return desc.digest;
}

async function storeBlobs(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "blobs", "sha256")).catch(() => [] as string[])).sort();
}

describe("gadget image copy", () => {
  it("registry → registry: same index digest, signatures arrive, nothing in the local store, a rerun sends nothing", async () => {
    const digest = await signedImageInA("copy/src", "r2r");
    const local = join(tmp.dir, "untouched-store");
    const before = (await b.requests(0)).length;
    const r = await runGadget(["image", "copy", `${a.host}/copy/src:v1`, `docker://${b.host}/copy/dst:v1`, ...insecure(), "--oci-store", local, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { images: { digest: string; signatures: { refName: string }[] }[] };
    expect(out.images[0]!.digest).toBe(digest);
    expect(await skopeoDigest(`docker://${b.host}/copy/dst:v1`)).toBe(digest);
    // the legacy signature tag and the referrers-tag index are there (distribution 2.8 has no referrers API)
    const hex = digestHex(digest as never);
    expect(JSON.parse(await skopeoRaw(`docker://${b.host}/copy/dst:sha256-${hex}.sig`)).layers.length).toBe(1);
    const refIndex = JSON.parse(await skopeoRaw(`docker://${b.host}/copy/dst:sha256-${hex}`)) as { manifests: unknown[] };
    expect(refIndex.manifests.length).toBe(1);
    // the referrers index keeps its digest
    expect(await skopeoDigest(`docker://${b.host}/copy/dst:sha256-${hex}`)).toBe(await skopeoDigest(`docker://${a.host}/copy/src:sha256-${hex}`));
    // our verify (fresh store, pulls from B)
    const v = await runGadget(["image", "verify", `${b.host}/copy/dst:v1`, "--public-keys", keys.pub, ...insecure(), "--oci-store", join(tmp.dir, "verify-store")]);
    expect(v.code, v.stderr + v.stdout).toBe(0);
    // the local store was not used
    expect(await storeBlobs(local)).toEqual([]);
    // blobs were uploaded once each, straight into B
    const first = (await b.requests()).slice(before);
    expect(first.filter((x) => x.method === "PUT" && x.uri.includes("/blobs/uploads/")).length).toBeGreaterThan(0);

    const mid = (await b.requests()).length;
    const again = await runGadget(["image", "copy", `${a.host}/copy/src:v1`, `${b.host}/copy/dst:v1`, ...insecure(), "--oci-store", local]);
    expect(again.code, again.stderr).toBe(0);
    expect(writes((await b.requests()).slice(mid))).toEqual([]);
    expect(again.stderr).toMatch(/Copied .*copy\/src:v1 to .*copy\/dst:v1@sha256:/);
  });

  it("registry → store and store → registry carry the signatures (verified offline, then from the registry)", async () => {
    const digest = await signedImageInA("tostore/src", "tostore");
    const store = join(tmp.dir, "sig-store");
    const r = await runGadget(["image", "copy", `${a.host}/tostore/src:v1`, "store:", ...insecure(), "--oci-store", store]);
    expect(r.code, r.stderr).toBe(0);
    const names = (await (await LayoutStore.open(store)).entries()).map(refNameOf).sort();
    const hex = digestHex(digest as never);
    expect(names).toEqual([`${a.host}/tostore/src:v1`, `sha256-${hex}`, `sha256-${hex}.sig`]);
    const v = await runGadget(["image", "verify", `${a.host}/tostore/src:v1`, "--pull", "never", "--public-keys", keys.pub, "--oci-store", store]);
    expect(v.code, v.stderr + v.stdout).toBe(0);
    const back = await runGadget(["image", "copy", `store:${a.host}/tostore/src:v1`, `${b.host}/tostore/back:v1`, ...insecure(), "--oci-store", store]);
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(await skopeoRaw(`docker://${b.host}/tostore/back:sha256-${hex}.sig`)).layers.length).toBe(1);
    expect(await skopeoDigest(`docker://${b.host}/tostore/back:v1`)).toBe(digest);
  });

  it("within one registry, blobs are mounted from the source repository, not uploaded", async () => {
    const storeDir = join(tmp.dir, "mount-src");
    const ref = `${a.host}/mount/one:v1`;
    await makeImage(storeDir, ref, { layerSize: 100_000 });
    expect((await runGadget(["image", "push", ref, ...insecure(), "--oci-store", storeDir])).code).toBe(0);
    const n = (await a.requests(0)).length;
    const r = await runGadget(["image", "copy", ref, `${a.host}/mount/two:v1`, ...insecure(), "--oci-store", join(tmp.dir, "mount-none")]);
    expect(r.code, r.stderr).toBe(0);
    const during = (await a.requests()).slice(n);
    const mounts = during.filter((x) => x.method === "POST" && x.uri.includes("mount=") && x.uri.includes("from=mount%2Fone"));
    expect(mounts.length).toBe(3); // config + two layers
    expect(mounts.every((m) => m.status === 201)).toBe(true);
    expect(during.filter((x) => (x.method === "PUT" || x.method === "PATCH") && x.uri.includes("/blobs/uploads/"))).toEqual([]);
    expect(r.stderr).toContain("3 mounted");
  });

  it("--all-tags copies every tag; --skip-signatures leaves signatures behind", async () => {
    const storeDir = join(tmp.dir, "alltags");
    for (const t of ["v1", "v2", "v3"]) {
      const ref = `${a.host}/all/src:${t}`;
      await makeImage(storeDir, ref);
      expect((await runGadget(["image", "push", ref, ...insecure(), "--oci-store", storeDir])).code).toBe(0);
    }
    const r = await runGadget(["image", "copy", `${a.host}/all/src`, `${b.host}/all/dst`, "--all-tags", ...insecure(), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { images: unknown[] }).images.length).toBe(3);
    const tags = JSON.parse((await exec("skopeo", ["list-tags", "--tls-verify=false", `docker://${b.host}/all/dst`])).stdout) as { Tags: string[] };
    expect(tags.Tags.sort()).toEqual(["v1", "v2", "v3"]);

    const digest = await signedImageInA("nosig/src", "nosig");
    const s = await runGadget(["image", "copy", `${a.host}/nosig/src:v1`, `${b.host}/nosig/dst:v1`, "--skip-signatures", ...insecure()]);
    expect(s.code, s.stderr).toBe(0);
    const listed = JSON.parse((await exec("skopeo", ["list-tags", "--tls-verify=false", `docker://${b.host}/nosig/dst`])).stdout) as { Tags: string[] };
    expect(listed.Tags).toEqual(["v1"]);
    expect(await skopeoDigest(`docker://${b.host}/nosig/dst:v1`)).toBe(digest);
  });

  it("errors: unknown tag, unknown transport, --all-tags with a tag, missing archive", async () => {
    const missing = await runGadget(["image", "copy", `${a.host}/nope/x:v9`, `${b.host}/nope/y:v9`, ...insecure()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\/x:v9.*not found/);
    const transport = await runGadget(["image", "copy", "ftp://x/y", `${b.host}/nope/y:v9`]);
    expect(transport.code).toBe(2);
    expect(transport.stderr).toContain("unsupported source transport");
    const tagged = await runGadget(["image", "copy", `${a.host}/all/src:v1`, `${b.host}/all/x`, "--all-tags", ...insecure()]);
    expect(tagged.code).toBe(2);
    expect(tagged.stderr).toContain("--all-tags");
    const archive = await runGadget(["image", "copy", `oci-archive:${join(tmp.dir, "missing.tar")}`, `${b.host}/x/y:v1`, ...insecure()]);
    expect(archive.code).toBe(1);
    expect(archive.stderr).toContain("missing.tar");
  });

  it("store → oci-archive → registry → store → oci layout keeps the digest (skopeo reads the layout)", async () => {
    const s1 = join(tmp.dir, "rt-1");
    const ref = `${b.host}/rt/img:v1`;
    const img = await makeImage(s1, ref, { layerSize: 20_000 });
    const tar = join(tmp.dir, "rt.tar");
    const steps = [
      ["image", "copy", `store:${ref}`, `oci-archive:${tar}`, "--oci-store", s1],
      ["image", "copy", `oci-archive:${tar}`, ref, ...insecure()],
      ["image", "copy", ref, "store:", ...insecure(), "--oci-store", join(tmp.dir, "rt-2")],
      ["image", "copy", `store:${ref}`, `oci:${join(tmp.dir, "rt-layout")}:v1`, "--oci-store", join(tmp.dir, "rt-2")],
    ];
    for (const args of steps) {
      const r = await runGadget(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    expect(await skopeoDigest(`docker://${ref}`)).toBe(img.index.digest);
    const s2 = await LayoutStore.open(join(tmp.dir, "rt-2"));
    expect((await s2.resolve(ref)).digest).toBe(img.index.digest);
    expect(await skopeoDigest(`oci:${join(tmp.dir, "rt-layout")}:v1`)).toBe(img.index.digest);
  });

  it("a corrupted download leaves the destination store as it was; a registry destination refuses it", async () => {
    const storeDir = join(tmp.dir, "corrupt-src");
    const ref = `${a.host}/corrupt/x:v1`;
    await makeImage(storeDir, ref, { layerSize: 50_000 });
    expect((await runGadget(["image", "push", ref, ...insecure(), "--oci-store", storeDir])).code).toBe(0);
    const proxy = await startFaultProxy(a.host, { corruptBlobs: true });
    try {
      const dst = join(tmp.dir, "corrupt-dst");
      const keep = `${b.host}/keep/me:v1`;
      await makeImage(dst, keep);
      const blobs = await storeBlobs(dst);
      const index = await readFile(join(dst, "index.json"), "utf8");
      const r = await runGadget(["image", "copy", `${proxy.host}/corrupt/x:v1`, "store:", "--insecure-registries", proxy.host, "--oci-store", dst]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/digest|verification/);
      expect(await storeBlobs(dst)).toEqual(blobs);
      expect(await readFile(join(dst, "index.json"), "utf8")).toBe(index);
      expect((await (await LayoutStore.open(dst)).entries()).map(refNameOf)).toEqual([keep]);
      // registry → registry the bytes are not hashed twice: the destination registry checks the
      // digest when the upload is committed, refuses it, and no tag appears there
      const r2 = await runGadget(["image", "copy", `${proxy.host}/corrupt/x:v1`, `${b.host}/corrupt/y:v1`, "--insecure-registries", `${proxy.host},${b.host}`]);
      expect(r2.code).toBe(1);
      expect(r2.stderr).toMatch(/digest/i);
      const tags = await exec("skopeo", ["list-tags", "--tls-verify=false", `docker://${b.host}/corrupt/y`]).then((x) => x.stdout, () => "absent");
      expect(tags).not.toContain("v1");
    } finally {
      await proxy.close();
    }
  });
});
