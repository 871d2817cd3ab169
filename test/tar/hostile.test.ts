/**
 * Hostile and broken archives: each is refused with one error line that names the entry, and the
 * store is left exactly as it was (same index.json bytes, same blobs, nothing in .tmp/).
 */
import { execFileSync } from "node:child_process";
import { mkdir, symlink, writeFile, link } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync, constants as zc } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGadget, tempDir } from "../helpers/cli.js";
import { BLOCK, encodeHeader, padding } from "../../core/tar/header.js";
import { buildTar, fixtureEntries, snapshot, storeWithFixture, type RawEntry } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
let store: string;
let fixture: { path: string; data: Buffer }[];

const INDEX_HEX = "87c3ecca8d843f2e08382836cb0eff718fa5c56d786c73e2674d7e9db13a1ac7";
const AMD64_MANIFEST_HEX = "20a6646251ab1273da15f6f3588a8fef4c6934f3dd88937db93a61dd652c66df";
const BIG_LAYER_HEX = "d4797e15f105a82e08912fe7168650ff5d425d8505742e4cbaa6e8a3b0b7a636";

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-hostile-"));
  store = join(dir, "store");
  await storeWithFixture(store);
  // a second image so the store differs from any archive content
  fixture = await fixtureEntries();
});

afterAll(async () => {
  await cleanup();
});

/** The fixture's entries with edits; `null` drops an entry. */
function variant(edit: (path: string, data: Buffer) => Buffer | null = (_p, d) => d, extra: RawEntry[] = [], before: RawEntry[] = []): RawEntry[] {
  const out: RawEntry[] = [...before];
  for (const e of fixture) {
    const data = edit(e.path, e.data);
    if (data !== null) out.push({ path: e.path, data, mode: e.path.startsWith("blobs/") ? 0o444 : 0o644 });
  }
  return [...out, ...extra];
}

/** An initialized, empty store (the layout files exist, no images). */
async function emptyStore(name: string): Promise<string> {
  const d = join(dir, name);
  const r = await runGadget(["image", "list", "--oci-store", d]);
  expect(r.code, r.stderr).toBe(0);
  return d;
}

let n = 0;
async function writeCase(bytes: Buffer, name = `case-${++n}.tar`): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, bytes);
  return file;
}

