import { describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { createProgress, formatBytes } from "../../core/cli/progress.js";

function sink(): { stream: Writable; text: () => string } {
  let out = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { stream, text: () => out };
}

describe("TTY progress display", () => {
  it("shows per-blob lines, bytes and rate, and clears its status line at the end", () => {
    const s = sink();
    const p = createProgress(s.stream, "Pushing");
    const d = "sha256:" + "ab".repeat(32);
    p.onProgress({ type: "start", digest: d, size: 2_000_000, mediaType: "x" });
    p.onProgress({ type: "bytes", digest: d, size: 2_000_000, bytes: 1_000_000 });
    p.onProgress({ type: "done", digest: d, size: 2_000_000, mediaType: "x" });
    p.onProgress({ type: "skip", digest: "sha256:" + "cd".repeat(32), size: 10, mediaType: "x" });
    p.onProgress({ type: "mount", digest: "sha256:" + "ef".repeat(32), size: 10, mediaType: "x", from: "other/repo" });
    p.finish();
    const t = s.text();
    expect(t).toContain("Pushing 0 done, 1 active [abababababab 0%]");
    expect(t).toContain("abababababab: done (2.00 MB)");
    expect(t).toContain("cdcdcdcdcdcd: already exists");
    expect(t).toContain("efefefefefef: mounted from other/repo");
    expect(t).toMatch(/\d B\/s|[kMGT]B\/s/);
    expect(t.endsWith("\r\x1b[2K")).toBe(true);
  });
  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1_500_000)).toBe("1.50 MB");
    expect(formatBytes(123_000_000)).toBe("123.0 MB");
  });
});
