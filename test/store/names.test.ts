/**
 * Gap 9 of issue 17: names where ig and gadget used to differ.
 *
 * ig, pkg/oci/oci.go normalizeImageName: `domain, remainer := splitIGDomain(image);
 * reference.ParseNormalizedNamed(domain + "/" + remainer)` — nothing is trimmed, and since the
 * domain comes first, distribution's "cannot specify 64-byte hexadecimal strings" (anchored on the
 * whole name) never applies: a bare 64-hex string is a gadget name.
 * tagGadgetImage: `ociStore.Tag(ctx, targetDescriptor, dst.String())` with dst normalized by
 * reference.TagNameOnly (no `:latest` added when a digest is given), then
 * `cmd.Printf("Successfully tagged with %s\n", desc.String())`, GadgetImageDesc.String() =
 * "%s:%s@%s" (Repository, Tag "" for a digest reference, Digest).
 * ImportGadgetImages: `oras.Copy(ctx, src, tag, ociStore, tag, …)` for each tag of the archive,
 * verbatim.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { IG_FIXTURE_INDEX_DIGEST, IG_FIXTURE_TAR, runGadget, tempDir } from "../helpers/cli.js";
import { buildTar, fixtureEntries } from "../tar/helpers.js";

const HEX = "0123456789abcdef".repeat(4);
const REF = "ghcr.io/inspektor-gadget/gadget/trace_open:latest";
let dir: string;
let cleanup: () => Promise<void>;
let store: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-names-"));
  store = join(dir, "store");
  expect((await runGadget(["image", "import", IG_FIXTURE_TAR, "--oci-store", store])).code).toBe(0);
});
afterAll(async () => cleanup?.());

const g = (...args: string[]) => runGadget([...args, "--oci-store", store]);

describe("names as ig reads them", () => {
  it("a bare 64-hex string is a gadget name (ghcr.io/inspektor-gadget/gadget/<hex>:latest)", async () => {
    const t = await g("image", "tag", "trace_open", HEX);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toBe(`Successfully tagged with ghcr.io/inspektor-gadget/gadget/${HEX}:latest@${IG_FIXTURE_INDEX_DIGEST}\n`);
    const list = JSON.parse((await g("image", "list", "-o", "json")).stdout) as { Repository: string }[];
    expect(list.map((i) => i.Repository)).toContain(HEX);
    expect((await g("image", "rm", HEX)).code).toBe(0);
  });

  it("whitespace is not trimmed: the name is invalid, as in ig", async () => {
    for (const name of [" trace_open", "trace_open ", "trace\topen"]) {
      const r = await g("image", "inspect", name, "-o", "summary");
      expect(r.code, JSON.stringify(name)).toBe(1);
      expect(r.stderr.split("\n")[0]).toBe(`Error: invalid image name (${JSON.stringify(name)}): invalid reference format: the name contains whitespace`);
    }
  });

  it("tagging to a digest-only destination stores that ref name when the digest is the image's own, and says so as ig", async () => {
    const dst = `localhost:5000/pinned@${IG_FIXTURE_INDEX_DIGEST}`;
    const t = await g("image", "tag", "trace_open", dst);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toBe(`Successfully tagged with localhost:5000/pinned:@${IG_FIXTURE_INDEX_DIGEST}\n`);
    const index = JSON.parse(await readFile(join(store, "index.json"), "utf8")) as { manifests: { annotations?: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"])).toContain(dst);
    // another digest would name content the store does not tag there: refused (ig would store it)
    const other = `localhost:5000/pinned@sha256:${"1".repeat(64)}`;
    const bad = await g("image", "tag", "trace_open", other);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split("\n")[0]).toBe(`Error: tagging image (${other}): the destination names sha256:${"1".repeat(64)} but trace_open is ${IG_FIXTURE_INDEX_DIGEST}`);
  });

  it("import normalizes short ref names (ig would store `trace_open:v1` verbatim, a name its own commands never find)", async () => {
    const entries = await fixtureEntries();
    const tar = buildTar(entries.map((e) => ({ path: e.path, data: e.path === "index.json" ? Buffer.from(e.data.toString().replace(`"${REF}"`, '"trace_open:v1"')) : e.data })));
    const file = join(dir, "short.tar");
    await writeFile(file, tar);
    const r = await runGadget(["image", "import", file, "--oci-store", join(dir, "short")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("Successfully imported images:\n  ghcr.io/inspektor-gadget/gadget/trace_open:v1\n");
    expect(r.stderr).toBe('Warning: ref name "trace_open:v1" in the archive is not a full reference; imported as ghcr.io/inspektor-gadget/gadget/trace_open:v1\n');
  });
});
