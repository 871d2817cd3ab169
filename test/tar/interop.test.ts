/**
 * Interop with real tools: skopeo reads our export (`oci-archive:`) and what skopeo writes we
 * import; umoci lists the tags of an extracted export; GNU tar extracts it.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IG_FIXTURE_INDEX_DIGEST, runCommand, runGadget, tempDir } from "../helpers/cli.js";
import { LayoutStore } from "../../core/store/layout-store.js";
import { storeWithFixture } from "./helpers.js";

const REF = "ghcr.io/inspektor-gadget/gadget/trace_open:latest";
const OTHER = "localhost:5000/team/opensnoop:v1";
let dir: string;
let cleanup: () => Promise<void>;
let store: string;
let ours: string;

function need(tool: string): void {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "pipe" });
  } catch {
    throw new Error(`${tool} is not installed: run scripts/bootstrap`);
  }
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-interop-"));
  store = join(dir, "store");
  await storeWithFixture(store);
  const s = await LayoutStore.open(store);
  await s.tag(await s.resolve("trace_open"), OTHER);
  ours = join(dir, "ours.tar");
  const r = await runGadget(["image", "export", "trace_open", OTHER, ours, "--oci-store", store]);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await cleanup();
});

describe("skopeo", () => {
  it("copies every platform out of our export (oci-archive:) and inspect --raw shows our index", async () => {
    need("skopeo");
    const out = join(dir, "skopeo-oci");
    const r = await runCommand("skopeo", ["copy", "--all", `oci-archive:${ours}:${REF}`, `oci:${out}:${REF}`]);
    expect(r.stderr).toBe("");
    expect(r.code, r.stderr).toBe(0);
    const raw = await runCommand("skopeo", ["inspect", "--raw", `oci:${out}:${REF}`]);
    expect(raw.code).toBe(0);
    const s = await LayoutStore.open(store);
    expect(raw.stdout).toBe((await s.readBlob(IG_FIXTURE_INDEX_DIGEST)).toString());
    const layout = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
    expect(layout.manifests[0].digest).toBe(IG_FIXTURE_INDEX_DIGEST);
    // the second tag in the same archive is reachable too
    const raw2 = await runCommand("skopeo", ["inspect", "--raw", `oci-archive:${ours}:${OTHER}`]);
    expect(raw2.code).toBe(0);
    expect(raw2.stdout).toBe(raw.stdout);
  });

  it("an archive skopeo wrote with a bare tag imports, with a warning and a usable name", async () => {
    need("skopeo");
    const src = join(dir, "skopeo-oci");
    const skTar = join(dir, "from-skopeo.tar");
    const c = await runCommand("skopeo", ["copy", "--all", `oci:${src}:${REF}`, `oci-archive:${skTar}:latest`]);
    expect(c.code).toBe(0);
    const fresh = join(dir, "fresh-skopeo");
    const r = await runGadget(["image", "import", skTar, "--oci-store", fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("Successfully imported images:\n  ghcr.io/inspektor-gadget/gadget/from-skopeo:latest\n");
    expect(r.stderr).toMatch(/^Warning: ref name "latest" in the archive is a bare tag; imported as ghcr\.io\/inspektor-gadget\/gadget\/from-skopeo:latest/);
    const list = await runGadget(["image", "list", "-o", "json", "--oci-store", fresh]);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ Repository: "from-skopeo", Tag: "latest", Digest: IG_FIXTURE_INDEX_DIGEST })]);
  });

  it("an archive skopeo wrote with a full reference imports under that reference, silently", async () => {
    need("skopeo");
    const src = join(dir, "skopeo-oci");
    const skTar = join(dir, "from-skopeo-full.tar");
    const c = await runCommand("skopeo", ["copy", "--all", `oci:${src}:${REF}`, `oci-archive:${skTar}:${OTHER}`]);
    expect(c.code).toBe(0);
    const fresh = join(dir, "fresh-skopeo-full");
    const r = await runGadget(["image", "import", skTar, "--oci-store", fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`Successfully imported images:\n  ${OTHER}\n`);
  });
});

describe("umoci and GNU tar", () => {
  it("GNU tar extracts our export and umoci ls --layout lists its tags", async () => {
    need("umoci");
    const x = join(dir, "extracted");
    await mkdir(x);
    execFileSync("tar", ["xf", ours, "-C", x]);
    const r = await runCommand("umoci", ["ls", "--layout", x]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual([OTHER, REF].sort());
  });

  it("a layout tarred up by hand (GNU tar, ./ paths, directories, gzip) imports", async () => {
    const x = join(dir, "extracted");
    const handmade = join(dir, "handmade.tgz");
    execFileSync("tar", ["czf", handmade, "-C", x, "."]);
    const fresh = join(dir, "fresh-handmade");
    const r = await runGadget(["image", "import", handmade, "--oci-store", fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n").slice(1).filter(Boolean).sort()).toEqual([`  ${OTHER}`, `  ${REF}`].sort());
  });

  it("GNU tar lists only regular files with fixed metadata", async () => {
    const out = execFileSync("tar", ["tvf", ours, "--numeric-owner"], { encoding: "utf8" });
    const lines = out.trim().split("\n");
    expect(lines.length).toBe(8);
    for (const l of lines) expect(l).toMatch(/^-r[w-]-r--r-- 0\/0 +\d+ 1970-01-01 00:00 (blobs\/sha256\/[a-f0-9]{64}|index\.json|oci-layout)$/);
  });
});
