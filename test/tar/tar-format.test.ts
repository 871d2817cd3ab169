/**
 * The tar layer on its own: our header bytes equal Go archive/tar's (ig's fixture) byte for byte,
 * GNU tar's USTAR/GNU/PAX archives read back correctly, and the reader's limits hold.
 */
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IG_FIXTURE_TAR, tempDir } from "../helpers/cli.js";
import { BLOCK, checksum, decodeHeader, encodeHeader, parseNumeric, parsePax, splitUstarPath } from "../../core/tar/header.js";
import { checkEntryPath, readTar, TarFormatError, type TarEntry } from "../../core/tar/reader.js";
import { TarWriter, streamSink } from "../../core/tar/writer.js";
import { GzipBombError, gunzipBounded, sniffGzip } from "../../core/tar/gzip.js";
import { progressLine, ttyProgress } from "../../core/cli/progress.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("gadget-tarfmt-"));
});
afterAll(async () => {
  await cleanup();
});

async function entriesOf(source: Buffer | AsyncIterable<Buffer>, limits = {}): Promise<(TarEntry & { data: string })[]> {
  const out: (TarEntry & { data: string })[] = [];
  await readTar(
    Buffer.isBuffer(source) ? [source] : source,
    async (e, body) => {
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(Buffer.from(c));
      out.push({ ...e, data: Buffer.concat(parts).toString("latin1") });
    },
    limits,
  );
  return out;
}

describe("USTAR header bytes", () => {
  it("equal Go archive/tar's (ig's export) for every entry of the fixture, given the same mtime", async () => {
    const tar = await readFile(IG_FIXTURE_TAR);
    let off = 0;
    let n = 0;
    while (!tar.subarray(off, off + BLOCK).every((b) => b === 0)) {
      const block = tar.subarray(off, off + BLOCK);
      const h = decodeHeader(Buffer.from(block));
      const mtime = parseNumeric(block, 136, 12, "mtime");
      const ours = encodeHeader({ path: h.path, size: h.size, mode: h.mode, mtime });
      expect(ours.equals(block)).toBe(true);
      off += BLOCK + Math.ceil(h.size / BLOCK) * BLOCK;
      n++;
    }
    expect(n).toBe(8);
  });

  it("splits long paths into prefix and name, and refuses what USTAR cannot hold", () => {
    expect(splitUstarPath("a".repeat(100))).toEqual({ name: "a".repeat(100), prefix: "" });
    const long = `${"d".repeat(120)}/${"f".repeat(90)}`;
    expect(splitUstarPath(long)).toEqual({ prefix: "d".repeat(120), name: "f".repeat(90) });
    expect(() => splitUstarPath("x".repeat(101))).toThrow(/cannot be split/);
    expect(() => splitUstarPath(`a/${"x".repeat(300)}`)).toThrow(/longer than 256/);
    const block = encodeHeader({ path: long, size: 1, mode: 0o644 });
    expect(decodeHeader(block).path).toBe(long);
  });

  it("parses GNU base-256 sizes and refuses bad checksums and non-octal fields", () => {
    const block = encodeHeader({ path: "big", size: 0, mode: 0o644 });
    block[124] = 0x80;
    block.fill(0, 125, 136);
    block.writeUIntBE(10 * 1024 ** 3, 130, 6);
    expect(parseNumeric(block, 124, 12, "size")).toBe(10 * 1024 ** 3);
    const bad = encodeHeader({ path: "x", size: 1, mode: 0o644 });
    bad[0] = 0x79;
    expect(() => decodeHeader(bad)).toThrow(/checksum/);
    const nonOctal = encodeHeader({ path: "x", size: 1, mode: 0o644 });
    nonOctal.write("0000009", 100, "latin1");
    expect(checksum(nonOctal)).toBeGreaterThan(0);
    expect(() => parseNumeric(nonOctal, 100, 8, "mode")).toThrow(/not octal/);
  });

  it("parses PAX records and refuses malformed ones", () => {
    const m = parsePax(Buffer.from("30 path=blobs/sha256/abcdefgh\n12 size=123\n"));
    expect(m.get("path")).toBe("blobs/sha256/abcdefgh");
    expect(m.get("size")).toBe("123");
    expect(() => parsePax(Buffer.from("99 path=x\n"))).toThrow(/malformed/);
    expect(() => parsePax(Buffer.from("x path=x\n"))).toThrow(/malformed/);
  });
});

