/**
 * Where a signing key comes from (issue #20, defect 4) and signing twice (defect 5):
 * - `--key "$(cat cosign.key)"` is refused without echoing a byte of the key;
 * - `--key env://VAR` (a CI secret) and `--key -` (stdin) sign; `--help` says so;
 * - a digest already signed by the key is not signed again (no new signature, no garbage),
 *   another key or other claims do sign.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LayoutStore } from "../../core/store/layout-store.js";
import { GadgetError } from "../../core/errors.js";
import { generateKeyPairPem } from "../../core/sign/keys.js";
import { looksLikeKeyMaterial } from "../../core/sign/key-files.js";
import { fsck } from "../../core/store/fsck.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { makeImage, writeKeys, type KeyFiles } from "./fixtures.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let storeDir: string;
let keys: KeyFiles;
let other: KeyFiles;
let pem: string;
const REF = "localhost:5000/keys/trace:v1";

beforeAll(async () => {
  tmp = await tempDir("gadget-key-sources-");
  storeDir = join(tmp.dir, "store");
  await makeImage(await LayoutStore.open(storeDir), REF, "keys");
  keys = await writeKeys(tmp.dir, "ecdsa", "release");
  other = await writeKeys(tmp.dir, "ed25519", "other");
  pem = await readFile(keys.key, "utf8");
});
afterAll(() => tmp.cleanup());

const gadget = (args: string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}) =>
  runGadget([...args, "--oci-store", storeDir], { cwd: tmp.dir, env: { COSIGN_PASSWORD: undefined, ...opts.env }, ...(opts.input !== undefined ? { input: opts.input } : {}) });

/** No line of the PEM body (nor its start) appears anywhere in the output. */
function expectNoKeyMaterial(out: string): void {
  expect(out).not.toContain("BEGIN PRIVATE KEY");
  for (const line of pem.split("\n").filter((l) => l && !l.startsWith("-----"))) expect(out).not.toContain(line.slice(0, 16));
}

describe("--key sources (defect 4)", () => {
  it('--key "$(cat cosign.key)" is refused (exit 2) and the key is never echoed, -v included', async () => {
    for (const extra of [[], ["-v"]]) {
      const r = await gadget(["image", "sign", REF, "--key", pem, ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^Error: invalid usage \(--key\): the value is key material, not a key file \(it is not shown\)\nhint: pass the key in an environment variable \(--key env:\/\/COSIGN_PRIVATE_KEY\) or on stdin \(--key -\)/);
      expectNoKeyMaterial(r.stdout + r.stderr);
    }
  });

  it("what counts as key material: a PEM, or a long base64 run that is no file; a long path without dots is a path", async () => {
    const der = pem.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
    expect(looksLikeKeyMaterial(pem, tmp.dir)).toBe(true);
    expect(looksLikeKeyMaterial(der, tmp.dir)).toBe(true);
    const longDir = join(tmp.dir, "a".repeat(30), "b".repeat(30));
    await mkdir(longDir, { recursive: true });
    await writeFile(join(longDir, "releasekey"), pem);
    const rel = `${"a".repeat(30)}/${"b".repeat(30)}/releasekey`;
    expect(looksLikeKeyMaterial(rel, tmp.dir)).toBe(false);
    expect(looksLikeKeyMaterial("keys/cosign.key", tmp.dir)).toBe(false);
  });

  it("an error that would carry key material anyway prints it redacted", () => {
    const e = new GadgetError({ what: "loading signing key", which: `/cwd/${pem.trim().replace(/\n/g, " ")}`, why: "no such file or directory" });
    expect(e.message).toBe("loading signing key (/cwd/<private key>): no such file or directory");
  });

  it("--key env://VAR signs with the PEM in the variable; an unset variable is named, not shown", async () => {
    const r = await gadget(["image", "sign", REF, "--key", "env://RELEASE_KEY", "--json"], { env: { RELEASE_KEY: pem } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ reference: REF, format: "legacy", existing: false });
    const v = await gadget(["image", "verify", REF, "--public-keys", keys.pub]);
    expect(v.stdout).toContain("Image verified successfully!");

    const unset = await gadget(["image", "sign", REF, "--key", "env://NOT_SET_ANYWHERE"]);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(/^Error: loading signing key \(env:\/\/NOT_SET_ANYWHERE\): the environment variable NOT_SET_ANYWHERE is not set\n/);
    const bad = await gadget(["image", "sign", REF, "--key", "env://RELEASE_KEY"], { env: { RELEASE_KEY: "not a key" } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error: loading signing key \(env:\/\/RELEASE_KEY\): not a PEM private key/);
  });

  it("--key - reads the key from stdin; an encrypted one takes COSIGN_PASSWORD", async () => {
    const r = await gadget(["image", "sign", REF, "--key", "-", "--format", "oci11", "--json"], { input: await readFile(other.key, "utf8") });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ format: "oci11", keyType: "ed25519", existing: false });
    const v = await gadget(["image", "verify", REF, "--public-keys", other.pub, "--json"]);
    expect(JSON.parse(v.stdout)).toMatchObject({ verified: true, format: "oci11" });

    // an encrypted PKCS#8 key in a CI secret, its password in COSIGN_PASSWORD
    const enc = generateKeyPairPem("ecdsa", "pw-123");
    const e = await gadget(["image", "sign", REF, "--key", "-", "--format", "bundle", "--json"], { input: enc.privatePem, env: { COSIGN_PASSWORD: "pw-123" } });
    expect(e.stderr).toBe("");
    expect(JSON.parse(e.stdout)).toMatchObject({ format: "bundle", existing: false });
    const noPw = await gadget(["image", "sign", REF, "--key", "env://ENC_KEY"], { env: { ENC_KEY: enc.privatePem } });
    expect(noPw.code).toBe(1);
    expect(noPw.stderr).toMatch(/^Error: loading signing key \(env:\/\/ENC_KEY\): the key is encrypted and no password was given/);

    const empty = await gadget(["image", "sign", REF, "--key", "-"], { input: "" });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^Error: loading signing key \(stdin\): stdin was empty/);
  });

  it("--help names env://VAR and - (stdin)", async () => {
    const r = await runGadget(["image", "sign", "--help"]);
    expect(r.stdout).toContain("env://VAR");
    expect(r.stdout).toMatch(/- \(stdin\)/);
    expect(r.stdout).toContain("Usage: gadget image sign IMAGE --key FILE|env://VAR|-");
  });
});

