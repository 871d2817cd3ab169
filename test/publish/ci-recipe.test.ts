/**
 * docs/ci.md is a recipe that works (issue #20): its gadgetfile (the `ts` block) and its commands
 * (the `sh` block) run here as a CI job would — bash -euo pipefail, no terminal, secrets in the
 * environment (the encrypted signing key as a PEM in COSIGN_PRIVATE_KEY, its password in
 * COSIGN_PASSWORD, the registry's CA as a PEM) — against a real TLS registry with htpasswd auth.
 * Then again from a clone at another path with the same cache folders: the cache hits, the
 * digests are the same, nothing new is signed. The GitHub Actions and GitLab CI jobs of the doc
 * must run the same command lines (the YAML runners themselves are not run).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmod, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES as ENGINE_FIXTURES } from "../engine/helpers.js";
import { GADGET_BIN, REPO_ROOT, runCommand, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { generateKeyPairPem } from "../../core/sign/keys.js";
import { requireTool } from "./helpers.js";

const doc = () => readFile(join(REPO_ROOT, "docs", "ci.md"), "utf8");

/** The fenced blocks of a markdown text with this info string, in order. */
function blocks(md: string, lang: string): string[] {
  return [...md.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

/** The command lines of a shell block (comments and blank lines left out). */
function commandLines(sh: string): string[] {
  return sh.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

interface Summary {
  ok: boolean;
  gadgets: { name: string; status: string; digest: string; hits: number; misses: number }[];
  publish: { type: string; gadgets: { name: string; existing?: boolean; reference?: string }[] | string[] }[];
}

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
let env: Record<string, string>;
let steps: string;
const GADGETS = ["exec_count", "open_count", "tcp_count"];

/** A git repository with the doc's gadgetfile, 3 gadgets and cosign.pub, committed at a fixed time. */
async function makeProject(dir: string, gadgetfile: string, pub: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await cp(join(ENGINE_FIXTURES, "repo3", "gadgets"), join(dir, "gadgets"), { recursive: true });
  await cp(join(ENGINE_FIXTURES, "repo3", "include"), join(dir, "include"), { recursive: true });
  await cp(join(ENGINE_FIXTURES, "_shared"), join(dir, "_shared"), { recursive: true });
  await writeFile(join(dir, "gadgetfile.ts"), gadgetfile);
  await writeFile(join(dir, "cosign.pub"), pub);
  await writeFile(join(dir, ".gitignore"), ".gadget/\ndist/\ngadget-run.json\npushed.txt\n");
  const git = (args: string[]) => execFileSync("git", args, { cwd: dir, env: { ...process.env, GIT_AUTHOR_DATE: "2024-05-01T12:00:00Z", GIT_COMMITTER_DATE: "2024-05-01T12:00:00Z" }, stdio: "pipe" });
  git(["init", "-q", "-b", "main"]);
  git(["-c", "user.name=ci", "-c", "user.email=ci@example.com", "add", "-A"]);
  git(["-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "-m", "gadgets"]);
}

beforeAll(async () => {
  requireTool("clang");
  requireTool("git");
  reg = await startRegistry({ tls: true, htpasswd: { robot: "r0b0t-pw" } });
  tmp = await tempDir("gadget-ci-recipe-");
  const md = await doc();
  const [gadgetfile] = blocks(md, "ts");
  [steps] = blocks(md, "sh") as [string];
  expect(gadgetfile, "docs/ci.md has a ts block (the gadgetfile)").toBeTruthy();
  expect(steps, "docs/ci.md has an sh block (the commands)").toBeTruthy();
  const keys = generateKeyPairPem("ecdsa", "k3y-pw");
  await makeProject(join(tmp.dir, "checkout-a"), gadgetfile!, keys.publicPem);
  // `gadget` on PATH, as the jobs install it
  const bin = join(tmp.dir, "bin");
  await mkdir(bin);
  await writeFile(join(bin, "gadget"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(GADGET_BIN)} "$@"\n`);
  await chmod(join(bin, "gadget"), 0o755);
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    REGISTRY: reg.host,
    REGISTRY_USER: "robot",
    REGISTRY_PASSWORD: "r0b0t-pw",
    REGISTRY_CA: await readFile(reg.caFile!, "utf8"),
    COSIGN_PRIVATE_KEY: keys.privatePem,
    COSIGN_PASSWORD: "k3y-pw",
    VERSION: "v1.0.0",
    CI_CERTS: join(tmp.dir, "certs"),
    GADGET_CACHE_DIR: join(tmp.dir, "cache", "gadget"),
    GADGET_OCI_STORE: join(tmp.dir, "cache", "oci-store"),
    REGISTRY_AUTH_FILE: join(tmp.dir, "auth.json"),
    SOURCE_DATE_EPOCH: "",
  };
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

const runSteps = (cwd: string) => runCommand("bash", ["-euo", "pipefail", "-c", steps], { cwd, env, timeoutMs: 180_000 });

describe("docs/ci.md", () => {
  let first: Summary;

  it("its commands publish signed images that verify from the TLS + htpasswd registry", async () => {
    const dir = join(tmp.dir, "checkout-a");
    const r = await runSteps(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("Login Succeeded!");
    // each pushed image was pulled into an empty store and verified there
    expect(r.stdout.match(/Image verified successfully!/g)).toHaveLength(3);
    first = JSON.parse(await readFile(join(dir, "gadget-run.json"), "utf8")) as Summary;
    expect(first.ok).toBe(true);
    expect(first.gadgets.map((g) => [g.name, g.status])).toEqual(GADGETS.map((g) => [g, "ok"]));
    const pushed = (await readFile(join(dir, "pushed.txt"), "utf8")).trim().split("\n");
    expect(pushed).toEqual(GADGETS.map((g) => `${reg.host}/acme/${g}:v1.0.0`));
    // the tar holds every image and signature; the password went only through stdin
    expect(existsSync(join(dir, "dist", "gadgets.tar"))).toBe(true);
    expect(r.stdout + r.stderr).not.toContain("r0b0t-pw");
    expect(r.stdout + r.stderr).not.toContain("PRIVATE KEY");
    // the cache lives where GADGET_CACHE_DIR says, not in the checkout
    expect(existsSync(join(dir, ".gadget"))).toBe(false);
    expect(existsSync(join(env.GADGET_CACHE_DIR!, "gadgetfile.json"))).toBe(true);
  }, 240_000);

  it("again from a clone at another path with the restored cache: all hits, the same digests, no new signature", async () => {
    const dir = join(tmp.dir, "elsewhere", "checkout-b");
    execFileSync("git", ["clone", "-q", join(tmp.dir, "checkout-a"), dir]);
    const r = await runSteps(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const again = JSON.parse(await readFile(join(dir, "gadget-run.json"), "utf8")) as Summary;
    expect(again.gadgets.map((g) => [g.name, g.digest])).toEqual(first.gadgets.map((g) => [g.name, g.digest]));
    for (const g of again.gadgets) {
      expect(g.misses, `${g.name}: cacheable steps missed`).toBe(0);
      expect(g.hits).toBeGreaterThan(0);
    }
    const sign = again.publish.find((p) => p.type === "sign")!.gadgets as { existing: boolean }[];
    expect(sign.map((s) => s.existing)).toEqual([true, true, true]);
  }, 240_000);

  it("the GitHub Actions and GitLab CI jobs run exactly these commands", async () => {
    const md = await doc();
    const [github, gitlab] = blocks(md, "yaml");
    expect(github).toMatch(/^on:/m);
    expect(gitlab).toMatch(/^publish:/m);
    const lines = (yaml: string) => yaml.split("\n").map((l) => l.trim().replace(/^- /, ""));
    for (const cmd of commandLines(steps)) {
      expect(lines(github!), `GitHub Actions job runs: ${cmd}`).toContain(cmd);
      expect(lines(gitlab!), `GitLab CI job runs: ${cmd}`).toContain(cmd);
    }
    // both jobs bootstrap gadget, cache the two folders the doc names, and keep the summary
    for (const y of [github!, gitlab!]) {
      expect(y).toContain("scripts/bootstrap");
      expect(y).toMatch(/GADGET_CACHE_DIR: .*\.cache\/gadget/);
      expect(y).toMatch(/GADGET_OCI_STORE: .*\.cache\/oci-store/);
      expect(y).toContain("gadget-run.json");
    }
  });
});
