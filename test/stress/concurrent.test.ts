import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { pushImage } from "../../core/image/push.js";
import { releaseWriterLock } from "../../core/store/layout-store.js";
import { REPO_ROOT, runGadget, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { makeImage } from "../registry/fixtures.js";
import { expectRepairable, expectStoreSound, tagNames } from "./helpers.js";

const GH = "ghcr.io/inspektor-gadget/gadget/";
let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
let store: string;
const expected: Record<string, string> = {};
let keepDigest: string;
const tars: string[] = [];
beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("gadget-concurrent-");
  store = join(tmp.dir, "store");
  // one layer shared by everything: rm's garbage collection races the others' "already have it"
  const shared = randomBytes(256 * 1024);
  const src = join(tmp.dir, "src");
  for (let i = 0; i < 4; i++) {
    const ref = `${reg.host}/pull/p${i}:v1`;
    const img = await makeImage(src, ref, { layer: shared });
    await pushImage({ storeDir: src, reference: ref, insecureRegistries: [reg.host] });
    expected[ref] = img.index.digest;
  }
  for (let i = 0; i < 2; i++) {
    const exp = join(tmp.dir, `exp${i}`);
    const img = await makeImage(exp, `imp/i${i}:v1`, { layer: shared });
    const tar = join(tmp.dir, `imp${i}.tar`);
    const r = await runGadget(["--oci-store", exp, "image", "export", `imp/i${i}:v1`, tar]);
    expect(r.code, r.stderr).toBe(0);
    tars.push(tar);
    expected[`ghcr.io/imp/i${i}:v1`] = img.index.digest;
  }
  const keep = await makeImage(store, "keep:me", { layerSize: 4096 });
  keepDigest = keep.index.digest;
  expected[`${GH}keep:me`] = keepDigest;
  for (let i = 0; i < 4; i++) await makeImage(store, `doomed${i}:v1`, { layer: shared });
  for (const d of [store, src, ...tars.map((_, i) => join(tmp.dir, `exp${i}`))]) await releaseWriterLock(d);
}, 90_000);
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("20 concurrent writers on one store", () => {
  it("build, pull, tag, rm and import at once: every expected tag exists, nothing extra, fsck clean", async () => {
    const g = (...args: string[]) => runGadget(["--oci-store", store, ...args], { timeoutMs: 90_000 });
    const ops: { name: string; run: () => ReturnType<typeof runGadget> }[] = [];
    for (let i = 0; i < 4; i++) ops.push({ name: `pull p${i}`, run: () => g("image", "pull", `${reg.host}/pull/p${i}:v1`, "--insecure-registries", reg.host) });
    for (let i = 0; i < 4; i++) ops.push({ name: `rm doomed${i}`, run: () => g("image", "rm", `doomed${i}:v1`) });
    for (let i = 0; i < 5; i++) ops.push({ name: `tag t${i}`, run: () => g("image", "tag", "keep:me", `tagged:v${i}`) });
    for (let i = 0; i < 4; i++) ops.push({ name: `import ${i % 2}`, run: () => g("image", "import", tars[i % 2]!) });
    for (let i = 0; i < 3; i++) ops.push({ name: `build b${i}`, run: () => g("image", "build", join(REPO_ROOT, "examples", "count_syscall"), "-t", `built:v${i}`) });
    expect(ops).toHaveLength(20);
    for (let i = 0; i < 5; i++) expected[`${GH}tagged:v${i}`] = keepDigest;
    const results = await Promise.all(ops.map(async (o) => ({ name: o.name, r: await o.run() })));
    for (const { name, r } of results) expect(r.code, `${name}: ${r.stderr}`).toBe(0);

    const names = await tagNames(store);
    const builtTags = [0, 1, 2].map((i) => `${GH}built:v${i}`);
    expect(names).toEqual([...Object.keys(expected), ...builtTags].sort());
    await expectStoreSound(store, expected, "after 20 concurrent writers");
    await expectRepairable(store);
    // and the store still works
    expect((await g("image", "rm", "tagged:v0")).code).toBe(0);
    expect((await g("image", "pull", `${reg.host}/pull/p0:v1`, "--insecure-registries", reg.host)).code).toBe(0);
  }, 120_000);

  it("fsck --repair running beside writers never deletes what they are adding", async () => {
    const g = (...args: string[]) => runGadget(["--oci-store", store, ...args], { timeoutMs: 90_000 });
    // the first test removed tagged:v0; make the pulls below really copy again
    delete expected[`${GH}tagged:v0`];
    for (let i = 1; i < 4; i++) expect((await g("image", "rm", `${reg.host}/pull/p${i}:v1`)).code).toBe(0);
    expect((await g("image", "rm", "tagged:v1")).code).toBe(0);
    delete expected[`${GH}tagged:v1`];
    const ops: Promise<{ name: string; r: Awaited<ReturnType<typeof g>> }>[] = [];
    const push = (name: string, p: ReturnType<typeof g>) => ops.push(p.then((r) => ({ name, r })));
    push("rm p0", g("image", "rm", `${reg.host}/pull/p0:v1`));
    push("rm i0", g("image", "rm", "imp/i0:v1"));
    delete expected[`${reg.host}/pull/p0:v1`];
    delete expected["ghcr.io/imp/i0:v1"];
    for (let i = 1; i < 4; i++) push(`pull p${i}`, g("image", "pull", `${reg.host}/pull/p${i}:v1`, "--insecure-registries", reg.host));
    push("import 1", g("image", "import", tars[1]!));
    push("build", g("image", "build", join(REPO_ROOT, "examples", "count_syscall"), "-t", "built:v9"));
    for (let i = 0; i < 4; i++) push(`repair ${i}`, g("image", "fsck", "--repair"));
    const results = await Promise.all(ops);
    for (const { name, r } of results) {
      if (name.startsWith("repair")) expect(r.stdout + r.stderr, name).not.toMatch(/problem: (?!repair skipped)/);
      else expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    await expectStoreSound(store, expected, "after writers beside fsck --repair");
    expect(await tagNames(store)).toEqual([...Object.keys(expected), ...[0, 1, 2, 9].map((i) => `${GH}built:v${i}`)].sort());
    await expectRepairable(store);
  }, 120_000);
});
