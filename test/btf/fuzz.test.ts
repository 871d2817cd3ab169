/**
 * Damaged objects: real compiled gadgets, truncated and with bytes flipped (a fixed seed, so a
 * failure replays). Every variant must either parse — and then the metadata checks and
 * --update-metadata run on it without crashing — or fail with our one error,
 * `reading eBPF object (<gadget>/<arch>.bpf.o): …`; never a RangeError or TypeError.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { tempDir } from "../helpers/cli.js";
import { compileFixture } from "../helpers/bpf-fixtures.js";
import { requireTools } from "../build/helpers.js";
import { GadgetError, markerProblems, parseElf, readBpfObject, unresolvedSymbols, updateMetadata, validateMetadata } from "../../core/index.js";

/** Objects that exercise the most of the reader: sized enums, custom sections, externs, maps of maps, iterators. */
const SOURCES: [string, "amd64" | "arm64"][] = [
  ["params_enums", "amd64"],
  ["data_sections", "arm64"],
  ["externs", "amd64"],
  ["map_of_maps", "arm64"],
  ["snapshot_tasks", "amd64"],
  ["multi_datasources", "arm64"],
];
const VARIANTS_PER_OBJECT = 90;
const SEED = 0x5eed1b7f;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Target {
  name: string;
  which: string;
  bytes: Buffer;
  /** Byte ranges worth damaging: the ELF header and section table, .BTF, the symbol table. */
  hot: [number, number][];
}

function hotRanges(bytes: Buffer): [number, number][] {
  const elf = parseElf(bytes);
  const shoff = Number(bytes.readBigUInt64LE(40));
  const ranges: [number, number][] = [[0, 64], [shoff, shoff + elf.sections.length * 64]];
  for (const s of elf.sections) if ([".BTF", ".symtab", ".strtab", ".maps", ".rodata"].includes(s.name)) ranges.push([s.offset, s.offset + s.size]);
  return ranges.filter(([a, b]) => b > a);
}

function variants(t: Target, rand: () => number): { label: string; bytes: Buffer }[] {
  const out: { label: string; bytes: Buffer }[] = [];
  const pick = (n: number) => Math.floor(rand() * n);
  const hotOffset = () => {
    const [a, b] = t.hot[pick(t.hot.length)]!;
    return a + pick(b - a);
  };
  const n = t.bytes.length;
  // truncations: evenly spaced, then random
  for (let i = 0; i < 20; i++) out.push({ label: `truncate@${Math.floor((n * i) / 20)}`, bytes: t.bytes.subarray(0, Math.floor((n * i) / 20)) });
  while (out.length < 30) {
    const len = pick(n);
    out.push({ label: `truncate@${len}`, bytes: t.bytes.subarray(0, len) });
  }
  // single and multi-byte flips, mostly where the reader looks
  while (out.length < 70) {
    const b = Buffer.from(t.bytes);
    const flips = 1 + pick(4);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const o = rand() < 0.85 ? hotOffset() : pick(n);
      b[o] = b[o]! ^ (1 << pick(8));
      at.push(o);
    }
    out.push({ label: `flip@${at.join(",")}`, bytes: b });
  }
  // 32-bit words set to extremes (offsets, sizes, counts, type ids)
  const extremes = [0, 0xffffffff, 0x7fffffff, 0x80000000, 0xffff, 0x1000000];
  while (out.length < VARIANTS_PER_OBJECT) {
    const b = Buffer.from(t.bytes);
    const o = Math.min(hotOffset() & ~3, n - 4);
    b.writeUInt32LE(extremes[pick(extremes.length)]!, o);
    out.push({ label: `word@${o}`, bytes: b });
  }
  return out;
}

let cleanup: () => Promise<void>;
const targets: Target[] = [];

beforeAll(async () => {
  requireTools("clang", "llvm-strip");
  const t = await tempDir("gadget-fuzz-");
  cleanup = t.cleanup;
  const built = await Promise.all(SOURCES.map(([name, arch]) => compileFixture(name, arch, t.dir)));
  SOURCES.forEach(([name, arch], i) => {
    const bytes = built[i]!;
    targets.push({ name, which: `${name}/${arch}.bpf.o`, bytes, hot: hotRanges(bytes) });
  });
});
afterAll(async () => cleanup?.());

describe("reading damaged eBPF objects", () => {
  it("every truncated or flipped variant parses or fails with one 'reading eBPF object' error — no raw exceptions", () => {
    const rand = prng(SEED);
    let parsed = 0;
    let refused = 0;
    let updateRefused = 0;
    const raw: string[] = [];
    for (const t of targets) {
      expect(readBpfObject(t.bytes, t.which).globals.length).toBeGreaterThan(0); // the undamaged object reads
      for (const v of variants(t, rand)) {
        try {
          const obj = readBpfObject(v.bytes, t.which);
          unresolvedSymbols(v.bytes, t.which);
          markerProblems(obj);
          validateMetadata({ name: "x", params: { ebpf: { level: { key: "l" }, limit: { key: "m" } } } }, obj);
          try {
            updateMetadata(undefined, obj, "gadget.yaml");
          } catch (e) {
            // a damaged marker or parameter is refused as ig refuses it, with our error
            if (!(e instanceof GadgetError) || e.what !== "updating metadata") throw e;
            updateRefused++;
          }
          parsed++;
        } catch (e) {
          const ok = e instanceof GadgetError && e.what === "reading eBPF object" && e.which === t.which && e.code !== "BPF_READER_INTERNAL" && !e.message.includes("\n");
          if (!ok) raw.push(`${t.which} ${v.label}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
          else refused++;
        }
      }
    }
    const total = parsed + refused + raw.length;
    console.log(`fuzz: ${total} variants of ${targets.length} objects (seed ${SEED.toString(16)}): ${parsed} parsed (${updateRefused} refused by --update-metadata), ${refused} refused with "reading eBPF object", ${raw.length} raw exceptions`);
    expect(raw).toEqual([]);
    expect(total).toBe(SOURCES.length * VARIANTS_PER_OBJECT);
    expect(refused).toBeGreaterThan(total / 4);
    expect(parsed).toBeGreaterThan(total / 10);
  });

  it("names the object and the reason, in one line", () => {
    const t = targets[0]!;
    expect(() => readBpfObject(t.bytes.subarray(0, 100), t.which)).toThrow(/^reading eBPF object \(params_enums\/amd64\.bpf\.o\): invalid ELF file: section header offset \d+ is past the end of the file \(100 bytes\)$/);
    expect(() => readBpfObject(Buffer.from("not an object"), t.which)).toThrow("reading eBPF object (params_enums/amd64.bpf.o): invalid ELF file: not an ELF file (bad magic)");
    const elf = parseElf(t.bytes);
    const btf = elf.section(".BTF")!;
    const cut = Buffer.from(t.bytes);
    cut.writeUInt32LE(0xffffff, btf.offset + 12); // type_len far past the section
    expect(() => readBpfObject(cut, t.which)).toThrow(/^reading eBPF object \(params_enums\/amd64\.bpf\.o\): invalid BTF \(\.BTF\): sections out of bounds$/);
  });
});
