/**
 * index.json updates asked for together in one process are written together: one lock and one
 * write for a burst of tags (a many-gadget build), each update still applied in order, one that
 * fails changing nothing and failing alone. The lock is taken by util-linux `flock`: a stand-in
 * on PATH counts how often (and execs the real one).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LayoutStore, releaseWriterLock } from "../../core/store/layout-store.js";
import { sha256 } from "../../core/oci/digest.js";
import { tempDir } from "../helpers/cli.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let savedPath: string | undefined;
const log = () => join(tmp.dir, "flock.log");

beforeAll(async () => {
  tmp = await tempDir("gadget-index-batch-");
  const shim = join(tmp.dir, "bin");
  await (await import("node:fs/promises")).mkdir(shim);
  await writeFile(join(shim, "flock"), `#!/bin/sh\necho "$1" >> ${log()}\nexec /usr/bin/flock "$@"\n`);
  await chmod(join(shim, "flock"), 0o755);
  savedPath = process.env.PATH;
  process.env.PATH = `${shim}:${process.env.PATH}`;
});
afterAll(async () => {
  process.env.PATH = savedPath;
  await tmp?.cleanup();
});

describe("index.json updates in one process", () => {
  it("50 tags at once: every tag lands, under a handful of exclusive locks; a failing update fails alone", async () => {
    const store = await LayoutStore.open(join(tmp.dir, "store"));
    const bytes = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
    const desc = { mediaType: "application/vnd.oci.image.index.v1+json", digest: sha256(bytes), size: bytes.byteLength };
    await store.push(desc, bytes);
    await writeFile(log(), "");
    const tags = Array.from({ length: 50 }, (_, i) => store.tag(desc, `example.com/batch/g${i}:v1`));
    const missing = store.untag("example.com/batch/nope:v1").then(
      () => "removed",
      (e: Error) => e.message,
    );
    await Promise.all(tags);
    expect(await missing).toMatch(/not found/);
    const names = (await store.entries()).map((e) => e.annotations?.["org.opencontainers.image.ref.name"]).sort();
    expect(names).toEqual(Array.from({ length: 50 }, (_, i) => `example.com/batch/g${i}:v1`).sort());
    const exclusive = (await readFile(log(), "utf8")).split("\n").filter((l) => l === "-x").length;
    expect(exclusive).toBeGreaterThanOrEqual(1);
    expect(exclusive).toBeLessThanOrEqual(3); // one per batch: not one per tag
    // in order: updates asked for together apply in the order they were asked for
    const order: string[] = [];
    await Promise.all([
      store.updateIndex((entries) => (order.push("a"), { entries: entries.filter((e) => !e.annotations?.["org.opencontainers.image.ref.name"]?.endsWith("g0:v1")), result: undefined })),
      store.updateIndex((entries) => (order.push(`b saw ${entries.length}`), { entries, result: undefined })),
    ]);
    expect(order).toEqual(["a", "b saw 49"]);
    await releaseWriterLock(store.root);
  });
});
