/**
 * Run-level registry options (issue #20, "Missing for CI"): `gadget run` takes --cert-dir,
 * --authfile, --insecure-registries and --timeout for its push targets (also as GADGET_CERT_DIR,
 * REGISTRY_AUTH_FILE, GADGET_INSECURE_REGISTRIES, GADGET_REGISTRY_TIMEOUT), and a push target's own
 * certDir / authfile (relative to the gadgetfile) win. Against a real TLS registry with htpasswd.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { runGadget } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { publishRepo, type PublishRepo } from "./helpers.js";

let repo: PublishRepo;
let reg: RunningRegistry;
let auth: string;

beforeAll(async () => {
  repo = await publishRepo();
  reg = await startRegistry({ tls: true, htpasswd: { alice: "s3cret" } });
  auth = join(repo.dir, "..", "auth.json");
  const login = await runGadget(["login", reg.host, "-u", "alice", "--password-stdin", "--cert-dir", reg.certDir!, "--authfile", auth], { input: "s3cret" });
  expect(login.code, login.stderr).toBe(0);
});
afterAll(async () => {
  await repo?.cleanup();
  await reg?.stop();
});

/** Is the tag there? (node's fetch takes no per-request CA: ask through gadget, with the CA and the login.) */
async function tagged(repository: string, tag: string): Promise<boolean> {
  const r = await runGadget(["image", "pull", `${reg.host}/${repository}:${tag}`, "--cert-dir", reg.certDir!, "--authfile", auth, "--oci-store", join(repo.dir, "..", "probe-store")]);
  return r.code === 0;
}

describe("gadget run's registry flags reach the push targets", () => {
  it("without a CA, the TLS error names the gadget, the reference and `gadget run --cert-dir`", async () => {
    await repo.gadgetfile(`[{ type: "push", tag: "${reg.host}/acme/{name}:t1" }]`);
    const r = await repo.run(["run", "publish", "--authfile", auth]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^Error: pushing exec_count \\(${reg.host}/acme/exec_count:t1\\): .*certificate`, "m"));
    expect(r.stderr).toContain(`hint: pass the registry's CA with --cert-dir DIR (or certDir: "DIR" on the push target) (a folder holding ca.crt)`);
  }, 120_000);

  it("--cert-dir and --authfile on the command line publish to the TLS + htpasswd registry", async () => {
    const r = await repo.run(["run", "publish", "--cert-dir", reg.certDir!, "--authfile", auth, "--timeout", "2m"]);
    expect(r.code, r.stderr).toBe(0);
    for (const g of ["exec_count", "open_count", "tcp_count"]) expect(await tagged(`acme/${g}`, "t1")).toBe(true);
  }, 120_000);

  it("the same as environment variables (GADGET_CERT_DIR, REGISTRY_AUTH_FILE)", async () => {
    await repo.gadgetfile(`[{ type: "push", tag: "${reg.host}/acme/{name}:t2" }]`);
    const r = await repo.run(["run", "publish"], { GADGET_CERT_DIR: reg.certDir!, REGISTRY_AUTH_FILE: auth });
    expect(r.code, r.stderr).toBe(0);
    expect(await tagged("acme/open_count", "t2")).toBe(true);
  }, 120_000);

  it("a push target's certDir and authfile (relative to the gadgetfile) win over the run's", async () => {
    await cp(reg.certDir!, join(repo.dir, "certs"), { recursive: true });
    await cp(auth, join(repo.dir, "ci-auth.json"));
    await repo.gadgetfile(`[{ type: "push", tag: "${reg.host}/acme/{name}:t3", certDir: "certs", authfile: "ci-auth.json" }]`);
    // the run's own settings point nowhere useful: the target's are used
    const r = await repo.run(["run", "publish", "--cert-dir", join(repo.dir, "gadgets"), "--authfile", join(repo.dir, "missing.json")]);
    expect(r.code, r.stderr).toBe(0);
    expect(await tagged("acme/tcp_count", "t3")).toBe(true);
  }, 120_000);

  it("a bad --timeout is a usage error before anything runs", async () => {
    const r = await repo.run(["run", "publish", "--timeout", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: invalid usage \(--timeout\): "soon" is not a duration/m);
  });
});