describe("signing again (defect 5)", () => {
  it("the same key, format and claims: nothing is written, the existing signature is reported, no new garbage", async () => {
    const before = await readFile(join(storeDir, "index.json"), "utf8");
    // (adding the oci11 and bundle referrers above replaced the referrers index: that old index is garbage already)
    const garbageBefore = (await fsck(storeDir)).garbage;
    const r = await gadget(["image", "sign", REF, "--key", keys.key, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ existing: true, format: "legacy" });
    expect(await readFile(join(storeDir, "index.json"), "utf8")).toBe(before);
    const human = await gadget(["image", "sign", REF, "--key", keys.key]);
    expect(human.stdout).toMatch(/^Already signed localhost:5000\/keys\/trace:v1@sha256:[a-f0-9]{64} with this key \(legacy signature sha256:[a-f0-9]{64} under tag sha256-[a-f0-9]{64}\.sig\); nothing to do\n$/);
    const report = await fsck(storeDir);
    expect(report.problems).toEqual([]);
    expect(report.garbage).toEqual(garbageBefore);
  });

  it("other claims (-a) or --force sign again; another key signs too", async () => {
    const a = await gadget(["image", "sign", REF, "--key", keys.key, "-a", "build=42", "--json"]);
    expect(JSON.parse(a.stdout)).toMatchObject({ existing: false });
    const same = await gadget(["image", "sign", REF, "--key", keys.key, "-a", "build=42", "--json"]);
    expect(JSON.parse(same.stdout)).toMatchObject({ existing: true });
    const forced = await gadget(["image", "sign", REF, "--key", keys.key, "-a", "build=42", "--force", "--json"]);
    expect(JSON.parse(forced.stdout)).toMatchObject({ existing: false });
    expect(JSON.parse(forced.stdout).signature).not.toBe(JSON.parse(same.stdout).signature);
    const another = await gadget(["image", "sign", REF, "--key", other.key, "--json"]);
    expect(JSON.parse(another.stdout)).toMatchObject({ existing: false });
  });
});
