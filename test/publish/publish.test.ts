/**
 * `gadget run publish` as a CI pipeline runs it (issue #20): 3 real gadgets, a policy stage, push +
 * tar-export + sign against a real registry, non-interactive. What must be true:
 * - the README's order (push, tar-export, sign) ships signed images: every pushed image verifies
 *   from the registry with the public key, and the tar holds every signature (defect 1);
 * - tar-export writes its file once, after every gadget, and every gadget reports the whole tar (defect 6);
 * - an unchanged re-publish makes no new signature and leaves a clean store (defect 5);
 * - a compile error or a failed policy stage in one gadget publishes none (defect 2);
 *   --keep-going publishes the others; --fail-fast starts nothing after the first failure;
 * - log lines of parallel gadgets name their gadget; registry errors name the gadget and the reference;
 * - --json-file holds the run's summary (also when the gadgetfile does not load).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { GADGETS, breakGadget, freshStore, hasTag, publishRepo, pullAndVerify, type PublishRepo } from "./helpers.js";

interface Summary {
  ok: boolean;
  tasks: string[];
  error?: { message: string; code?: string };
  gadgets: { name: string; ok: boolean; status: string; digest?: string; error?: string; steps: { stage: string; status: string }[]; results: Record<string, Record<string, unknown>> }[];
  publish: { type: string; step: number; gadgets: unknown[]; result?: Record<string, unknown> }[];
}

let repo: PublishRepo;
let reg: RunningRegistry;
const insecure = () => ["--insecure-registries", reg.host];

beforeAll(async () => {
  repo = await publishRepo();
  reg = await startRegistry();
});
afterAll(async () => {
  await repo?.cleanup();
  await reg?.stop();
});

/** The README's documented order: push, tar-export, sign. */
const README_ORDER = (tag: string) => `[
    { type: "push", tag: "${"${REG}"}/acme/{name}:${tag}" },
    { type: "tar-export", file: "dist/gadgets.tar" },
    { type: "sign", key: "release.key" },
  ]`;

async function writeReadmeOrder(tag: string): Promise<void> {
  await repo.gadgetfile(README_ORDER(tag).replace("${REG}", reg.host));
}