describe("entry paths", () => {
  it("normalizes ./ and trailing slashes and refuses escapes", () => {
    expect(checkEntryPath("./blobs/sha256/")).toEqual({ path: "blobs/sha256" });
    expect(checkEntryPath("index.json")).toEqual({ path: "index.json" });
    expect(checkEntryPath("a/../../b")).toEqual({ refused: 'path escapes the archive root ("..")' });
    expect(checkEntryPath("/abs")).toEqual({ refused: "absolute path" });
    expect(checkEntryPath("C:\\x")).toEqual({ refused: "absolute path" });
    expect(checkEntryPath("a\\..\\b")).toEqual({ refused: 'path escapes the archive root ("..")' });
    expect(checkEntryPath("a\0b")).toEqual({ refused: "path contains a NUL byte" });
  });
});

describe("reading archives GNU tar wrote", () => {
  it("reads USTAR, GNU (long names) and PAX archives with directories", async () => {
    const src = join(dir, "src");
    const deep = join(src, "blobs", "sha256", "d".repeat(70), "e".repeat(60));
    await mkdir(deep, { recursive: true });
    await writeFile(join(src, "index.json"), "{}");
    await writeFile(join(deep, "f".repeat(60)), "deep content");
    for (const format of ["ustar", "gnu", "pax"]) {
      const file = join(dir, `${format}.tar`);
      execFileSync("tar", ["cf", file, `--format=${format}`, "-C", src, "."]);
      const entries = await entriesOf(await readFile(file));
      const files = entries.filter((e) => e.type === "file");
      expect(files.map((e) => e.path).sort()).toEqual([`blobs/sha256/${"d".repeat(70)}/${"e".repeat(60)}/${"f".repeat(60)}`, "index.json"].sort());
      expect(files.find((e) => e.path === "index.json")!.data).toBe("{}");
      expect(files.find((e) => e.path !== "index.json")!.data).toBe("deep content");
      expect(entries.some((e) => e.type === "directory" && e.path === "blobs/sha256")).toBe(true);
    }
  });

  it("reads the same bytes however the input is chunked, and skips what a consumer leaves unread", async () => {
    const tar = await readFile(IG_FIXTURE_TAR);
    const whole = await entriesOf(tar);
    async function* dribble(): AsyncGenerator<Buffer> {
      for (let i = 0; i < tar.length; i += 37) yield tar.subarray(i, i + 37);
    }
    expect(await entriesOf(dribble())).toEqual(whole);
    // a consumer that reads one chunk of each body and stops
    const seen: string[] = [];
    await readTar([tar], async (e, body) => {
      for await (const _ of body) break;
      seen.push(e.path);
    });
    expect(seen).toEqual(whole.map((e) => e.path));
  });

  it("stops at the entry limit", async () => {
    await expect(entriesOf(await readFile(IG_FIXTURE_TAR), { maxEntries: 3 })).rejects.toThrow(TarFormatError);
    await expect(entriesOf(await readFile(IG_FIXTURE_TAR), { maxEntries: 3 })).rejects.toThrow(/more than 3 entries/);
  });
});

describe("writer", () => {
  it("streams with backpressure to a slow stream and refuses content of the wrong length", async () => {
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        setImmediate(cb);
      },
    });
    const tw = new TarWriter(streamSink(slow));
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x61);
    async function* parts(): AsyncGenerator<Buffer> {
      for (let i = 0; i < big.length; i += 65536) yield big.subarray(i, i + 65536);
    }
    await tw.addFile("blobs/sha256/x", big.length, parts(), { mode: 0o444 });
    await tw.finish();
    const out = Buffer.concat(chunks);
    expect(out.length).toBe(tw.bytes);
    expect(out.length % BLOCK).toBe(0);
    const back = await entriesOf(out);
    expect(back[0]!.data.length).toBe(big.length);
    const tw2 = new TarWriter(streamSink(new PassThrough().resume()));
    await expect(tw2.addFile("short", 10, Buffer.alloc(5), { mode: 0o644 })).rejects.toThrow(/header says 10/);
    async function* tooLong(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(11);
    }
    await expect(tw2.addFile("long", 10, tooLong(), { mode: 0o644 })).rejects.toThrow(/longer than the 10 bytes/);
  });
});

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

