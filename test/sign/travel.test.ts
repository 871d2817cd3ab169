/**
 * Signatures travel with images: sign (all three formats, one key type each) → push to a real
 * registry → pull into a fresh store → verify offline (registry stopped); and sign → export →
 * import into a fresh store → verify. Everything through the real CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { LayoutStore } from "../../core/store/layout-store.js";
import { cosignSignatureTag, referrersTag } from "../../core/sign/constants.js";
import type { KeyType } from "../../core/sign/keys.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage, writeKeys, type KeyFiles } from "./fixtures.js";

const SIGNED: [KeyType, "legacy" | "oci11" | "bundle"][] = [
  ["ecdsa", "legacy"],
  ["rsa", "oci11"],
  ["ed25519", "bundle"],
];

let tmp: { dir: string; cleanup: () => Promise<void> };
let reg: RunningRegistry | undefined;
const keys = new Map<KeyType, KeyFiles>();
let srcStore: string;
let digest: string;
let ref: string;

beforeAll(async () => {
  tmp = await tempDir("gadget-sign-travel-");
  reg = await startRegistry();
  ref = `${reg.host}/sig/trace:v1`;
  srcStore = join(tmp.dir, "src");
  const store = await LayoutStore.open(srcStore);
  digest = (await makeImage(store, ref, "travel")).digest;
  for (const [type, format] of SIGNED) {
    const k = await writeKeys(tmp.dir, type);
    keys.set(type, k);
    const r = await runGadget(["image", "sign", ref, "--key", k.key, "--format", format, "--oci-store", srcStore]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  await tmp.cleanup();
});

async function verifyEach(store: string, image: string): Promise<void> {
  for (const [type, format] of SIGNED) {
    const r = await runGadget(["image", "verify", image, "--public-keys", keys.get(type)!.pub, "--json", "--oci-store", store]);
    expect(r.stderr, `${format} signature (${type} key)`).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ digest, verified: true, format });
  }
}

describe("signatures travel", () => {
  it("sign → push → pull into a fresh store → verify offline", async () => {
    const host = reg!.host;
    const push = await runGadget(["image", "push", ref, "--insecure-registries", host, "--oci-store", srcStore]);
    expect(push.stderr).toBe(`Pushing ${ref}...\nSuccessfully pushed ${ref}@${digest}\n`);
    expect(push.code).toBe(0);
    const dst = join(tmp.dir, "pulled");
    const pull = await runGadget(["image", "pull", ref, "--insecure-registries", host, "--oci-store", dst]);
    // signed: no "no signature found" warning
    expect(pull.stderr).toBe(`Pulling ${ref}...\nSuccessfully pulled ${ref}@${digest}\n`);
    expect(pull.code).toBe(0);
    await reg!.stop();
    reg = undefined;
    const index = await readFile(join(dst, "index.json"), "utf8");
    expect(index, "the legacy .sig tag came along").toContain(cosignSignatureTag(digest as `sha256:${string}`));
    expect(index, "the referrers tag came along").toContain(`"${referrersTag(digest as `sha256:${string}`)}"`);
    await verifyEach(dst, ref);
  }, 60_000);

  it("sign → export → import into a fresh store → verify", async () => {
    const file = join(tmp.dir, "signed.tar");
    const exp = await runGadget(["image", "export", ref, file, "--oci-store", srcStore]);
    expect(exp.stderr).toBe(`Successfully exported images to ${file}\n`);
    expect(exp.code).toBe(0);
    const dst = join(tmp.dir, "imported");
    const imp = await runGadget(["image", "import", file, "--oci-store", dst]);
    expect(imp.code).toBe(0);
    await verifyEach(dst, ref);
  }, 60_000);
});
