/**
 * Issue #19, defects 6 and 7 — corrupt blobs of the right size:
 *  6. one flipped byte in a tagged index blob, then `fsck --repair` deleted the 5 blobs it
 *     references as "unreachable". When a referenced blob fails verification, what it references
 *     is unknown: nothing is swept, and fsck says why.
 *  7. `exists()` checked only the size, so a pull kept a corrupt blob and "run fsck, then pull
 *     again" did nothing. `fsck --repair` now moves corrupt blobs aside (to `.corrupt/`, never
 *     deleting them silently), and pull and import re-fetch a present blob that fails verification.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";

const LAYER = "d4797e15f105a82e08912fe7168650ff5d425d8505742e4cbaa6e8a3b0b7a636";
const INDEX = IG_FIXTURE_INDEX_DIGEST.slice("sha256:".length);
const JUNK = "b".repeat(64);

let tmp: { dir: string; cleanup: () => Promise<void> };
let reg: RunningRegistry;
let ref: string;
beforeAll(async () => {
  tmp = await tempDir("gadget-corrupt-");
  reg = await startRegistry();
  ref = `${reg.host}/heal/trace_open:v1`;
  const src = join(tmp.dir, "src");
  expect((await runGadget(["--oci-store", src, "image", "import", IG_FIXTURE_TAR])).code).toBe(0);
  expect((await runGadget(["--oci-store", src, "image", "tag", "trace_open", ref])).code).toBe(0);
  const push = await runGadget(["--oci-store", src, "image", "push", ref, "--insecure-registries", reg.host]);
  expect(push.code, push.stderr).toBe(0);
}, 60_000);
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

/** Flip one byte in the middle of a blob: same size, wrong digest. */
function corrupt(store: string, hex: string): void {
  const p = join(store, "blobs", "sha256", hex);
  chmodSync(p, 0o644);
  const b = readFileSync(p);
  b[b.length >> 1] = b[b.length >> 1]! ^ 0xff;
  writeFileSync(p, b);
  chmodSync(p, 0o444);
}

const hashOf = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const blobs = (store: string) => readdirSync(join(store, "blobs", "sha256")).sort();

describe("corrupt blobs of the right size", () => {
  it("fsck --repair with a corrupt tagged index keeps every blob it references (and any other unreached blob), and says why", async () => {
    const store = join(tmp.dir, "corrupt-index");
    execFileSync("mkdir", ["-p", store]);
    execFileSync("tar", ["xf", IG_FIXTURE_TAR, "-C", store]);
    writeFileSync(join(store, "blobs", "sha256", JUNK), "junk");
    const before = blobs(store).filter((b) => b !== INDEX);
    corrupt(store, INDEX);

    const r = await runGadget(["--oci-store", store, "image", "fsck", "--repair"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`problem: corrupt blob: sha256:${INDEX}`);
    expect(r.stdout).not.toContain("removed unreachable blob");
    expect(r.stdout).toMatch(new RegExp(`note: .*kept.*sha256:${INDEX}.*failed verification`));
    // the index's five children (and the junk, which might be one of them as far as fsck knows) are all still there
    expect(blobs(store).filter((b) => b !== INDEX)).toEqual(before);
    expect(before).toHaveLength(6);
  });

  it("fsck --repair moves a corrupt referenced blob aside to .corrupt/ and says so; the next pull restores it", async () => {
    const store = join(tmp.dir, "repair-then-pull");
    expect((await runGadget(["--oci-store", store, "image", "pull", ref, "--insecure-registries", reg.host])).code).toBe(0);
    corrupt(store, LAYER);
    const bad = readFileSync(join(store, "blobs", "sha256", LAYER));

    const r = await runGadget(["--oci-store", store, "image", "fsck", "--repair"]);
    expect(r.stdout).toContain(`problem: corrupt blob: sha256:${LAYER}`);
    expect(r.stdout).toMatch(new RegExp(`moved corrupt blob sha256:${LAYER} aside to \\.corrupt/`));
    expect(existsSync(join(store, "blobs", "sha256", LAYER))).toBe(false);
    const aside = readdirSync(join(store, ".corrupt"));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(store, ".corrupt", aside[0]!))).toEqual(bad);

    const pull = await runGadget(["--oci-store", store, "image", "pull", ref, "--insecure-registries", reg.host]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(hashOf(join(store, "blobs", "sha256", LAYER))).toBe(LAYER);
    const fsck = await runGadget(["--oci-store", store, "image", "fsck"]);
    expect(fsck.code, fsck.stdout).toBe(0);
  });

  it("a pull re-downloads a present blob of the right size that fails verification", async () => {
    const store = join(tmp.dir, "pull-heals");
    expect((await runGadget(["--oci-store", store, "image", "pull", ref, "--insecure-registries", reg.host])).code).toBe(0);
    corrupt(store, LAYER);
    const pull = await runGadget(["--oci-store", store, "image", "pull", ref, "--insecure-registries", reg.host]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(hashOf(join(store, "blobs", "sha256", LAYER))).toBe(LAYER);
    expect((await runGadget(["--oci-store", store, "image", "fsck"])).code).toBe(0);
  });

  it("an import re-writes a present blob of the right size that fails verification", async () => {
    const store = join(tmp.dir, "import-heals");
    expect((await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR])).code).toBe(0);
    corrupt(store, LAYER);
    const again = await runGadget(["--oci-store", store, "image", "import", IG_FIXTURE_TAR]);
    expect(again.code, again.stderr).toBe(0);
    expect(hashOf(join(store, "blobs", "sha256", LAYER))).toBe(LAYER);
    expect((await runGadget(["--oci-store", store, "image", "fsck"])).code).toBe(0);
  });
});
