/**
 * Issue #19, defect 3: token and error bodies were read whole — an endless token response grew
 * the process to 17 GB in a minute, and a 1 GiB one ended in V8's raw "Cannot create a string
 * longer than …". Token bodies are read up to 1 MiB and error bodies up to 64 KiB; then the
 * connection is dropped and the command ends with one error line.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { tempDir } from "../helpers/cli.js";
import { runGadgetMeasured } from "../helpers/peak-rss.js";
import { startFakeRegistry, type FakeRegistry } from "./fake-registry.js";

const RSS_LIMIT_MB = 200;

let tmp: { dir: string; cleanup: () => Promise<void> };
let reg: FakeRegistry;
beforeAll(async () => {
  tmp = await tempDir("gadget-unbounded-");
  reg = await startFakeRegistry();
});
afterAll(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

/** Write 64 KiB chunks of `fill` until the client goes away. */
async function endless(res: ServerResponse, fill: string, prefix = ""): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, fill);
  if (prefix) res.write(prefix);
  while (!res.destroyed) {
    if (!res.write(chunk)) await new Promise((r) => res.once("drain", r).once("close", r));
  }
}

function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("Error:"));
}

describe("endless bodies from a hostile registry", () => {
  it("a pull against an endless token body ends with one error line and peak RSS under 200 MB", async () => {
    let tokenBytesAsked = 0;
    reg.override = (req, res) => {
      if (req.url?.startsWith("/token")) {
        tokenBytesAsked++;
        res.writeHead(200, { "content-type": "application/json" });
        void endless(res, "a", '{"token":"');
        return true;
      }
      res.writeHead(401, { "www-authenticate": `Bearer realm="http://${reg.host}/token",service="fake"`, "content-type": "application/json" });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return true;
    };
    const r = await runGadgetMeasured(["--oci-store", join(tmp.dir, "s1"), "image", "pull", `${reg.host}/endless/token:v1`, "--insecure-registries", reg.host], {
      killAboveMb: 2 * RSS_LIMIT_MB,
      timeoutMs: 60_000,
    });
    console.log(`endless token body: ended in ${r.ms} ms, peak RSS ${r.peakRssMb.toFixed(1)} MB, exit ${r.code}`);
    expect(r.killed, `killed by the watchdog (peak RSS ${r.peakRssMb} MB)`).toBeUndefined();
    expect(r.peakRssMb).toBeLessThan(RSS_LIMIT_MB);
    expect(tokenBytesAsked).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLines(r.stderr), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/token/i);
    expect(r.stderr).toMatch(/1 MiB|larger than/);
    expect(r.stderr).not.toMatch(/Cannot create a string|RangeError|heap/i);
  }, 90_000);

  it("an endless error body (HTTP 400 on the manifest) ends with one error line, its status and a bounded RSS", async () => {
    reg.override = (req, res) => {
      if (req.url === "/v2/") return false;
      res.writeHead(400, { "content-type": "text/plain" });
      void endless(res, "x", "bad request: ");
      return true;
    };
    const r = await runGadgetMeasured(["--oci-store", join(tmp.dir, "s2"), "image", "pull", `${reg.host}/endless/error:v1`, "--insecure-registries", reg.host], {
      killAboveMb: 2 * RSS_LIMIT_MB,
      timeoutMs: 60_000,
    });
    console.log(`endless error body: ended in ${r.ms} ms, peak RSS ${r.peakRssMb.toFixed(1)} MB, exit ${r.code}`);
    expect(r.killed, `killed by the watchdog (peak RSS ${r.peakRssMb} MB)`).toBeUndefined();
    expect(r.peakRssMb).toBeLessThan(RSS_LIMIT_MB);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLines(r.stderr), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/HTTP 400: bad request/);
    // the echoed detail stays short
    expect(errorLines(r.stderr)[0]!.length).toBeLessThan(600);
  }, 90_000);
});