describe("gzip", () => {
  it("is detected by magic and decompressed; a bomb is stopped by the ratio limit", async () => {
    const data = Buffer.alloc(4 * 1024 * 1024);
    const sniffed = await sniffGzip(once(gzipSync(data)));
    expect(sniffed.gzip).toBe(true);
    let total = 0;
    for await (const c of gunzipBounded(sniffed.source)) total += c.length;
    expect(total).toBe(data.length);
    const plain = await sniffGzip(once(Buffer.from("ustar")));
    expect(plain.gzip).toBe(false);
    const again = await sniffGzip(once(gzipSync(data)));
    const read = async () => {
      for await (const _ of gunzipBounded(again.source, { maxRatio: 50, ratioFloorBytes: 1024 * 1024 })) {
        /* drain */
      }
    };
    await expect(read()).rejects.toThrow(GzipBombError);
  });
});

describe("progress", () => {
  it("draws bytes, percentage and rate on one line, throttled, and erases it at the end", () => {
    let out = "";
    const sink = new Writable({
      write(c, _e, cb) {
        out += c.toString();
        cb();
      },
    });
    let now = 0;
    const p = ttyProgress(sink, "exporting", () => now);
    now = 1000;
    p.onProgress({ bytes: 5_000_000, total: 10_000_000 });
    now = 1050;
    p.onProgress({ bytes: 6_000_000, total: 10_000_000 }); // throttled
    now = 2000;
    p.onProgress({ bytes: 10_000_000, total: 10_000_000, done: true });
    p.stop();
    expect(out).toBe("\r\x1b[Kexporting 5.00 MB / 10.0 MB (50%)  5.00 MB/s\r\x1b[Kexporting 10.0 MB / 10.0 MB (100%)  5.00 MB/s\r\x1b[K");
    expect(progressLine("importing", { bytes: 512 }, 0)).toBe("importing 512 B  0 B/s");
  });
});

describe("names of imported tags", () => {
  const fail = (which: string | undefined, why: string): never => {
    throw new Error(`${which}: ${why}`);
  };
  it("keeps full references, normalizes short ones, names bare tags after the archive", async () => {
    const { usableName, stemOf } = await import("../../core/image/import.js");
    expect(stemOf("/x/My Gadgets (v2).tar.gz")).toBe("my-gadgets-v2");
    expect(stemOf("-")).toBe("imported");
    expect(stemOf("/x/---.tar")).toBe("imported");
    expect(usableName("ghcr.io/inspektor-gadget/gadget/trace_open:latest", "s", "w", fail)).toEqual({ name: "ghcr.io/inspektor-gadget/gadget/trace_open:latest", signature: false });
    expect(usableName("localhost:5000/a/b", "s", "w", fail)).toMatchObject({ name: "localhost:5000/a/b:latest", warning: expect.stringContaining("not a full reference") });
    expect(usableName("v1.0", "pkg", "w", fail)).toMatchObject({ name: "ghcr.io/inspektor-gadget/gadget/pkg:v1.0", warning: expect.stringContaining("bare tag") });
    expect(usableName(`sha256-${"a".repeat(64)}.sig`, "s", "w", fail)).toEqual({ name: `sha256-${"a".repeat(64)}.sig`, signature: true });
    expect(() => usableName("not a tag!", "s", "where", fail)).toThrow(/where: ref name "not a tag!" is neither a tag nor an image reference/);
    expect(() => usableName(`x/y@sha256:${"b".repeat(64)}`, "s", "where", fail)).toThrow(/has a digest but no tag/);
  });
});