describe("the documented publish order ships signed images (defects 1 and 6)", () => {
  let first: Summary;

  it("push → tar-export → sign: every pushed image verifies from the registry, the tar holds every signature, the tar is written once", async () => {
    await writeReadmeOrder("v1");
    const r = await repo.run(["run", "publish", "--json", "--json-file", "out/summary.json", ...insecure()]);
    expect(r.code, r.stderr).toBe(0);
    first = JSON.parse(r.stdout) as Summary;
    // --json-file holds the same summary
    expect(JSON.parse(await readFile(join(repo.dir, "out", "summary.json"), "utf8"))).toEqual(first);
    expect(first.gadgets.map((g) => [g.name, g.status])).toEqual(GADGETS.map((n) => [n, "ok"]));

    // sign ran before anything left the machine, whatever the listed order
    expect(first.publish.map((p) => p.type)).toEqual(["sign", "push", "tar-export"]);

    // from the registry: a store of its own pulls each image (and its signature) and verifies it
    for (const g of GADGETS) {
      const store = await freshStore(repo.dir);
      const { pull, verify } = await pullAndVerify(`${reg.host}/acme/${g}:v1`, store, repo.keys.pub, insecure());
      expect(pull.code, pull.stderr).toBe(0);
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ verified: true, format: "legacy" });
    }

    // the tar: every image and every signature, written once (one result shared by all gadgets)
    const tar = first.publish.find((p) => p.type === "tar-export")!;
    expect(tar.gadgets).toEqual(GADGETS);
    expect((tar.result!.images as unknown[]).length).toBe(3);
    expect((tar.result!.signatures as string[]).filter((s) => s.endsWith(".sig"))).toHaveLength(3);
    expect(r.stderr.match(/exported 3 image\(s\) and 3 signature tag\(s\)/g)).toHaveLength(1);
    const imported = await freshStore(repo.dir);
    const im = await runGadget(["image", "import", join(repo.dir, "dist", "gadgets.tar"), "--oci-store", imported]);
    expect(im.code, im.stderr).toBe(0);
    for (const g of GADGETS) {
      const v = await runGadget(["image", "verify", `acme/${g}:v1`, "--public-keys", repo.keys.pub, "--oci-store", imported]);
      expect(v.stdout + v.stderr).toContain("Image verified successfully!");
    }

    // push reports what it sent: blobs and the signature tag
    const push = first.publish.find((p) => p.type === "push")!;
    for (const entry of push.gadgets as { name: string; uploaded: number; skipped: number; signatures: { tag: string; digest: string }[] }[]) {
      expect(entry.uploaded).toBeGreaterThan(0);
      expect(entry.signatures.map((s) => s.tag)).toEqual([`sha256-${first.gadgets.find((g) => g.name === entry.name)!.digest!.slice(7)}.sig`]);
    }
    // three gadgets at once: each line says whose it is
    for (const g of GADGETS) expect(r.stderr).toMatch(new RegExp(`^\\[${g}\\] Successfully pushed ${reg.host}/acme/${g}:v1@sha256:`, "m"));
  }, 180_000);

  it("an unchanged re-publish makes no new signature, uploads nothing, and fsck finds the store clean (defect 5)", async () => {
    const r = await repo.run(["run", "publish", "--json", ...insecure()]);
    expect(r.code, r.stderr).toBe(0);
    const again = JSON.parse(r.stdout) as Summary;
    const sigs = (s: Summary) => (s.publish.find((p) => p.type === "sign")!.gadgets as { name: string; signature: string; existing: boolean }[]).map((x) => [x.name, x.signature, x.existing]);
    expect(sigs(again)).toEqual(sigs(first).map(([n, d]) => [n, d, true]));
    for (const e of again.publish.find((p) => p.type === "push")!.gadgets as { uploaded: number }[]) expect(e.uploaded).toBe(0);
    const fsck = await runGadget(["image", "fsck", "--oci-store", repo.store]);
    expect(fsck.stdout + fsck.stderr).not.toMatch(/garbage|unreachable/i);
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
  }, 180_000);
});

