/**
 * Independent check: a signature gadget made verifies with openssl, from the bytes in the store
 * read directly (index.json → manifest → payload layer + annotation), not through our code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { LayoutStore } from "../../core/store/layout-store.js";
import type { KeyType } from "../../core/sign/keys.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { makeImage, writeKeys } from "./fixtures.js";

const exec = promisify(execFile);

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir("gadget-sign-openssl-");
  await exec("sh", ["-c", "command -v openssl"]).catch(() => {
    throw new Error("openssl is not installed: run scripts/bootstrap");
  });
});
afterAll(() => tmp.cleanup());

interface RawIndex {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}
interface RawManifest {
  layers: { mediaType: string; digest: string; annotations?: Record<string, string> }[];
}

const blob = (store: string, digest: string) => readFile(join(store, "blobs", "sha256", digest.slice("sha256:".length)));

/** openssl's verdict on (data, signature) with a PEM public key. */
async function opensslVerify(type: KeyType, pub: string, data: string, sig: string): Promise<string> {
  const args =
    type === "ed25519"
      ? ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", data, "-sigfile", sig]
      : ["dgst", "-sha256", "-verify", pub, "-signature", sig, data];
  try {
    const r = await exec("openssl", args);
    return (r.stdout + r.stderr).trim();
  } catch (e) {
    return `FAILED: ${((e as { stdout?: string }).stdout ?? "") + ((e as { stderr?: string }).stderr ?? "")}`.trim();
  }
}

