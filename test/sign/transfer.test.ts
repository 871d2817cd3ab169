/**
 * pushSignatures / pullSignatures: the helpers push and pull call so signatures travel.
 * Against the real registry (distribution 2.8: no referrers API → the referrers tag schema),
 * and store-to-store with a referrers API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { LayoutStore } from "../../core/store/layout-store.js";
import { parseReference } from "../../core/oci/reference.js";
import { openRemoteRepository } from "../../core/registry/open.js";
import { pushImage } from "../../core/image/push.js";
import { pullImage } from "../../core/image/pull.js";
import { loadPublicKeys, loadSigningKeyFile } from "../../core/sign/key-files.js";
import { signImage } from "../../core/sign/sign.js";
import { verifyImage } from "../../core/sign/verify.js";
import { findReferrers } from "../../core/sign/related.js";
import { pullSignatures, pushSignatures } from "../../core/sign/transfer.js";
import { cosignSignatureTag, referrersTag } from "../../core/sign/constants.js";
import type { Descriptor } from "../../core/oci/model.js";
import { tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage, writeKeys, type KeyFiles } from "./fixtures.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let reg: RunningRegistry;
let ecdsa: KeyFiles;
let ed: KeyFiles;
const none = async () => undefined;

beforeAll(async () => {
  try {
    execFileSync("skopeo", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("skopeo not found: run scripts/bootstrap");
  }
  tmp = await tempDir("gadget-sign-transfer-");
  reg = await startRegistry();
  ecdsa = await writeKeys(tmp.dir, "ecdsa");
  ed = await writeKeys(tmp.dir, "ed25519");
}, 30_000);
afterAll(async () => {
  await reg.stop();
  await tmp.cleanup();
});

async function signAll(storeDir: string, ref: string) {
  const store = await LayoutStore.open(storeDir);
  const img = await makeImage(store, ref, ref);
  await signImage(store, ref, await loadSigningKeyFile(ecdsa.key, none), { format: "legacy" });
  await signImage(store, ref, await loadSigningKeyFile(ecdsa.key, none), { format: "oci11" });
  await signImage(store, ref, await loadSigningKeyFile(ed.key, none), { format: "bundle" });
  return { store, img };
}

describe("pushSignatures / pullSignatures", () => {
  it("push → pull through a registry without the referrers API; verify offline afterwards", async () => {
    const ref = `${reg.host}/sig/transfer:v1`;
    const srcDir = join(tmp.dir, "push-src");
    const { store, img } = await signAll(srcDir, ref);
    const opts = { insecureRegistries: [reg.host] };
    await pushImage({ storeDir: srcDir, reference: ref, ...opts });
    const repo = await openRemoteRepository(parseReference(ref), opts);
    try {
      const pushed = await pushSignatures(store, repo, img.digest);
      expect(pushed.map((p) => p.refName)).toEqual([referrersTag(img.digest), cosignSignatureTag(img.digest)]);
      expect((await repo.tags()).sort()).toEqual([referrersTag(img.digest), cosignSignatureTag(img.digest), "v1"].sort());
      // an independent client sees the same signature manifest bytes in the registry
      const local = await store.fetchBytes(await store.resolve(cosignSignatureTag(img.digest)));
      const raw = execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/sig/transfer:${cosignSignatureTag(img.digest)}`]);
      expect(raw.equals(local)).toBe(true);
    } finally {
      await repo.client.close();
    }

    const dstDir = join(tmp.dir, "push-dst");
    await pullImage({ storeDir: dstDir, reference: ref, ...opts });
    const dst = await LayoutStore.open(dstDir);
    const repo2 = await openRemoteRepository(parseReference(ref), opts);
    try {
      const pulled = await pullSignatures(repo2, dst, img.digest);
      expect(pulled.map((p) => p.refName).sort()).toEqual([cosignSignatureTag(img.digest), referrersTag(img.digest)].sort());
    } finally {
      await repo2.client.close();
    }
    await reg.stop(); // offline from here on
    const keys = await loadPublicKeys([ecdsa.pub], tmp.dir);
    expect((await verifyImage(dst, ref, keys)).format).toBe("legacy");
    expect((await verifyImage(dst, ref, await loadPublicKeys([ed.pub], tmp.dir))).format).toBe("bundle");
    expect((await findReferrers(dst, img.digest)).map((r) => r.artifactType).sort()).toEqual([
      "application/vnd.dev.cosign.artifact.sig.v1+json",
      "application/vnd.dev.sigstore.bundle.v0.3+json",
    ]);
    reg = await startRegistry();
  }, 60_000);

  it("an unsigned image pulls no signatures and is not an error", async () => {
    const srcDir = join(tmp.dir, "unsigned-src");
    const src = await LayoutStore.open(srcDir);
    const img = await makeImage(src, "localhost:5000/u:v1", "unsigned");
    const dst = await LayoutStore.open(join(tmp.dir, "unsigned-dst"));
    expect(await pullSignatures(src, dst, img.digest)).toEqual([]);
    expect(await dst.entries()).toEqual([]);
  });

  it("uses the referrers API when the source has one (the referrers tag is then not consulted)", async () => {
    const ref = "localhost:5000/api/img:v1";
    const { store: src, img } = await signAll(join(tmp.dir, "api-src"), ref);
    const listed = (await findReferrers(src, img.digest)).map((r) => r.descriptor);
    const calls: string[] = [];
    // a source with the referrers API and no referrers tag (as a registry implementing OCI 1.1)
    const apiSource = {
      exists: (d: Descriptor) => src.exists(d),
      fetch: (d: Descriptor) => src.fetch(d),
      resolve: async (r: string) => {
        if (r === referrersTag(img.digest)) throw Object.assign(new Error("must not be asked"), {});
        return src.resolve(r);
      },
      referrers: async (subject: Descriptor) => {
        calls.push(subject.digest);
        return listed;
      },
    };
    const dst = await LayoutStore.open(join(tmp.dir, "api-dst"));
    await dst.push(img, await src.fetchBytes(img)); // the image index itself (pulled before)
    const pulled = await pullSignatures(apiSource, dst, img.digest);
    expect(calls).toEqual([img.digest]);
    expect(pulled.map((p) => p.refName).sort()).toEqual([cosignSignatureTag(img.digest), referrersTag(img.digest)].sort());
    expect((await findReferrers(dst, img.digest)).length).toBe(2);
  });
});
