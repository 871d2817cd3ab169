/** The sign/verify/keygen CLI as users run it: output lines, key files, and one-line errors for bad input. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { LayoutStore } from "../../core/store/layout-store.js";
import { GADGET_BIN, runGadget, tempDir } from "../helpers/cli.js";
import { makeImage } from "./fixtures.js";

const exec = promisify(execFile);
let tmp: { dir: string; cleanup: () => Promise<void> };
let storeDir: string;
let digest: string;
const REF = "localhost:5000/cli/trace:v1";

beforeAll(async () => {
  tmp = await tempDir("gadget-sign-cli-");
  storeDir = join(tmp.dir, "store");
  digest = (await makeImage(await LayoutStore.open(storeDir), REF, "cli")).digest;
});
afterAll(() => tmp.cleanup());

const gadget = (args: string[], env: Record<string, string | undefined> = {}) =>
  runGadget([...args, "--oci-store", storeDir], { cwd: tmp.dir, env: { COSIGN_PASSWORD: undefined, ...env } });

/** stderr is exactly one `Error: …` line (plus an optional `hint:` line), exit code as given. */
function expectOneLineError(r: { code: number; stdout: string; stderr: string }, re: RegExp, code = 1) {
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines[0]).toMatch(re);
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^hint: /);
  expect(r.code).toBe(code);
}

