/**
 * Issue #19, defect 4: a registry trickling one byte at a time kept a pull alive past 400 s
 * (holding the store's writer lock, so rm and fsck --repair waited). Every registry exchange now
 * has an idle timeout and the whole operation an overall deadline: `--timeout DURATION` or
 * GADGET_REGISTRY_TIMEOUT (default 10m, 0 = none); login's /v2/ check included.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { registryTimeouts } from "../../core/registry/timeouts.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startFakeRegistry, type FakeRegistry } from "./fake-registry.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let reg: FakeRegistry;
beforeAll(async () => {
  tmp = await tempDir("gadget-trickle-");
  reg = await startFakeRegistry();
});
afterAll(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

/** Announce a large body, then send one byte every 100 ms (never idle long enough to trip an idle timer). */
function trickle(res: ServerResponse, contentType: string): void {
  res.writeHead(200, { "content-type": contentType, "content-length": "1000000" });
  res.write("{");
  const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(" ")), 100);
  res.on("close", () => clearInterval(t));
}

function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("Error:"));
}

describe("a registry trickling one byte at a time", () => {
  it("a pull ends at the GADGET_REGISTRY_TIMEOUT deadline with one error line, and the store is free again", async () => {
    reg.override = (req, res) => {
      if (req.url === "/v2/") return false;
      trickle(res, "application/vnd.oci.image.index.v1+json");
      return true;
    };
    const store = join(tmp.dir, "pull");
    const t0 = Date.now();
    const r = await runGadget(["--oci-store", store, "image", "pull", `${reg.host}/slow/loris:v1`, "--insecure-registries", reg.host], {
      env: { GADGET_REGISTRY_TIMEOUT: "2s" },
      timeoutMs: 30_000,
    });
    console.log(`trickling pull (deadline 2 s): ended in ${Date.now() - t0} ms, exit ${r.code}`);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLines(r.stderr), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/deadline/);
    expect(r.stderr).toMatch(/--timeout|GADGET_REGISTRY_TIMEOUT/);
    // nobody holds the writer lock any more: a repair runs (it refuses while a writer is active)
    const fsck = await runGadget(["--oci-store", store, "image", "fsck", "--repair"]);
    expect(fsck.stdout).not.toMatch(/another gadget process is writing/);
  }, 40_000);

  it("login's /v2/ check ends at the --timeout deadline", async () => {
    reg.override = (req, res) => {
      trickle(res, "application/json");
      return true;
    };
    const t0 = Date.now();
    const r = await runGadget(["login", reg.host, "--plain-http", "-u", "ann", "--password-stdin", "--authfile", join(tmp.dir, "auth.json"), "--timeout", "2s"], {
      input: "pw-trickle-1",
      timeoutMs: 30_000,
    });
    console.log(`trickling login (deadline 2 s): ended in ${Date.now() - t0} ms, exit ${r.code}`);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLines(r.stderr), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/deadline/);
    expect(r.stderr).not.toContain("pw-trickle-1");
  }, 40_000);
});

describe("--timeout / GADGET_REGISTRY_TIMEOUT values", () => {
  it("durations set the deadline; the idle timeout is 30 s or the deadline when shorter; 0 means no deadline; nonsense is refused", () => {
    expect(registryTimeouts(undefined, {})).toEqual({ deadlineMs: 600_000, idleMs: 30_000 });
    expect(registryTimeouts("2s", {})).toEqual({ deadlineMs: 2000, idleMs: 2000 });
    expect(registryTimeouts(undefined, { GADGET_REGISTRY_TIMEOUT: "90" })).toEqual({ deadlineMs: 90_000, idleMs: 30_000 });
    expect(registryTimeouts("1h", { GADGET_REGISTRY_TIMEOUT: "5s" })).toEqual({ deadlineMs: 3_600_000, idleMs: 30_000 });
    expect(registryTimeouts("500ms", {})).toEqual({ deadlineMs: 500, idleMs: 500 });
    expect(registryTimeouts("0", {})).toEqual({ deadlineMs: 0, idleMs: 30_000 });
    expect(() => registryTimeouts("soon", {})).toThrow(/--timeout.*"soon"/);
    expect(() => registryTimeouts(undefined, { GADGET_REGISTRY_TIMEOUT: "-3s" })).toThrow(/GADGET_REGISTRY_TIMEOUT/);
  });
});
