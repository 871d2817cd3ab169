/**
 * Gap 8 of issue 17: `gadget image verify` works on images whose signatures are only in the
 * registry, as ig's: cmd/common/image/verify.go calls
 *   fmt.Printf("Verifying image: %s\n", image)
 *   oci.EnsureImage(ctx, image, &oci.ImageOptions{AuthOptions: authOpts, VerifyOptions: {VerifySignature: true, …}}, pullPolicy)
 *   fmt.Println("Image verified successfully!")
 * with `--pull` (default oci.PullImageMissing) and utils.AddRegistryAuthVariablesAndFlags
 * (--authfile, --insecure-registries); EnsureImage pulls the signing information with
 * pkg/signature/puller (cosign legacy `.sig` tag, OCI 1.1 referrers, sigstore bundle) before verifying.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { makeImage, writeKeys } from "./fixtures.js";

const USER = "verifier";
const PASS = "not-a-real-secret-7";
let tmp: Awaited<ReturnType<typeof tempDir>>;
let plain: RunningRegistry;
let tls: RunningRegistry;

beforeAll(async () => {
  tmp = await tempDir("gadget-verify-remote-");
  plain = await startRegistry();
  tls = await startRegistry({ tls: true, htpasswd: { [USER]: PASS } });
}, 60_000);
afterAll(async () => {
  await plain?.stop();
  await tls?.stop();
  await tmp?.cleanup();
});

/** Push an unsigned image from `src`, keep a copy of that store, then sign in `src` and push again (the signature travels). */
async function signedInRegistryOnly(ref: string, format: string, key: string, registryArgs: string[]): Promise<{ copy: string; digest: string }> {
  const src = join(tmp.dir, `src-${format}`);
  const digest = (await makeImage(await LayoutStore.open(src), ref, format)).digest;
  const push1 = await runGadget(["image", "push", ref, ...registryArgs, "--oci-store", src]);
  expect(push1.code, push1.stderr).toBe(0);
  const copy = join(tmp.dir, `copy-${format}`);
  execFileSync("cp", ["-a", src, copy]);
  const sign = await runGadget(["image", "sign", ref, "--key", key, "--format", format, "--oci-store", src]);
  expect(sign.code, sign.stderr).toBe(0);
  const push2 = await runGadget(["image", "push", ref, ...registryArgs, "--oci-store", src]);
  expect(push2.code, push2.stderr).toBe(0);
  return { copy, digest };
}

describe("gadget image verify fetches missing signatures from the registry", () => {
  it("legacy, OCI 1.1 and bundle signatures over plain HTTP (--insecure-registries)", async () => {
    const keys = await writeKeys(tmp.dir, "ecdsa", "plain");
    for (const format of ["legacy", "oci11", "bundle"]) {
      const ref = `${plain.host}/remote/${format}:v1`;
      const args = ["--insecure-registries", plain.host];
      const { copy, digest } = await signedInRegistryOnly(ref, format, keys.key, args);
      // without the registry flags the copy cannot reach it (plain HTTP): ig's "unreachable" wording
      const blind = await runGadget(["image", "verify", ref, "--public-keys", keys.pub, "--oci-store", copy], { env: { GADGET_REGISTRY_RETRIES: "0" } });
      expect(blind.code, format).toBe(1);
      const v = await runGadget(["image", "verify", ref, "--public-keys", keys.pub, ...args, "--oci-store", copy]);
      expect(v.stderr, format).toBe("");
      expect(v.stdout, format).toBe(`Verifying image: ${ref}\nImage verified successfully!\n`);
      const j = await runGadget(["image", "verify", ref, "--public-keys", keys.pub, "--json", "--oci-store", copy]);
      // the fetched signature stays in the store: a second verify needs no registry
      expect(JSON.parse(j.stdout)).toMatchObject({ verified: true, digest, format });
    }
  }, 120_000);

  it("with a login (--authfile) over TLS (--cert-dir), pulling the image too (--pull missing)", async () => {
    const keys = await writeKeys(tmp.dir, "ed25519", "tls");
    const authfile = join(tmp.dir, "auth.json");
    const login = await runGadget(["login", tls.host, "-u", USER, "--password-stdin", "--authfile", authfile, "--cert-dir", tls.certDir!], { input: `${PASS}\n` });
    expect(login.code, login.stderr).toBe(0);
    const ref = `${tls.host}/private/gadget:v1`;
    const args = ["--authfile", authfile, "--cert-dir", tls.certDir!];
    await signedInRegistryOnly(ref, "legacy", keys.key, args);
    const fresh = join(tmp.dir, "fresh");
    const noAuth = await runGadget(["image", "verify", ref, "--public-keys", keys.pub, "--cert-dir", tls.certDir!, "--authfile", join(tmp.dir, "none.json"), "--oci-store", fresh]);
    expect(noAuth.code).toBe(1);
    const v = await runGadget(["image", "verify", ref, "--public-keys", keys.pub, ...args, "--oci-store", fresh]);
    expect(v.stderr).toBe("");
    expect(v.stdout).toBe(`Verifying image: ${ref}\nImage verified successfully!\n`);
    const never = await runGadget(["image", "verify", `${tls.host}/private/absent:v1`, "--pull", "never", "--public-keys", keys.pub, ...args, "--oci-store", fresh]);
    expect(never.code).toBe(1);
    expect(never.stderr.split("\n")[0]).toBe(`Error: resolving image on local registry (${tls.host}/private/absent:v1): not found`);
  }, 120_000);

  it("an image the registry has no signature for fails with ig's words; notation flags are refused", async () => {
    const keys = await writeKeys(tmp.dir, "ecdsa", "none");
    const ref = `${plain.host}/remote/unsigned:v1`;
    const src = join(tmp.dir, "src-unsigned");
    await makeImage(await LayoutStore.open(src), ref, "unsigned");
    expect((await runGadget(["image", "push", ref, "--insecure-registries", plain.host, "--oci-store", src])).code).toBe(0);
    const v = await runGadget(["image", "verify", ref, "--public-keys", keys.pub, "--insecure-registries", plain.host, "--oci-store", src]);
    expect(v.code).toBe(1);
    expect(v.stdout).toBe(`Verifying image: ${ref}\n`);
    expect(v.stderr).toBe(`Error: verifying image (${ref}): no signature found for gadget ${ref}\nhint: sign it with \`gadget image sign IMAGE --key KEY\` (and push it), or check the name\n`);
    const n = await runGadget(["image", "verify", ref, "--notation-certificates", "c.pem", "--oci-store", src]);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/^Error: invalid usage: --notation-certificates is not supported/);
  }, 60_000);
});
