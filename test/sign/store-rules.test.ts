/** Signatures in the local store: list hides their tags, inspect shows them by format, rm keeps the legacy .sig tag and takes the referrers along (ig's rules). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { LayoutStore, releaseWriterLock } from "../../core/store/layout-store.js";
import { copyGraph } from "../../core/oci/copy.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { makeImage, writeKeys } from "./fixtures.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir("gadget-sign-store-");
});
afterAll(() => tmp.cleanup());

describe("signed images in the store", () => {
  it("list hides signature tags; inspect shows each signature's format; rm keeps the .sig tag, referrers go with the image", async () => {
    const storeDir = join(tmp.dir, "store");
    const g = (...args: string[]) => runGadget([...args, "--oci-store", storeDir], { cwd: tmp.dir });
    const store = await LayoutStore.open(storeDir);
    const img = await makeImage(store, "localhost:5000/rules/x:v1", "rules");
    const hex = img.digest.slice(7);
    const k = await writeKeys(tmp.dir, "ed25519");
    for (const format of ["legacy", "oci11", "bundle"]) expect((await g("image", "sign", "localhost:5000/rules/x:v1", "--key", k.key, "--format", format)).code).toBe(0);

    const list = JSON.parse((await g("image", "list", "-o", "json")).stdout) as { Repository: string; Tag: string }[];
    expect(list.map((i) => `${i.Repository}:${i.Tag}`)).toEqual(["localhost:5000/rules/x:v1"]);

    const inspect = JSON.parse((await g("image", "inspect", "localhost:5000/rules/x:v1", "--json")).stdout) as {
      signatures: { annotations: Record<string, string> }[];
      signatureDetails: { format: string }[];
    };
    expect(inspect.signatures.map((s) => s.annotations["org.opencontainers.image.ref.name"]).sort()).toEqual([`sha256-${hex}`, `sha256-${hex}.sig`]);
    expect(inspect.signatureDetails.map((s) => s.format).sort()).toEqual(["bundle", "legacy", "oci11"]);
    const human = (await g("image", "inspect", "localhost:5000/rules/x:v1", "-o", "summary")).stdout;
    expect(human).toMatch(/\nSignatures:\n {2}sha256-[a-f0-9]{64}(\.sig)? {2}sha256:[a-f0-9]{64}\n/);
    expect(human).toMatch(/\n {4}bundle {3}sha256:[a-f0-9]{64}\n/);

    const backup = await LayoutStore.open(join(tmp.dir, "backup"));
    await copyGraph(store, backup, img);
    // this process wrote blobs (it holds the writers lock): rm only collects garbage when no writer is active
    await releaseWriterLock(store.root);
    const rm = await g("image", "rm", "localhost:5000/rules/x:v1");
    // ig (cmd/common/image/remove.go): cmd.Printf → stderr
    expect(rm.stderr).toBe("Successfully removed localhost:5000/rules/x:v1\n");
    expect(rm.stdout).toBe("");
    const names = (await store.entries()).map((e) => e.annotations?.["org.opencontainers.image.ref.name"]).sort();
    // the referrers-tag index and the oci11/bundle referrers it lists went with the image
    expect(names).toEqual([`sha256-${hex}.sig`]);
    const fsck = await g("image", "fsck");
    expect(fsck.stdout).not.toContain("problem:");
    const v = await g("image", "verify", "localhost:5000/rules/x:v1", "--pull", "never", "--public-keys", k.pub);
    expect(v.stderr).toMatch(/^Error: resolving image on local registry \(localhost:5000\/rules\/x:v1\): not found$/m);
    // the same image (same digest) back in the store: its kept signatures apply again
    expect(await store.exists(img)).toBe(false);
    await copyGraph(backup, store, img);
    await store.tag(img, "localhost:5000/rules/x:v1");
    const v2 = await g("image", "verify", "localhost:5000/rules/x:v1", "--public-keys", k.pub, "--json");
    expect(JSON.parse(v2.stdout)).toMatchObject({ verified: true, digest: img.digest });
  });
});