describe("image keygen", () => {
  it.each(["ecdsa", "rsa", "ed25519"])("writes a 0600 private key and a public key (%s) that sign and verify", async (type) => {
    const dir = join(tmp.dir, `kg-${type}`);
    await mkdir(dir);
    const r = await runGadget(["image", "keygen", "--type", type], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("Private key written to cosign.key\nPublic key written to cosign.pub\n");
    expect((await stat(join(dir, "cosign.key"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, "cosign.key"), "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(await readFile(join(dir, "cosign.pub"), "utf8")).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const text = (await exec("openssl", ["pkey", "-in", join(dir, "cosign.key"), "-noout", "-text"])).stdout;
    expect(text).toMatch(type === "ecdsa" ? /NIST CURVE: P-256|ASN1 OID: prime256v1/ : type === "rsa" ? /Private-Key: \(3072 bit/ : /ED25519 Private-Key/);

    const s = await gadget(["image", "sign", REF, "--key", join(dir, "cosign.key")]);
    expect(s.stdout).toMatch(new RegExp(`^Successfully signed ${REF.replace(/[.:/]/g, "\\$&")}@${digest} \\(legacy signature sha256:[a-f0-9]{64} under tag sha256-${digest.slice(7)}\\.sig\\)\\n$`));
    const v = await gadget(["image", "verify", REF, "--public-keys", join(dir, "cosign.pub")]);
    expect(v.stderr).toBe("");
    expect(v.stdout).toBe(`Verifying image: ${REF}\nImage verified successfully!\n`);
    expect(v.code).toBe(0);
  });

  it("refuses to overwrite an existing key, leaving it as it was", async () => {
    const dir = join(tmp.dir, "kg-exists");
    await mkdir(dir);
    await writeFile(join(dir, "mine.key"), "precious");
    const r = await runGadget(["image", "keygen", "--output-prefix", "mine"], { cwd: dir });
    expectOneLineError(r, /^Error: writing key pair \(.*mine\.key\): file already exists$/);
    expect(await readFile(join(dir, "mine.key"), "utf8")).toBe("precious");
    await expect(stat(join(dir, "mine.pub"))).rejects.toThrow();
  });

  it("with COSIGN_PASSWORD writes an encrypted PKCS#8 key that signs only with that password", async () => {
    const dir = join(tmp.dir, "kg-enc");
    await mkdir(dir);
    const r = await runGadget(["image", "keygen"], { cwd: dir, env: { COSIGN_PASSWORD: "hunter2" } });
    expect(r.code).toBe(0);
    expect(await readFile(join(dir, "cosign.key"), "utf8")).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    const key = join(dir, "cosign.key");
    expectOneLineError(await gadget(["image", "sign", REF, "--key", key]), /^Error: loading signing key \(.*cosign\.key\): the key is encrypted and no password was given$/);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", key], { COSIGN_PASSWORD: "wrong" }), /^Error: loading signing key \(.*cosign\.key\): wrong password/);
    const s = await gadget(["image", "sign", REF, "--key", key, "--format", "oci11"], { COSIGN_PASSWORD: "hunter2" });
    expect(s.code).toBe(0);
    const pem = await readFile(join(dir, "cosign.pub"), "utf8");
    // ig's --public-keys takes PEM contents too
    const v = await gadget(["image", "verify", REF, "--public-keys", pem, "--json"]);
    expect(JSON.parse(v.stdout)).toMatchObject({ verified: true, format: "oci11", digest, key: "public key #1" });
  });
});

describe("password prompt", () => {
  it("on a terminal, an encrypted key's password is asked for (not echoed)", async () => {
    const dir = join(tmp.dir, "kg-prompt");
    await mkdir(dir);
    expect((await runGadget(["image", "keygen", "--type", "ed25519"], { cwd: dir, env: { COSIGN_PASSWORD: "s3cret-pw" } })).code).toBe(0);
    // util-linux `script` gives the CLI a pseudo-terminal; answer once the prompt shows
    const cmd = [process.execPath, GADGET_BIN, "image", "sign", REF, "--key", join(dir, "cosign.key"), "--oci-store", storeDir].map((a) => `'${a}'`).join(" ");
    const out = await new Promise<{ code: number | null; text: string }>((resolveRun, reject) => {
      const env = { ...process.env };
      delete env.COSIGN_PASSWORD;
      const child = spawn("script", ["-qec", cmd, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
      let text = "";
      let answered = false;
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.stdout.on("data", (d) => {
        text += d;
        if (!answered && text.includes("Enter password for private key: ")) {
          answered = true;
          child.stdin.write("s3cret-pw\r");
        }
      });
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolveRun({ code, text });
      });
    });
    expect(out.text).toMatch(/Enter password for private key: \r?\n/);
    expect(out.text).not.toContain("s3cret-pw");
    expect(out.text).toMatch(/Successfully signed localhost:5000\/cli\/trace:v1@sha256:[a-f0-9]{64} \(legacy signature/);
    expect(out.code).toBe(0);
  });
});

describe("annotations", () => {
  it("-a key=value lands in the signed payload's optional map (cosign -a)", async () => {
    const key = join(tmp.dir, "ann.key");
    await exec("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key]);
    const r = await gadget(["image", "sign", REF, "--key", key, "-a", "team=ebpf", "--annotations", "ci=1,env=prod", "--json"]);
    expect(r.code).toBe(0);
    const store = await LayoutStore.open(storeDir);
    const { parseManifest } = await import("../../core/oci/model.js");
    const m = parseManifest(await store.fetchBytes(await store.resolve(`sha256-${digest.slice(7)}.sig`)));
    const payload = JSON.parse((await store.fetchBytes(m.layers[0]!)).toString()) as { optional: Record<string, string> };
    expect(payload.optional).toEqual({ ci: "1", env: "prod", team: "ebpf" });
  });
});

describe("bad input gives one-line errors", () => {
  it("an unreadable key", async () => {
    expectOneLineError(await gadget(["image", "sign", REF, "--key", "nope.key"]), /^Error: loading signing key \(.*nope\.key\): cannot read the key: no such file or directory$/);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", tmp.dir]), /^Error: loading signing key \(.*\): cannot read the key: is a directory$/);
    expectOneLineError(await gadget(["image", "verify", REF, "--public-keys", "missing.pub"]), /^Error: loading public key \(.*missing\.pub\): cannot read the key: no such file or directory$/);
  });

  it("a wrong key type", async () => {
    const pub = join(tmp.dir, "a.pub");
    const key = join(tmp.dir, "a.key");
    await exec("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key]);
    await exec("openssl", ["pkey", "-in", key, "-pubout", "-out", pub]);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", pub]), /^Error: loading signing key \(.*a\.pub\): this is a public key, not a private key$/);
    expectOneLineError(await gadget(["image", "verify", REF, "--public-keys", key]), /^Error: loading public key \(.*a\.key\): this is a private key, not a public key$/);
    const x = join(tmp.dir, "x25519.key");
    await exec("openssl", ["genpkey", "-algorithm", "x25519", "-out", x]);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", x]), /^Error: loading signing key \(.*x25519\.key\): unsupported key type x25519$/);
    const ec384 = join(tmp.dir, "brainpool.key");
    await exec("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1", "-out", ec384]);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", ec384]), /^Error: loading signing key \(.*brainpool\.key\): unsupported ECDSA curve brainpoolP256r1$/);
    const junk = join(tmp.dir, "junk.key");
    await writeFile(junk, "not a key\n");
    expectOneLineError(await gadget(["image", "sign", REF, "--key", junk]), /^Error: loading signing key \(.*junk\.key\): not a PEM private key$/);
  });

  it("a cosign-encrypted key (with or without password) is refused with a way out", async () => {
    const key = join(tmp.dir, "cosign-enc.key");
    const body = Buffer.from(JSON.stringify({ kdf: { name: "scrypt", params: { N: 32768, r: 8, p: 1 }, salt: "c2FsdA==" }, cipher: { name: "nacl/secretbox", nonce: "bm9uY2U=" }, ciphertext: "Y2lwaGVy" })).toString("base64");
    await writeFile(key, `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${body.replace(/(.{64})/g, "$1\n")}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`);
    for (const env of [{}, { COSIGN_PASSWORD: "pw" }]) {
      const r = await gadget(["image", "sign", REF, "--key", key], env);
      expectOneLineError(r, /^Error: loading signing key \(.*cosign-enc\.key\): cosign-encrypted keys \(ENCRYPTED SIGSTORE PRIVATE KEY: scrypt \+ NaCl secretbox\) are not supported$/);
      expect(r.stderr).toMatch(/\nhint: sign with a PEM key \(`gadget image keygen`/);
    }
  });

  it("an image not in the store", async () => {
    const key = join(tmp.dir, "nis.key");
    await exec("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key]);
    expectOneLineError(await gadget(["image", "sign", "localhost:5000/cli/absent:v1", "--key", key]), /^Error: resolving image \("localhost:5000\/cli\/absent:v1"\): not found$/);
    // ig's verify pulls a missing image first (--pull missing); --pull never only looks in the store
    const v = await gadget(["image", "verify", "localhost:5000/cli/absent:v1", "--pull", "never", "--public-keys", join(tmp.dir, "a.pub")]);
    expectOneLineError(v, /^Error: resolving image on local registry \(localhost:5000\/cli\/absent:v1\): not found$/);
  });

  it("usage: --key missing, bad --format (exit 2)", async () => {
    expectOneLineError(await gadget(["image", "sign", REF]), /^Error: invalid usage: --key is required$/, 2);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", "k", "--format", "x509"]), /^Error: invalid signature format \(--format\): "x509" is not one of legacy, oci11, bundle$/, 2);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", "k", "--format", "bundle", "-a", "team=ebpf"]), /^Error: invalid usage: --annotations go into the simple-signing payload/, 2);
    expectOneLineError(await gadget(["image", "sign", REF, "--key", "k", "-a", "novalue"]), /^Error: invalid usage: invalid --annotations entry "novalue": expected key=value$/, 2);
  });

  it("a signature tag is not an image to sign", async () => {
    const key = join(tmp.dir, "st.key");
    await exec("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key]);
    expectOneLineError(await gadget(["image", "sign", `sha256-${digest.slice(7)}.sig`, "--key", key]), /^Error: signing image \(sha256-[a-f0-9]{64}\.sig\): this is a signature tag, not an image$/, 2);
  });

  it("verify without --public-keys uses Inspektor Gadget's key, as ig does", async () => {
    const r = await gadget(["image", "verify", REF]);
    expect(r.stdout).toBe(`Verifying image: ${REF}\n`);
    expectOneLineError(r, /^Error: verifying image \(localhost:5000\/cli\/trace:v1\): the image was not signed by the provided keys$/);
  });
});

describe("concurrent signers", () => {
  it("two processes adding referrers at once both land in the referrers index", async () => {
    const dir = join(tmp.dir, "conc");
    await mkdir(dir);
    const store = join(dir, "store");
    const img = await makeImage(await LayoutStore.open(store), "localhost:5000/conc:v1", "conc");
    const key = join(dir, "k.key");
    const pub = join(dir, "k.pub");
    await exec("openssl", ["genpkey", "-algorithm", "ed25519", "-out", key]);
    await exec("openssl", ["pkey", "-in", key, "-pubout", "-out", pub]);
    const sign = (format: string) => runGadget(["image", "sign", "localhost:5000/conc:v1", "--key", key, "--format", format, "--oci-store", store]);
    const results = await Promise.all([sign("oci11"), sign("bundle")]);
    for (const r of results) expect(r.code).toBe(0);
    const s = await LayoutStore.open(store);
    const { findReferrers } = await import("../../core/sign/related.js");
    expect((await findReferrers(s, img.digest)).map((r) => r.artifactType).sort()).toEqual([
      "application/vnd.dev.cosign.artifact.sig.v1+json",
      "application/vnd.dev.sigstore.bundle.v0.3+json",
    ]);
  });
});
