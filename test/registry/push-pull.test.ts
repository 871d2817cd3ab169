import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { pullImage } from "../../core/image/pull.js";
import { pushImage } from "../../core/image/push.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { GadgetError } from "../../core/errors.js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdir } from "node:fs/promises";
import { IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "./fixtures.js";

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("gadget-pushpull-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

const blobUploads = (rs: { method: string; uri: string }[]) => rs.filter((r) => /\/blobs\/uploads\//.test(r.uri) && (r.method === "PUT" || r.method === "PATCH"));

describe("push and pull against a real registry (plain HTTP)", () => {
  it("round-trips an image between two stores with identical digests", async () => {
    const a = join(tmp.dir, "a");
    const b = join(tmp.dir, "b");
    const ref = `${reg.host}/gadgets/roundtrip:v1`;
    const img = await makeImage(a, ref, { layerSize: 300_000 });
    const pushed = await pushImage({ storeDir: a, reference: ref, insecureRegistries: [reg.host] });
    expect(pushed).toMatchObject({ reference: ref, digest: img.index.digest });
    const pulled = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [reg.host] });
    expect(pulled).toEqual({ reference: ref, digest: img.index.digest });
    const sb = await LayoutStore.open(b);
    expect((await sb.resolve(ref)).digest).toBe(img.index.digest);
    const sa = await LayoutStore.open(a);
    for (const d of img.digests) {
      expect(await sb.hasBlob(d as never)).toBe(true);
      expect(Buffer.compare(await readFile(sb.blobPath(d as never)), await readFile(sa.blobPath(d as never)))).toBe(0);
    }
    expect((await sb.listBlobs()).sort()).toEqual([...img.digests].sort());
  });

  it("re-pushing an unchanged image uploads zero blobs; a second repo mounts instead of uploading", async () => {
    const a = join(tmp.dir, "c");
    const ref = `${reg.host}/gadgets/again:v1`;
    await makeImage(a, ref, { layerSize: 50_000 });
    await pushImage({ storeDir: a, reference: ref, insecureRegistries: [reg.host] });
    const before = (await reg.requests()).length;
    const again = await pushImage({ storeDir: a, reference: ref, insecureRegistries: [reg.host] });
    const during = (await reg.requests()).slice(before);
    expect(blobUploads(during)).toEqual([]);
    expect(during.filter((r) => r.method === "POST")).toEqual([]);
    expect(again.stats?.uploaded).toBe(0);
    expect(again.stats?.skipped).toBeGreaterThan(0);

    // same image under another repository of the same registry
    const store = await LayoutStore.open(a);
    const other = `${reg.host}/gadgets/mirror:v1`;
    await store.tag(await store.resolve(ref), other);
    const n = (await reg.requests()).length;
    const mirrored = await pushImage({ storeDir: a, reference: other, insecureRegistries: [reg.host] });
    const mountReqs = (await reg.requests()).slice(n);
    expect(blobUploads(mountReqs)).toEqual([]);
    const mounts = mountReqs.filter((r) => r.method === "POST" && r.uri.includes("mount=") && r.status === 201);
    expect(mounts.length).toBe(3); // config + two layers
    expect(mirrored.stats?.mounted).toBe(3);
  });

  it("pushes and pulls a real ig image (fixture export) unchanged", async () => {
    const layout = join(tmp.dir, "ig-layout");
    await mkdir(layout, { recursive: true });
    await promisify(execFile)("tar", ["-xf", IG_FIXTURE_TAR, "-C", layout]);
    const store = await LayoutStore.open(layout);
    const ref = `${reg.host}/ig/trace_open:latest`;
    await store.tag(await store.resolve("trace_open"), ref);
    const pushed = await pushImage({ storeDir: layout, reference: ref, insecureRegistries: [reg.host] });
    expect(pushed.digest).toBe(IG_FIXTURE_INDEX_DIGEST);
    const b = join(tmp.dir, "ig-pulled");
    const pulled = await pullImage({ storeDir: b, reference: ref, insecureRegistries: [reg.host] });
    expect(pulled.digest).toBe(IG_FIXTURE_INDEX_DIGEST);
    const sb = await LayoutStore.open(b);
    const reached = await sb.reachable([await sb.resolve(ref)]);
    const original = await store.reachable([await store.resolve(ref)]);
    expect([...reached.keys()].sort()).toEqual([...original.keys()].sort());
  });

  it("pulls by digest and tags the digest reference", async () => {
    const a = join(tmp.dir, "d");
    const b = join(tmp.dir, "e");
    const ref = `${reg.host}/gadgets/bydigest:v2`;
    const img = await makeImage(a, ref);
    await pushImage({ storeDir: a, reference: ref, insecureRegistries: [reg.host] });
    const r = await pullImage({ storeDir: b, reference: `${reg.host}/gadgets/bydigest@${img.index.digest}`, insecureRegistries: [reg.host] });
    expect(r).toEqual({ reference: `${reg.host}/gadgets/bydigest@${img.index.digest}`, digest: img.index.digest });
    const sb = await LayoutStore.open(b);
    expect((await sb.resolve(`${reg.host}/gadgets/bydigest@${img.index.digest}`)).digest).toBe(img.index.digest);
    // the CLI prints ig's GadgetImageDesc.String() (pkg/oci/oci.go: "%s:%s@%s" with an empty tag
    // for a digest reference) and ig's warning for the unsigned image (signaturePullWarning)
    const byDigest = `${reg.host}/gadgets/bydigest@${img.index.digest}`;
    const cli = await runGadget(["image", "pull", byDigest, "--insecure-registries", reg.host, "--oci-store", join(tmp.dir, "d2")]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toBe(`Pulling ${byDigest}...\nWarning: no signature found for gadget ${byDigest}\nSuccessfully pulled ${reg.host}/gadgets/bydigest:@${img.index.digest}\n`);
  });

  it("an unknown tag is not found, and the store stays as it was", async () => {
    const b = join(tmp.dir, "f");
    const err = await pullImage({ storeDir: b, reference: `${reg.host}/gadgets/nothing:nope`, insecureRegistries: [reg.host] }).catch((e) => e);
    expect(err).toBeInstanceOf(GadgetError);
    expect((err as GadgetError).code).toBe("NOT_FOUND");
    expect((err as GadgetError).message).toContain(`${reg.host}/gadgets/nothing:nope`);
    const blobs = await readdir(join(b, "blobs", "sha256"));
    expect(blobs).toEqual([]);
  });
});

describe("gadget image push/pull (CLI)", () => {
  it("prints ig's lines and fails with a hint without --insecure-registries", async () => {
    const a = join(tmp.dir, "cli-a");
    const b = join(tmp.dir, "cli-b");
    const ref = `${reg.host}/cli/gadget:latest`;
    const img = await makeImage(a, ref);
    const push = await runGadget(["image", "push", ref, "--oci-store", a, "--insecure-registries", reg.host]);
    // result lines on stderr (DESIGN §2), nothing on stdout
    expect(push.stdout).toBe("");
    expect(push.stderr).toBe(`Pushing ${ref}...\nSuccessfully pushed ${ref}@${img.index.digest}\n`);
    expect(push.code).toBe(0);

    const pull = await runGadget(["image", "pull", `${reg.host}/cli/gadget`, "--oci-store", b, "--insecure-registries", reg.host]);
    // the image is unsigned: ig's warning (pkg/oci/signature_error.go, signaturePullWarning:
    // "no signature found for gadget %s" with the normalized reference)
    expect(pull.stdout).toBe("");
    expect(pull.stderr).toBe(`Pulling ${reg.host}/cli/gadget...\nWarning: no signature found for gadget ${ref}\nSuccessfully pulled ${ref}@${img.index.digest}\n`);
    expect(pull.code).toBe(0);

    // older ig's boolean --insecure means plain HTTP for the reference's registry
    const old = await runGadget(["image", "pull", ref, "--oci-store", join(tmp.dir, "cli-c"), "--insecure"]);
    expect(old.stderr).toContain(`Successfully pulled ${ref}@${img.index.digest}`);

    const json = await runGadget(["image", "pull", ref, "--oci-store", b, "--insecure-registries", reg.host, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ reference: ref, digest: img.index.digest });

    const tls = await runGadget(["image", "pull", ref, "--oci-store", b]);
    expect(tls.code).toBe(1);
    expect(tls.stderr).toContain(`Error: TLS handshake failed (${reg.host})`);
    expect(tls.stderr).toContain(`hint: if ${reg.host} serves plain HTTP, pass --insecure-registries ${reg.host}`);
  });
});

describe("push of a damaged local copy", () => {
  it("layers are not hashed again on the way out: the registry refuses the bytes, and the error names the blob and fsck", async () => {
    for (const size of [50_000, 12 * 1024 * 1024]) {
      // small layers go up in one PUT, large ones as a streamed PATCH: the registry checks both
      const a = join(tmp.dir, `damaged-${size}`);
      const ref = `${reg.host}/gadgets/damaged-${size}:v1`;
      const img = await makeImage(a, ref, { layerSize: size });
      const store = await LayoutStore.open(a);
      const layer = (await Promise.all(img.digests.map(async (d) => ({ d, bytes: await readFile(store.blobPath(d as never)) })))).sort((x, y) => y.bytes.length - x.bytes.length)[0]!;
      const { chmod, writeFile } = await import("node:fs/promises");
      await chmod(store.blobPath(layer.d as never), 0o644);
      layer.bytes[100] = layer.bytes[100]! ^ 0xff; // same size, other bytes
      await writeFile(store.blobPath(layer.d as never), layer.bytes);
      const r = await runGadget(["image", "push", ref, "--insecure-registries", reg.host, "--oci-store", a]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`Error: (uploading blob|finishing blob upload) \\(${reg.host}/gadgets/damaged-${size}@${layer.d}\\): the registry found the bytes do not match the digest`));
      expect(r.stderr).toMatch(/hint: the local copy may be damaged: run gadget image fsck\n$/);
      // nothing was tagged there
      const tags = await fetch(`${reg.url}/v2/gadgets/damaged-${size}/tags/list`);
      expect(tags.status === 404 || !((await tags.json()) as { tags?: string[] }).tags?.includes("v1")).toBe(true);
    }
  });
});
