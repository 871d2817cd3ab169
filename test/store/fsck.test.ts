import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, writeFileSync, readFileSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir("gadget-fsck-"));
  execFileSync("tar", ["xf", IG_FIXTURE_TAR, "-C", dir]);
});
afterEach(() => cleanup());

const LAYER = "d4797e15f105a82e08912fe7168650ff5d425d8505742e4cbaa6e8a3b0b7a636";
const fsckRun = (...extra: string[]) => runGadget(["--oci-store", dir, "image", "fsck", ...extra]);

describe("gadget image fsck", () => {
  it("a clean store → exit 0", async () => {
    const r = await fsckRun();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("ok (6 blobs verified)");
  });

  it("a corrupted blob (same size) is a problem naming the digest", async () => {
    const p = join(dir, "blobs", "sha256", LAYER);
    chmodSync(p, 0o644);
    const b = readFileSync(p);
    b[100] = b[100]! ^ 0xff;
    writeFileSync(p, b);
    const r = await fsckRun();
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain("sound:");
    expect(r.stdout).toContain(`problem: corrupt blob: sha256:${LAYER}`);
  });

  it("a truncated blob and a missing blob are problems", async () => {
    const p = join(dir, "blobs", "sha256", LAYER);
    chmodSync(p, 0o644);
    appendFileSync(p, "x");
    unlinkSync(join(dir, "blobs", "sha256", "4326d8996b54290ca8e8422cf7119ccb7822650ae40837805f5ff867250ca2fe"));
    const r = await fsckRun();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`problem: size mismatch: blob sha256:${LAYER}`);
    expect(r.stdout).toContain("problem: missing blob: sha256:4326d8996b54290ca8e8422cf7119ccb7822650ae40837805f5ff867250ca2fe");
  });

  it("garbage (unreachable blobs, stale temp files) is reported and --repair removes only it", async () => {
    writeFileSync(join(dir, "blobs", "sha256", "b".repeat(64)), "junk");
    mkdirSync(join(dir, ".tmp"), { recursive: true });
    // a temp name of gadget's whose writer is gone (a child that has exited)
    const dead = spawnSync("true").pid;
    writeFileSync(join(dir, ".tmp", `blob.tmp-${dead}-aa`), "partial");
    const r = await fsckRun();
    // garbage alone is no failure: the store is sound, prune removes it
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sound: .*no problems \(6 blobs verified\); 2 item\(s\) of garbage$/m);
    expect(r.stdout).toContain("hint: `gadget image prune` removes the garbage");
    expect(r.stdout).toContain(`garbage: unreachable blob: sha256:${"b".repeat(64)}`);
    expect(r.stdout).toContain(`garbage: stale temp file: .tmp/blob.tmp-${dead}-aa`);
    expect(r.stdout).not.toContain("problem:");
    const fix = await fsckRun("--repair");
    expect(fix.code).toBe(0);
    expect(fix.stdout).toContain(`removed unreachable blob sha256:${"b".repeat(64)}`);
    expect(fix.stdout).toContain(`removed stale temp file .tmp/blob.tmp-${dead}-aa`);
    expect(readdirSync(join(dir, "blobs", "sha256"))).toHaveLength(6);
    expect((await fsckRun()).code).toBe(0);
  });

  it("an unparseable index.json and a missing oci-layout are problems", async () => {
    writeFileSync(join(dir, "index.json"), "{");
    const r = await fsckRun();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/problem: .*index.json is corrupt/);
    unlinkSync(join(dir, "oci-layout"));
    const r2 = await fsckRun();
    expect(r2.stdout).toMatch(/problem: .*no oci-layout/);
  });
});