/** Import must fail: exit 1, one `Error:` line naming `entry`, store unchanged. */
async function expectRefused(file: string, entry: string, why: RegExp, storeDir = store): Promise<string> {
  const before = await snapshot(storeDir);
  const r = await runGadget(["image", "import", file, "--oci-store", storeDir]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines[0]).toMatch(/^Error: importing images \(/);
  expect(lines.filter((l) => l.startsWith("Error:"))).toHaveLength(1);
  expect(lines.length).toBeLessThanOrEqual(2); // the error and at most a hint
  if (lines[1] !== undefined) expect(lines[1]).toMatch(/^hint: /);
  expect(lines[0]).toContain(entry);
  expect(lines[0]).toMatch(why);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(await snapshot(storeDir)).toEqual(before);
  return lines[0]!;
}

describe("import refuses hostile or broken archives and leaves the store unchanged", () => {
  it("refuses an entry whose path contains ..", async () => {
    const file = await writeCase(buildTar(variant(undefined, [], [{ path: "../escape", data: Buffer.from("x") }])));
    await expectRefused(file, "../escape", /escapes the archive root/);
  });

  it("refuses a .. hidden inside a blobs/ path", async () => {
    const file = await writeCase(buildTar(variant(undefined, [], [{ path: "blobs/sha256/../../../../tmp/evil", data: Buffer.from("x") }])));
    await expectRefused(file, "blobs/sha256/../../../../tmp/evil", /escapes the archive root/);
  });

  it("refuses an absolute path", async () => {
    const file = await writeCase(buildTar(variant(undefined, [], [{ path: "/etc/cron.d/evil", data: Buffer.from("x") }])));
    await expectRefused(file, "/etc/cron.d/evil", /absolute path/);
  });

  it("refuses a PAX header that renames an entry to a path outside the root", async () => {
    const record = (k: string, v: string) => {
      const body = ` ${k}=${v}\n`;
      let len = body.length + 2;
      if (String(len).length + body.length !== len) len = String(len + 1).length + body.length;
      return `${len}${body}`;
    };
    const pax = Buffer.from(record("path", "../../pax-escape"));
    const file = await writeCase(buildTar(variant(undefined, [], [{ path: "PaxHeaders/x", type: "x", data: pax }, { path: "innocent", data: Buffer.from("x") }])));
    await expectRefused(file, "../../pax-escape", /escapes the archive root/);
  });

  it("refuses a symbolic link (written by GNU tar)", async () => {
    const src = join(dir, "symlink-src");
    await mkdir(join(src, "blobs", "sha256"), { recursive: true });
    for (const e of fixture) await writeFile(join(src, e.path), e.data);
    await symlink("/etc/passwd", join(src, "blobs", "sha256", "0000-link"));
    const file = join(dir, "symlink.tar");
    execFileSync("tar", ["cf", file, "-C", src, "oci-layout", "blobs/sha256/0000-link", "index.json"]);
    await expectRefused(file, "blobs/sha256/0000-link", /symbolic link .*not allowed/);
  });

  it("refuses a hard link (written by GNU tar)", async () => {
    const src = join(dir, "hardlink-src");
    await mkdir(src, { recursive: true });
    await writeFile(join(src, "a"), "data");
    await link(join(src, "a"), join(src, "b"));
    const file = join(dir, "hardlink.tar");
    execFileSync("tar", ["cf", file, "-C", src, "a", "b"]);
    await expectRefused(file, ": b", /hard link .*not allowed/);
  });

  it("refuses a FIFO (written by GNU tar)", async () => {
    const src = join(dir, "fifo-src");
    await mkdir(src, { recursive: true });
    execFileSync("mkfifo", [join(src, "pipe")]);
    const file = join(dir, "fifo.tar");
    execFileSync("tar", ["cf", file, "-C", src, "pipe"]);
    await expectRefused(file, "pipe", /FIFO entries are not allowed/);
  });

  it("refuses a character device entry", async () => {
    const file = await writeCase(buildTar(variant(undefined, [], [{ path: "dev-null", type: "3" }])));
    await expectRefused(file, "dev-null", /character device/);
  });

  it("refuses a blob whose content does not match its digest", async () => {
    const file = await writeCase(
      buildTar(
        variant((p, d) => {
          if (!p.endsWith(BIG_LAYER_HEX)) return d;
          const evil = Buffer.from(d);
          evil[1000] = evil[1000]! ^ 0xff;
          return evil;
        }),
      ),
    );
    await expectRefused(file, `blobs/sha256/${BIG_LAYER_HEX}`, /does not match its digest/);
  });

  it("refuses an index.json that lists a manifest missing from the archive", async () => {
    const file = await writeCase(buildTar(variant((p, d) => (p.endsWith(INDEX_HEX) ? null : d))), "missing-root.tar");
    // a fresh store: the real store already has that blob
    const fresh = await emptyStore("fresh-missing-root");
    const line = await expectRefused(file, "index.json manifests[0]", /not in the archive/, fresh);
    expect(line).toContain(`sha256:${INDEX_HEX}`);
  });

  it("refuses a manifest that references a blob missing from the archive", async () => {
    const file = await writeCase(buildTar(variant((p, d) => (p.endsWith(BIG_LAYER_HEX) ? null : d))), "missing-layer.tar");
    const fresh = await emptyStore("fresh-missing-layer");
    const line = await expectRefused(file, "blobs/sha256/", /not in the archive/, fresh);
    expect(line).toContain(`sha256:${BIG_LAYER_HEX}`);
  });

  it("refuses a truncated archive (cut inside a blob)", async () => {
    const whole = buildTar(variant());
    const file = await writeCase(whole.subarray(0, 50_000));
    await expectRefused(file, "blobs/sha256/367661ade36159f4c59ec79dfe27c07f23271af91aab8298c1614e13a78dc6ac", /truncated archive/);
  });

  it("refuses an archive without the end-of-archive marker", async () => {
    const file = await writeCase(buildTar(variant(), { end: false }));
    await expectRefused(file, file, /truncated archive: it ends without the end-of-archive marker/);
  });

  it("refuses an archive without oci-layout", async () => {
    const file = await writeCase(buildTar(variant((p, d) => (p === "oci-layout" ? null : d))));
    await expectRefused(file, "oci-layout", /missing: this is not an OCI image layout/);
  });

  it("refuses an unsupported oci-layout version", async () => {
    const file = await writeCase(buildTar(variant((p, d) => (p === "oci-layout" ? Buffer.from('{"imageLayoutVersion":"2.0.0"}') : d))));
    await expectRefused(file, "oci-layout", /unsupported imageLayoutVersion "2.0.0"/);
  });

  it("refuses an index.json that is not JSON", async () => {
    const file = await writeCase(buildTar(variant((p, d) => (p === "index.json" ? Buffer.from("{not json") : d))));
    await expectRefused(file, "index.json", /not valid JSON/);
  });

  it("refuses a huge index.json without reading it into memory", async () => {
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const file = await writeCase(buildTar(variant((p, d) => (p === "index.json" ? huge : d))));
    await expectRefused(file, "index.json", /5242880 bytes, more than the 4194304-byte limit/);
  });

  it("refuses duplicate entries with different content", async () => {
    const other = Buffer.from('{"schemaVersion":2,"manifests":[]}');
    const file = await writeCase(buildTar(variant(undefined, [{ path: "index.json", data: other }])));
    await expectRefused(file, "index.json", /duplicate entry with different content/);
  });

  it("refuses a duplicate blob entry whose second copy differs", async () => {
    const big = fixture.find((e) => e.path.endsWith(BIG_LAYER_HEX))!;
    const altered = Buffer.from(big.data);
    altered[0] = altered[0]! ^ 0xff;
    const file = await writeCase(buildTar(variant(undefined, [{ path: big.path, data: altered, mode: 0o444 }])));
    await expectRefused(file, big.path, /does not match its digest/);
  });

  it("refuses a blob path that is not a digest", async () => {
    const file = await writeCase(buildTar(variant(undefined, [], [{ path: "blobs/sha256/not-a-digest", data: Buffer.from("x") }])));
    await expectRefused(file, "blobs/sha256/not-a-digest", /not a valid blob path/);
  });

  it("refuses a descriptor whose size disagrees with the blob", async () => {
    const file = await writeCase(
      buildTar(variant((p, d) => (p === "index.json" ? Buffer.from(d.toString().replace('"size":1711', '"size":1712')) : d))),
    );
    await expectRefused(file, "index.json manifests[0]", /1711 bytes in the archive, but the descriptor says 1712/);
  });

  it("refuses a gzip bomb with bounded expansion", async () => {
    // one blob entry of 300 MB of zeros: ~300 kB compressed, >1000:1
    const size = 300 * 1024 * 1024;
    const header = encodeHeader({ path: `blobs/sha256/${"0".repeat(64)}`, size, mode: 0o444 });
    const tar = Buffer.concat([header, Buffer.alloc(size), Buffer.alloc(padding(size)), Buffer.alloc(BLOCK * 2)]);
    const gz = gzipSync(tar, { level: zc.Z_BEST_SPEED });
    const file = await writeCase(gz, "bomb.tar.gz");
    const line = await expectRefused(file, `blobs/sha256/${"0".repeat(64)}`, /expands more than 200:1/);
    expect(line).toContain("decompression bomb");
  });

  it("refuses a corrupt gzip stream", async () => {
    const gz = gzipSync(buildTar(variant()));
    const file = await writeCase(gz.subarray(0, gz.length - 5000), "cut.tar.gz");
    await expectRefused(file, "cut.tar.gz", /corrupt gzip data|truncated archive/);
  });

  it("refuses input that is not a tar at all", async () => {
    const file = await writeCase(Buffer.from("PK\u0003\u0004 this is a zip, or anything else ".repeat(40)), "not-a-tar.zip");
    await expectRefused(file, "not-a-tar.zip", /not a tar archive/);
  });

  it("refuses a header with a bad checksum in the middle of the archive", async () => {
    const whole = Buffer.from(buildTar(variant()));
    whole[2058] = whole[2058]! ^ 0x01; // the second header's name: checksum no longer matches
    const file = await writeCase(whole);
    await expectRefused(file, file, /corrupt tar header at byte 2048 \(header checksum mismatch\)/);
  });
});
