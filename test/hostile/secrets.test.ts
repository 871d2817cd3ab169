/**
 * Secrets never appear in output: every registry command, run with -v and GADGET_DEBUG=1,
 * against htpasswd and token-auth registries, on success and on failure (stack traces included).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { runGadget, tempDir, type RunResult } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "../registry/fixtures.js";

const USER = "frank";
const PASSWORD = "S3cr3t-Pa55w0rd-9417";
const WRONG = "Wr0ng-Pa55w0rd-5521";
const B64 = Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
const B64_WRONG = Buffer.from(`${USER}:${WRONG}`).toString("base64");

let tmp: { dir: string; cleanup: () => Promise<void> };
let basicReg: RunningRegistry;
let tokenReg: RunningRegistry;
beforeAll(async () => {
  tmp = await tempDir("gadget-secrets-");
  [basicReg, tokenReg] = await Promise.all([startRegistry({ htpasswd: { [USER]: PASSWORD } }), startRegistry({ token: { users: { [USER]: PASSWORD } } })]);
}, 60_000);
afterAll(async () => {
  await basicReg?.stop();
  await tokenReg?.stop();
  await tmp?.cleanup();
});

const DEBUG = { GADGET_DEBUG: "1" };

function expectNoSecrets(r: RunResult, what: string): void {
  const out = r.stdout + r.stderr;
  for (const secret of [PASSWORD, WRONG, B64, B64_WRONG]) expect(out, `${what} printed a secret`).not.toContain(secret);
  // bearer tokens are JWTs (base64url of '{"…'), and no Authorization header value is ever shown
  expect(out, `${what} printed a token`).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  expect(out, `${what} printed an Authorization header`).not.toMatch(/(Basic|Bearer) [A-Za-z0-9+/=._-]{8,}/);
}

for (const kind of ["htpasswd", "token"] as const) {
  describe(`no secret in any output (${kind} registry, -v and GADGET_DEBUG=1)`, () => {
    it("login, get-login, push, pull, failing commands with stack traces, logout", async () => {
      const reg = kind === "htpasswd" ? basicReg : tokenReg;
      const cfgDir = join(tmp.dir, kind, "fresh", "cfg");
      const authfile = join(cfgDir, "config.json");
      const store = join(tmp.dir, kind, "store");
      const ref = `${reg.host}/secrets/img:v1`;
      await makeImage(store, ref);
      await releaseWriterLock(store);
      const common = ["--authfile", authfile];
      const insecure = ["--insecure-registries", reg.host];
      const runs: [string, RunResult, number][] = [];
      const run = async (what: string, args: string[], expectCode: number, input?: string) => {
        for (const flags of [["-v"], []]) {
          const r = await runGadget([...flags, ...args], { env: DEBUG, input, timeoutMs: 60_000 });
          runs.push([`${what} ${flags.join(" ")}`, r, expectCode]);
        }
      };

      await run("login with a wrong password", ["login", reg.host, "-u", USER, "--password-stdin", ...common, "--plain-http"], 1, WRONG);
      await run("login -p wrong", ["login", reg.host, "-u", USER, "-p", WRONG, ...common, "--plain-http"], 1);
      await run("push before login", ["--oci-store", store, "image", "push", ref, ...insecure, ...common], 1);
      await run("login", ["login", reg.host, "-u", USER, "--password-stdin", ...common, "--plain-http"], 0, PASSWORD);
      await run("login -p", ["login", reg.host, "-u", USER, "-p", PASSWORD, ...common, "--plain-http"], 0);
      await run("get-login", ["login", reg.host, "--get-login", ...common], 0);
      await run("push", ["--oci-store", store, "image", "push", ref, ...insecure, ...common], 0);
      await run("pull", ["--oci-store", join(tmp.dir, kind, "pulled"), "image", "pull", ref, ...insecure, ...common], 0);
      await run("pull of a missing tag", ["--oci-store", join(tmp.dir, kind, "pulled"), "image", "pull", `${reg.host}/secrets/none:v9`, ...insecure, ...common], 1);
      await run("push --json", ["--oci-store", store, "image", "push", ref, "--json", ...insecure, ...common], 0);
      await run("pull --json", ["--oci-store", join(tmp.dir, kind, "pulled2"), "image", "pull", ref, "--json", ...insecure, ...common], 0);
      for (const [what, r, code] of runs) {
        expect(r.code, `${what}: ${r.stderr}`).toBe(code);
        expectNoSecrets(r, what);
      }
      // the -p runs printed ig's (docker's, oras's) warning; the stdin runs did not
      for (const [what, r] of runs) {
        const warned = r.stderr.includes("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        expect(warned, what).toBe(what.startsWith("login -p"));
      }
      // the debug log really was on (request lines, token fetches for the token registry)
      expect(runs.find(([w]) => w === "push -v")![1].stderr).toMatch(/(GET|HEAD|PUT|POST) http:\/\/\S+ → \d{3}/);
      if (kind === "token") expect(runs.find(([w]) => w === "pull -v")![1].stderr).toMatch(/token/);
      // failures with -v show a stack trace (so the check above covered error objects too)
      expect(runs.find(([w]) => w === "push before login -v")![1].stderr).toMatch(/\n\s+at /);
      expect((await stat(authfile)).mode & 0o777).toBe(0o600);
      expect((await stat(cfgDir)).mode & 0o777).toBe(0o700);
      const out = await runGadget(["-v", "logout", reg.host, ...common], { env: DEBUG });
      expect(out.code, out.stderr).toBe(0);
      expectNoSecrets(out, "logout");
      expect((await stat(authfile)).mode & 0o777).toBe(0o600);
    }, 120_000);
  });
}
