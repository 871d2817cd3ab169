import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, mkdir, readFile, stat, writeFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "./fixtures.js";

const USER = "alice";
const PASS = "S3cret-pa55word-xyz";

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  reg = await startRegistry({ tls: true, htpasswd: { [USER]: PASS } });
  tmp = await tempDir("gadget-auth-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

function noSecrets(...outs: string[]) {
  const b64 = Buffer.from(`${USER}:${PASS}`).toString("base64");
  for (const o of outs) {
    expect(o).not.toContain(PASS);
    expect(o).not.toContain(b64);
    expect(o.toLowerCase()).not.toContain("authorization:");
  }
}

describe("TLS + htpasswd registry", () => {
  it("login checks the password, writes a 0600 file in a 0700 folder, and never prints secrets (even with -v)", async () => {
    const authfile = join(tmp.dir, "newdir", "auth.json");
    const bad = await runGadget(["login", reg.host, "-u", USER, "--password-stdin", "--authfile", authfile, "--cert-dir", reg.certDir!, "-v"], { input: "wrong-password\n" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`(${reg.host})`);
    expect(bad.stderr).toMatch(/401/);
    expect(bad.stdout).toBe("");
    await expect(stat(authfile)).rejects.toThrow(/ENOENT/);
    noSecrets(bad.stdout, bad.stderr);

    const ok = await runGadget(["login", reg.host, "-u", USER, "--password-stdin", "--authfile", authfile, "--cert-dir", reg.certDir!, "-v"], { input: `${PASS}\n` });
    expect(ok.stdout).toBe("Login Succeeded!\n");
    expect(ok.code).toBe(0);
    noSecrets(ok.stdout, ok.stderr);
    expect(ok.stderr).toContain("GET"); // -v shows the exchanges…
    expect((await stat(authfile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(tmp.dir, "newdir"))).mode & 0o777).toBe(0o700);
    const doc = JSON.parse(await readFile(authfile, "utf8"));
    expect(doc.auths[reg.host].auth).toBe(Buffer.from(`${USER}:${PASS}`).toString("base64"));
    // no temp files left next to it
    expect(await readdir(join(tmp.dir, "newdir"))).toEqual(["auth.json"]);

    const who = await runGadget(["login", reg.host, "--get-login", "--authfile", authfile]);
    expect(who.stdout).toBe(`${USER}\n`);

    // push + pull with the saved login, -v: still no secret anywhere
    const a = join(tmp.dir, "store-a");
    const b = join(tmp.dir, "store-b");
    const ref = `${reg.host}/private/gadget:v1`;
    const img = await makeImage(a, ref);
    const push = await runGadget(["image", "push", ref, "--oci-store", a, "--authfile", authfile, "--cert-dir", reg.certDir!, "-v"]);
    expect(push.stderr).toContain(`Successfully pushed ${ref}@${img.index.digest}`);
    noSecrets(push.stdout, push.stderr);
    const pull = await runGadget(["image", "pull", ref, "--oci-store", b, "--cert-dir", reg.certDir!, "-v"], { env: { REGISTRY_AUTH_FILE: authfile } });
    expect(pull.stderr).toContain(`Successfully pulled ${ref}@${img.index.digest}`);
    noSecrets(pull.stdout, pull.stderr);

    const out = await runGadget(["logout", reg.host, "--authfile", authfile]);
    expect(out.stdout).toBe(`Removed login credentials for ${reg.host}\n`);
    const again = await runGadget(["logout", reg.host, "--authfile", authfile]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`Error: not logged into ${reg.host}\n`);
    const who2 = await runGadget(["login", reg.host, "--get-login", "--authfile", authfile]);
    expect(who2.code).toBe(1);
    expect(who2.stderr).toBe(`Error: not logged into ${reg.host}\n`);
    expect((await stat(authfile)).mode & 0o777).toBe(0o600);
    const all = await runGadget(["logout", "--all", "--authfile", authfile]);
    expect(all.stdout).toBe("Removed login credentials for all registries\n");
    const usage = await runGadget(["logout", "--authfile", authfile]);
    expect(usage.code).toBe(2);
  });

  it("without credentials the registry's 401 names the registry and suggests login", async () => {
    const a = join(tmp.dir, "store-c");
    const ref = `${reg.host}/private/other:v1`;
    await makeImage(a, ref);
    const r = await runGadget(["image", "push", ref, "--oci-store", a, "--authfile", join(tmp.dir, "empty.json"), "--cert-dir", reg.certDir!], { env: { REGISTRY_AUTH_FILE: undefined } });
    expect(r.code).toBe(1);
    // an explicit --authfile that does not exist is an error naming it
    expect(r.stderr).toContain("empty.json");
    await writeFile(join(tmp.dir, "empty.json"), "{}");
    const r2 = await runGadget(["image", "push", ref, "--oci-store", a, "--authfile", join(tmp.dir, "empty.json"), "--cert-dir", reg.certDir!]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(reg.host);
    expect(r2.stderr).toContain("401");
    expect(r2.stderr).toContain(`hint: log in with: gadget login ${reg.host}`);
  });

  it("TLS without the CA fails with an error that mentions --cert-dir", async () => {
    const r = await runGadget(["image", "pull", `${reg.host}/private/gadget:v1`, "--oci-store", join(tmp.dir, "store-d")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Error: TLS verification failed (${reg.host})`);
    expect(r.stderr).toContain("--cert-dir");
    const l = await runGadget(["login", reg.host, "-u", USER, "--password-stdin", "--authfile", join(tmp.dir, "x.json")], { input: PASS });
    expect(l.code).toBe(1);
    expect(l.stderr).toContain("--cert-dir");
    noSecrets(l.stdout, l.stderr);
    // --tls-verify=false skips verification for login
    const l2 = await runGadget(["login", reg.host, "-u", USER, "--password-stdin", "--tls-verify=false", "--authfile", join(tmp.dir, "x.json")], { input: PASS });
    expect(l2.stdout).toBe("Login Succeeded!\n");
  });

  it("a docker-credential-* helper on PATH supplies, stores and erases credentials", async () => {
    const bin = join(tmp.dir, "bin");
    const state = join(tmp.dir, "helper-state");
    await mkdir(bin, { recursive: true });
    await mkdir(state, { recursive: true });
    const script = `#!/bin/sh
# a file-backed docker credential helper for tests
state=${JSON.stringify(state)}
action="$1"
input=$(cat)
echo "$action" >> "$state/calls"
case "$action" in
  get)
    f="$state/$(printf %s "$input" | tr '/:' '__')"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store)
    url=$(printf %s "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p')
    printf %s "$input" > "$state/$(printf %s "$url" | tr '/:' '__')" ;;
  erase)
    f="$state/$(printf %s "$input" | tr '/:' '__')"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`;
    await writeFile(join(bin, "docker-credential-test"), script);
    await chmod(join(bin, "docker-credential-test"), 0o755);
    const authfile = join(tmp.dir, "helper-auth.json");
    await writeFile(authfile, JSON.stringify({ credHelpers: { [reg.host]: "test" } }));
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const login = await runGadget(["login", reg.host, "-u", USER, "--password-stdin", "--authfile", authfile, "--cert-dir", reg.certDir!], { input: PASS, env });
    expect(login.stdout).toBe("Login Succeeded!\n");
    const file = await readFile(authfile, "utf8");
    expect(file).not.toContain(Buffer.from(`${USER}:${PASS}`).toString("base64"));
    expect(JSON.parse(file).credHelpers[reg.host]).toBe("test");
    expect(await readdir(state)).toContain(reg.host.replace(/:/g, "_"));

    const a = join(tmp.dir, "store-h");
    const ref = `${reg.host}/helper/gadget:v1`;
    const img = await makeImage(a, ref);
    const push = await runGadget(["image", "push", ref, "--oci-store", a, "--authfile", authfile, "--cert-dir", reg.certDir!], { env });
    expect(push.stderr).toContain(`Successfully pushed ${ref}@${img.index.digest}`);
    expect(await readFile(join(state, "calls"), "utf8")).toContain("get");

    const who = await runGadget(["login", reg.host, "--get-login", "--authfile", authfile], { env });
    expect(who.stdout).toBe(`${USER}\n`);
    const out = await runGadget(["logout", reg.host, "--authfile", authfile], { env });
    expect(out.stdout).toBe(`Removed login credentials for ${reg.host}\n`);
    expect(await readdir(state)).not.toContain(reg.host.replace(/:/g, "_"));
    const denied = await runGadget(["image", "push", ref, "--oci-store", a, "--authfile", authfile, "--cert-dir", reg.certDir!], { env });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("401");
  });
});

describe("mutual TLS", () => {
  it("--cert-dir supplies the client certificate (client.cert + client.key)", async () => {
    const mtls = await startRegistry({ tls: true, clientCert: true });
    const t = await tempDir("gadget-mtls-");
    try {
      const a = join(t.dir, "a");
      const ref = `${mtls.host}/mtls/gadget:v1`;
      const img = await makeImage(a, ref);
      await writeFile(join(t.dir, "none.json"), "{}");
      const ok = await runGadget(["image", "push", ref, "--oci-store", a, "--cert-dir", mtls.certDir!, "--authfile", join(t.dir, "none.json")]);
      expect(ok.stdout).toBe("");
      expect(ok.stderr).toBe(`Pushing ${ref}...\nSuccessfully pushed ${ref}@${img.index.digest}\n`);
      // only the CA, no client certificate: the registry refuses the handshake
      const caOnly = join(t.dir, "ca-only");
      await mkdir(caOnly);
      await writeFile(join(caOnly, "ca.crt"), await readFile(mtls.caFile!));
      const bad = await runGadget(["image", "pull", ref, "--oci-store", join(t.dir, "b"), "--cert-dir", caOnly], { env: { GADGET_REGISTRY_RETRIES: "0" } });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(mtls.host);
      expect(bad.stderr).toContain("client.cert and client.key in --cert-dir");
    } finally {
      await mtls.stop();
      await t.cleanup();
    }
  });
});