describe.each(["ecdsa", "rsa", "ed25519"] as KeyType[])("%s", (type) => {
  it("legacy: openssl verifies the payload against the annotation signature; a flipped byte fails", async () => {
    const storeDir = join(tmp.dir, `legacy-${type}`);
    const store = await LayoutStore.open(storeDir);
    const img = await makeImage(store, "localhost:5000/o:v1", `openssl-${type}`);
    const keys = await writeKeys(tmp.dir, type, `legacy-${type}`);
    const r = await runGadget(["image", "sign", "localhost:5000/o:v1", "--key", keys.key, "--oci-store", storeDir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);

    const index = JSON.parse(await readFile(join(storeDir, "index.json"), "utf8")) as RawIndex;
    const sigEntry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === `sha256-${img.digest.slice(7)}.sig`)!;
    const manifest = JSON.parse((await blob(storeDir, sigEntry.digest)).toString()) as RawManifest;
    const layer = manifest.layers[0]!;
    const payloadFile = join(tmp.dir, `legacy-${type}.payload`);
    const sigFile = join(tmp.dir, `legacy-${type}.sig`);
    const payload = await blob(storeDir, layer.digest);
    expect(JSON.parse(payload.toString()).critical.image["docker-manifest-digest"]).toBe(img.digest);
    await writeFile(payloadFile, payload);
    await writeFile(sigFile, Buffer.from(layer.annotations!["dev.cosignproject.cosign/signature"]!, "base64"));
    expect(await opensslVerify(type, keys.pub, payloadFile, sigFile)).toMatch(/^(Verified OK|Signature Verified Successfully)$/);

    const tampered = Buffer.from(payload);
    tampered[tampered.length - 3] = tampered[tampered.length - 3]! ^ 1;
    await writeFile(payloadFile, tampered);
    expect(await opensslVerify(type, keys.pub, payloadFile, sigFile)).toMatch(/^FAILED/);
  });

  it("bundle: openssl verifies the DSSE signature over PAE(payloadType, statement)", async () => {
    const storeDir = join(tmp.dir, `bundle-${type}`);
    const store = await LayoutStore.open(storeDir);
    const img = await makeImage(store, "localhost:5000/b:v1", `openssl-b-${type}`);
    const keys = await writeKeys(tmp.dir, type, `bundle-${type}`);
    const r = await runGadget(["image", "sign", "localhost:5000/b:v1", "--key", keys.key, "--format", "bundle", "--oci-store", storeDir]);
    expect(r.code).toBe(0);
    const index = JSON.parse(await readFile(join(storeDir, "index.json"), "utf8")) as RawIndex;
    const refEntry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === `sha256-${img.digest.slice(7)}`)!;
    const referrers = JSON.parse((await blob(storeDir, refEntry.digest)).toString()) as RawIndex;
    const manifest = JSON.parse((await blob(storeDir, referrers.manifests[0]!.digest)).toString()) as RawManifest & { subject: { digest: string } };
    expect(manifest.subject.digest).toBe(img.digest);
    const bundle = JSON.parse((await blob(storeDir, manifest.layers[0]!.digest)).toString()) as {
      dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
    };
    const statement = Buffer.from(bundle.dsseEnvelope.payload, "base64");
    expect(JSON.parse(statement.toString()).subject[0].digest.sha256).toBe(img.digest.slice(7));
    // DSSE v1 PAE, written out here independently of core/sign/payload.ts
    const type_ = bundle.dsseEnvelope.payloadType;
    const paeBytes = Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type_)} ${type_} ${statement.length} `), statement]);
    const dataFile = join(tmp.dir, `bundle-${type}.pae`);
    const sigFile = join(tmp.dir, `bundle-${type}.sig`);
    await writeFile(dataFile, paeBytes);
    await writeFile(sigFile, Buffer.from(bundle.dsseEnvelope.signatures[0]!.sig, "base64"));
    expect(await opensslVerify(type, keys.pub, dataFile, sigFile)).toMatch(/^(Verified OK|Signature Verified Successfully)$/);
  });
});

describe("keys made by openssl in their traditional PEM forms", () => {
  it.each([
    ["SEC1 EC PRIVATE KEY with EC PARAMETERS (P-256)", ["ecparam", "-genkey", "-name", "prime256v1", "-out", "OUT"], "ecdsa"],
    ["PKCS#1 RSA PRIVATE KEY", ["genrsa", "-traditional", "-out", "OUT", "2048"], "rsa"],
    ["PKCS#8 ECDSA P-384 (hashed with SHA-256, as cosign)", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "OUT"], "ecdsa"],
  ] as [string, string[], KeyType][])("%s signs, and openssl verifies", async (name, genArgs, type) => {
    const slug = name.replace(/[^a-z0-9]+/gi, "-");
    const key = join(tmp.dir, `${slug}.key`);
    const pub = join(tmp.dir, `${slug}.pub`);
    await exec("openssl", genArgs.map((a) => (a === "OUT" ? key : a)));
    expect(await readFile(key, "utf8")).toContain(type === "rsa" ? "BEGIN RSA PRIVATE KEY" : genArgs[0] === "ecparam" ? "BEGIN EC PRIVATE KEY" : "BEGIN PRIVATE KEY");
    await exec("openssl", ["pkey", "-in", key, "-pubout", "-out", pub]);
    const storeDir = join(tmp.dir, `trad-${slug}`);
    const img = await makeImage(await LayoutStore.open(storeDir), "localhost:5000/trad:v1", slug);
    const r = await runGadget(["image", "sign", "localhost:5000/trad:v1", "--key", key, "--oci-store", storeDir, "--json"]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: img.digest, keyType: type });
    const index = JSON.parse(await readFile(join(storeDir, "index.json"), "utf8")) as RawIndex;
    const sigEntry = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === `sha256-${img.digest.slice(7)}.sig`)!;
    const layer = (JSON.parse((await blob(storeDir, sigEntry.digest)).toString()) as RawManifest).layers[0]!;
    const payloadFile = join(tmp.dir, `${slug}.payload`);
    const sigFile = join(tmp.dir, `${slug}.sig`);
    await writeFile(payloadFile, await blob(storeDir, layer.digest));
    await writeFile(sigFile, Buffer.from(layer.annotations!["dev.cosignproject.cosign/signature"]!, "base64"));
    expect(await opensslVerify(type, pub, payloadFile, sigFile)).toBe("Verified OK");
    const v = await runGadget(["image", "verify", "localhost:5000/trad:v1", "--public-keys", pub, "--oci-store", storeDir]);
    expect(v.stdout).toBe("Verifying image: localhost:5000/trad:v1\nImage verified successfully!\n");
  });
});
