/** The pure parts of a check: the bzImage header, the loader's lines, the cache key, the baseline. */
import { describe, expect, it } from "vitest";
import { bzImageRelease, cacheKey, compareWithBaseline, parseLoaderOutput, resultTable, type CheckReport } from "../../core/index.js";

function bzImageHeader(version: string): Buffer {
  const b = Buffer.alloc(0x1000);
  b.writeUInt16LE(0xaa55, 0x1fe);
  b.write("HdrS", 0x202, "latin1");
  b.writeUInt16LE(0x400 - 0x200, 0x20e);
  b.write(version + "\0", 0x400, "latin1");
  return b;
}

describe("kernel identity", () => {
  it("reads the release from an x86 bzImage setup header and refuses other files", () => {
    expect(bzImageRelease(bzImageHeader("6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP"))).toBe("6.1.0-57-cloud-amd64");
    expect(bzImageRelease(Buffer.from("#!/bin/sh\necho not a kernel\n".padEnd(0x400, " ")))).toBeUndefined();
    expect(bzImageRelease(Buffer.alloc(16))).toBeUndefined();
  });
});

describe("loader output", () => {
  it("groups program lines under their object, ignores console noise, and knows whether the run ended", () => {
    const run = parseLoaderOutput([
      "[    1.234] random kernel message",
      `{"kind":"kernel","release":"6.1.0-57-cloud-amd64","machine":"x86_64"}`,
      `{"kind":"program","object":"0","name":"a","section":"socket1","progType":"SocketFilter","loaded":true,"insns":7,"totalStates":0,"peakStates":0,"maxStatesPerInsn":0}`,
      `{"kind":"object","object":"0","loaded":true,"programs":1}`,
      `{"kind":"program","object":"1","name":"b","section":"tracepoint/x/y","progType":"TracePoint","loaded":false,"insns":4,"totalStates":0,"peakStates":0,"maxStatesPerInsn":0,"reason":"R0 invalid mem access 'scalar'"}`,
      `{"kind":"object","object":"1","loaded":false,"programs":1,"error":"program b: load program: permission denied"}`,
      `{"kind":"end"}`,
    ]);
    expect(run.release).toBe("6.1.0-57-cloud-amd64");
    expect(run.ended).toBe(true);
    expect(run.objects.get("0")).toMatchObject({ loaded: true, programs: [{ name: "a", insns: 7, loaded: true }] });
    expect(run.objects.get("1")!.reason).toBe("b: R0 invalid mem access 'scalar'");
    expect(parseLoaderOutput([`{"kind":"kernel","release":"x"}`]).ended).toBe(false);
  });
});

describe("cache key", () => {
  it("changes with the object, the kernel, the loader and the params, not with the params' order", () => {
    const base = { objectDigest: "sha256:o", kernelDigest: "sha256:k", loaderDigest: "sha256:l", params: { a: "1", b: "2" } };
    const k = cacheKey(base);
    expect(cacheKey({ ...base, params: { b: "2", a: "1" } })).toBe(k);
    for (const change of [{ objectDigest: "sha256:o2" }, { kernelDigest: "sha256:k2" }, { loaderDigest: "sha256:l2" }, { params: { a: "2", b: "2" } }]) {
      expect(cacheKey({ ...base, ...change })).not.toBe(k);
    }
  });
});

const prog = (name: string, insns: number, loaded = true) => ({ name, section: "s", progType: "TracePoint", loaded, insns, totalStates: 1, peakStates: 1, maxStatesPerInsn: 0 });
const report = (insns: number): CheckReport => ({
  ok: true,
  warnings: [],
  kernels: [{ spec: "host", kind: "host", label: "host", release: "6.18", digest: "sha256:h", arch: "amd64" }],
  results: [{ object: "g", arch: "amd64", objectDigest: "sha256:o", kernel: "host", kernelDigest: "sha256:h", status: "loaded", cached: false, programs: [prog("p", insns), prog("q", 10)] }],
});

describe("baseline", () => {
  it("flags a program only when its instructions grew by more than the threshold", () => {
    expect(compareWithBaseline(report(110), report(100), 10)).toEqual([]);
    expect(compareWithBaseline(report(111), report(100), 10)).toEqual([{ object: "g", arch: "amd64", kernel: "host", program: "p", before: 100, after: 111, growth: 11 }]);
    expect(compareWithBaseline(report(50), report(100), 10)).toEqual([]);
    expect(() => compareWithBaseline(report(1), { nope: true }, 10)).toThrow(/not a `gadget image check --json` document/);
  });

  it("the table has one column per kernel and one row per program", () => {
    expect(resultTable(report(42))).toEqual(["GADGET  ARCH   PROGRAM  host", "g       amd64  p        42", "g       amd64  q        10"]);
  });
});