describe("a publish is all or nothing (defect 2)", () => {
  it("a compile error in one of 3 gadgets → exit 1 and the registry has none of the 3 new tags; --keep-going publishes the 2", async () => {
    await writeReadmeOrder("v2");
    const restore = await breakGadget(repo.dir, "tcp_count");
    try {
      const r = await repo.run(["run", "publish", ...insecure()]);
      expect(r.code).toBe(1);
      for (const g of GADGETS) expect(await hasTag(reg.url, `acme/${g}`, "v2")).toBe(false);
      expect(r.stdout).toMatch(/^✗ tcp_count /m);
      expect(r.stdout).toMatch(/^- exec_count \d+ ms sha256:[a-f0-9]{64} \(not published\)$/m);
      // the reason once, for both withheld gadgets, with the way out
      expect(r.stderr).toContain("Error: not published (exec_count, open_count): tcp_count failed, and a publish is all or nothing");
      expect(r.stderr).toContain("hint: fix the failure and run again, or pass --keep-going to publish the gadgets that built");

      const k = await repo.run(["run", "publish", "--keep-going", "--json", ...insecure()]);
      expect(k.code).toBe(1);
      const j = JSON.parse(k.stdout) as Summary;
      expect(j.gadgets.map((g) => [g.name, g.status])).toEqual([
        ["exec_count", "ok"],
        ["open_count", "ok"],
        ["tcp_count", "failed"],
      ]);
      expect(await hasTag(reg.url, "acme/exec_count", "v2")).toBe(true);
      expect(await hasTag(reg.url, "acme/open_count", "v2")).toBe(true);
      expect(await hasTag(reg.url, "acme/tcp_count", "v2")).toBe(false);
    } finally {
      await restore();
    }
  }, 180_000);

  it("a failed policy stage withholds every gadget's publish; --fail-fast starts no step after the first failure", async () => {
    await writeReadmeOrder("v3");
    const r = await repo.run(["run", "publish", "--json", ...insecure()], { POLICY_DENY: "open_count" });
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as Summary;
    expect(j.gadgets.map((g) => [g.name, g.status])).toEqual([
      ["exec_count", "withheld"],
      ["open_count", "failed"],
      ["tcp_count", "withheld"],
    ]);
    expect(j.gadgets[0]!.error).toMatch(/^not published \(exec_count\): open_count failed/);
    for (const g of GADGETS) expect(await hasTag(reg.url, `acme/${g}`, "v3")).toBe(false);
    // the built ones were built (store-tag ran), only their publish steps were held back
    expect(j.gadgets[0]!.steps.map((s) => s.stage)).toContain("store-tag");
    expect(j.gadgets[0]!.steps.map((s) => s.stage)).not.toContain("push");

    // one step at a time, the policy of the first gadget fails first: nothing else starts
    const f = await repo.run(["run", "publish", "--fail-fast", "--jobs", "1", "--no-cache", "--json", ...insecure()], { POLICY_DENY: "exec_count" });
    expect(f.code).toBe(1);
    const jf = JSON.parse(f.stdout) as Summary;
    expect(jf.gadgets.map((g) => [g.name, g.status, g.steps.length])).toEqual([
      ["exec_count", "failed", 1],
      ["open_count", "stopped", 0],
      ["tcp_count", "stopped", 0],
    ]);
    expect(jf.gadgets[1]!.error).toBe("not finished (open_count): exec_count failed and --fail-fast stops the run at the first failure");
    // --keep-going and --fail-fast contradict each other
    const both = await repo.run(["run", "publish", "--fail-fast", "--keep-going"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^Error: invalid usage: --keep-going and --fail-fast cannot be combined$/m);
  }, 180_000);
});

describe("failures a CI job has to read", () => {
  it("a registry error names the gadget and the reference", async () => {
    // a port nothing listens on
    const dead = "127.0.0.1:9";
    await repo.gadgetfile(`[{ type: "push", tag: "${dead}/acme/{name}:v1" }]`);
    const r = await repo.run(["run", "publish", "--insecure-registries", dead, "--timeout", "20s"]);
    expect(r.code).toBe(1);
    for (const g of GADGETS) expect(r.stderr).toMatch(new RegExp(`^Error: pushing ${g} \\(${dead}/acme/${g}:v1\\): `, "m"));
  }, 120_000);

  it("--json-file is written when the gadgetfile does not load, with the error", async () => {
    await writeFile(join(repo.dir, "gadgetfile.ts"), `import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], publish: [{ type: "push", tga: "x" }] });\n`);
    await rm(join(repo.dir, "out"), { recursive: true, force: true });
    const r = await repo.run(["run", "publish", "--json-file", "out/summary.json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: .*gadgetfile\.ts:2.*"tga"/m);
    const s = JSON.parse(await readFile(join(repo.dir, "out", "summary.json"), "utf8")) as Summary;
    expect(s).toMatchObject({ ok: false, tasks: ["publish"], gadgets: [], publish: [] });
    expect(s.error?.message).toMatch(/"tga"/);
    expect(s.error?.code).toBe("STAGE_OPTIONS");
  }, 60_000);

  it("--dry shows where the publish phase starts and that sign runs first", async () => {
    await writeReadmeOrder("v1");
    const r = await repo.run(["run", "publish", "--dry"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n").map((l) => l.trim());
    const at = (s: string) => lines.findIndex((l) => l.startsWith(s));
    expect(at("-- publish: only when every gadget built")).toBeLessThan(at("publish: sign"));
    expect(at("publish: sign")).toBeLessThan(at("publish: push"));
    expect(lines).toContain("publish: tar-export (once for all gadgets) {\"file\":\"dist/gadgets.tar\"}");
    // the tar on disk is a real OCI layout tar (sanity for the first test's file)
    expect(execFileSync("tar", ["-tf", join(repo.dir, "dist", "gadgets.tar")], { encoding: "utf8" })).toContain("oci-layout");
  }, 60_000);
});
