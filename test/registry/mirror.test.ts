/**
 * `gadget image mirror` against real docker-registry instances: 20 signed images through a fault
 * proxy that answers 500 to every 5th manifest PUT all arrive (digests and signatures checked with
 * skopeo); a rerun sends no PUT/POST/PATCH; the `--` form; one image failing alone; an image that
 * fails twice is retried as a whole; usage errors.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { GADGET_BIN, runCommand, runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { LayoutStore, releaseWriterLock } from "../../core/store/layout-store.js";
import { pushImage } from "../../core/image/push.js";
import { signImage } from "../../core/sign/sign.js";
import { loadSigningKeyFile } from "../../core/sign/key-files.js";
import { digestHex } from "../../core/oci/digest.js";
import { makeImage, writeKeys } from "../sign/fixtures.js";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.js";

const exec = promisify(execFile);
let a: RunningRegistry;
let b: RunningRegistry;
let proxyB: FaultProxy;
let tmp: { dir: string; cleanup: () => Promise<void> };
const images: { ref: string; repo: string; digest: string }[] = [];

beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await tempDir("gadget-mirror-");
  const keys = await writeKeys(tmp.dir, "ecdsa");
  const key = await loadSigningKeyFile(keys.key, async () => undefined);
  const storeDir = join(tmp.dir, "src");
  const store = await LayoutStore.open(storeDir);
  for (let i = 0; i < 20; i++) {
    const repo = `src/img-${i}`;
    const ref = `${a.host}/${repo}:v1`;
    const desc = await makeImage(store, ref, `m${i}`);
    await signImage(store, ref, key, { format: "legacy" });
    images.push({ ref, repo, digest: desc.digest });
  }
  for (const img of images) await pushImage({ storeDir, reference: img.ref, insecureRegistries: [a.host] });
  await releaseWriterLock(storeDir);
  // every 5th manifest PUT to B fails with 500 (as registries answer concurrent manifest PUTs)
  proxyB = await startFaultProxy(b.host, { failEvery: { n: 5, match: (req) => req.method === "PUT" && /\/manifests\//.test(req.url ?? "") } });
}, 120_000);
afterAll(async () => {
  await proxyB?.close();
  await a?.stop();
  await b?.stop();
  await tmp?.cleanup();
});

const insecure = () => ["--insecure-registries", `${a.host},${b.host},${proxyB.host}`];
const sha = (s: string) => `sha256:${createHash("sha256").update(Buffer.from(s)).digest("hex")}`;
const raw = async (ref: string) => (await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", ref])).stdout;

describe("gadget image mirror", () => {
  it("20 images through 500s on every 5th manifest PUT all arrive with digests and signatures; a rerun sends nothing", async () => {
    const list = join(tmp.dir, "images.txt");
    await writeFile(list, `# images to mirror\n${images.map((i) => i.ref).join("\n")}\n\n`);
    const r = await runGadget(["image", "mirror", list, "--to", `${proxyB.host}/mirror`, "--jobs", "4", ...insecure()], { timeoutMs: 240_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`mirrored 20 of 20 images to ${proxyB.host}/mirror`);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("ok ")).length).toBe(20);
    // the proxy really answered 500s to manifest PUTs
    expect(proxyB.seen.filter((s) => s.method === "PUT" && s.status === 500 && s.url.includes("/manifests/")).length).toBeGreaterThanOrEqual(4);
    for (const img of images) {
      expect(sha(await raw(`docker://${b.host}/mirror/${img.repo}:v1`))).toBe(img.digest);
      const sig = JSON.parse(await raw(`docker://${b.host}/mirror/${img.repo}:sha256-${digestHex(img.digest as never)}.sig`)) as { layers: unknown[] };
      expect(sig.layers.length).toBe(1);
    }

    const n = proxyB.seen.length;
    const again = await runGadget(["image", "mirror", list, "--to", `${proxyB.host}/mirror`, ...insecure(), "--json"]);
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout) as { ok: number; failed: number; results: { copied: number }[] };
    expect(summary).toMatchObject({ ok: 20, failed: 0 });
    expect(summary.results.every((x) => x.copied === 0)).toBe(true);
    expect(proxyB.seen.slice(n).filter((s) => s.method === "PUT" || s.method === "POST" || s.method === "PATCH")).toEqual([]);
  }, 300_000);

  it("the -- form takes references on the command line (flags may follow them)", async () => {
    const r = await runGadget(["image", "mirror", ...insecure(), "--", images[0]!.ref, images[1]!.ref, "--to", `${b.host}/dash`]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(await raw(`docker://${b.host}/dash/${images[1]!.repo}:v1`))).toBe(images[1]!.digest);
  });

  it("one image failing alone: the others arrive, its line names it, exit 1", async () => {
    const bad = `${a.host}/src/missing:v1`;
    const r = await runGadget(["image", "mirror", "--to", `${b.host}/partial`, ...insecure(), "--", images[2]!.ref, bad, images[3]!.ref]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^failed  ${bad.replace(/[.]/g, "\\.")} → .*not found.*\\(1 attempt\\)$`, "m"));
    expect(r.stderr).toContain(`mirrored 2 of 3 images to ${b.host}/partial (1 failed)`);
    expect(sha(await raw(`docker://${b.host}/partial/${images[3]!.repo}:v1`))).toBe(images[3]!.digest);
  });

  it("an image whose requests keep failing is retried as a whole", async () => {
    const flaky = await startFaultProxy(a.host, { fail503: 2, failMatch: (req) => (req.url ?? "").includes("/src/img-4/manifests/") });
    try {
      const r = await runGadget(["image", "mirror", "--to", `${b.host}/flaky`, "--insecure-registries", `${flaky.host},${b.host}`, "--", `${flaky.host}/src/img-4:v1`], { env: { GADGET_REGISTRY_RETRIES: "0" } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/retrying .*img-4:v1 \(attempt 2\)/);
      expect(r.stderr).toMatch(/^ok .*img-4:v1 → .*@sha256:.*3 attempts\)$/m);
      expect(sha(await raw(`docker://${b.host}/flaky/src/img-4:v1`))).toBe(images[4]!.digest);
    } finally {
      await flaky.close();
    }
  }, 60_000);

  it("on a terminal: a live line per image in flight, replaced by its result line", async () => {
    // script(1) gives the command a pseudo-terminal
    const cmd = [process.execPath, GADGET_BIN, "image", "mirror", "--to", `${b.host}/tty`, "--insecure-registries", `${a.host},${b.host}`, "--jobs", "2", "--", images[5]!.ref, images[6]!.ref].map((x) => `'${x}'`).join(" ");
    const r = await runCommand("script", ["-qec", cmd, "/dev/null"]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/copying .*src\/img-5:v1 → .*tty\/src\/img-5:v1…/);
    expect(r.stdout).toMatch(/copying .*img-6:v1… \d+ done, [\d.]+ (B|kB) sent/);
    expect(r.stdout).toContain("\x1b[J"); // live lines are cleared before the result lines
    expect(r.stdout.match(/^(\x1b\[\d+A\x1b\[J)?ok {6}/gm)?.length).toBe(2);
    expect(r.stdout).toContain(`mirrored 2 of 2 images to ${b.host}/tty`);
  });

  it("usage errors exit 2 with one line naming what to fix", async () => {
    const cases: [string[], RegExp][] = [
      [["image", "mirror", "--", images[0]!.ref], /--to is required/],
      [["image", "mirror", join(tmp.dir, "nope.txt"), "--to", b.host], /nope\.txt/],
      [["image", "mirror", "--to", "http://x/y", "--", images[0]!.ref], /invalid --to/],
      [["image", "mirror", "--to", b.host, "--jobs", "0", "--", images[0]!.ref], /invalid --jobs/],
      [["image", "mirror", "a.txt", "--to", b.host, "--", images[0]!.ref], /either a FILE or -- REF/],
    ];
    for (const [args, msg] of cases) {
      const r = await runGadget(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    // a bad reference in the list is refused before anything is copied (exit 1, as pull does)
    const bad = await runGadget(["image", "mirror", "--to", `${b.host}/never`, ...insecure(), "--", images[0]!.ref, "Not A Ref"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Not A Ref.*whitespace/);
    const tags = await exec("skopeo", ["list-tags", "--tls-verify=false", `docker://${b.host}/never/${images[0]!.repo}`]).then(() => "exists", () => "absent");
    expect(tags).toBe("absent");
  });
});
