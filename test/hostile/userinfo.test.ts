/**
 * Issue #19: `gadget login "https://alice:pw@host"` repeated the password in its error. A user
 * name and password written into a registry address or an image reference are stripped from
 * every echoed reference (one helper, applied to every error), and login refuses such an address.
 */
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { GadgetError, withoutUserinfo } from "../../core/errors.js";
import { runGadget, tempDir } from "../helpers/cli.js";

const SECRET = "Url-Pa55-7731";

describe("a password written into a registry address or reference is never echoed", () => {
  it("login, logout, --get-login, pull and push with user:password@ in the address fail without printing the password", async () => {
    const tmp = await tempDir("gadget-userinfo-");
    try {
      const authfile = join(tmp.dir, "auth.json");
      const store = join(tmp.dir, "store");
      const runs = [
        ["login", `https://alice:${SECRET}@127.0.0.1:1`, "-u", "alice", "--password-stdin", "--authfile", authfile],
        ["login", `alice:${SECRET}@127.0.0.1:1`, "-u", "alice", "--password-stdin", "--authfile", authfile],
        ["login", `https://alice:${SECRET}@127.0.0.1:1`, "--get-login", "--authfile", authfile],
        ["logout", `https://alice:${SECRET}@127.0.0.1:1`, "--authfile", authfile],
        ["--oci-store", store, "image", "pull", `https://alice:${SECRET}@127.0.0.1:1/a/b:v1`],
        ["--oci-store", store, "image", "pull", `alice:${SECRET}@127.0.0.1:1/a/b:v1`],
        ["--oci-store", store, "image", "push", `alice:${SECRET}@127.0.0.1:1/a/b:v1`],
        ["--oci-store", store, "image", "tag", `alice:${SECRET}@127.0.0.1:1/a/b:v1`, "x:y"],
      ];
      for (const args of runs) {
        const r = await runGadget(args, { input: "the-real-password", timeoutMs: 30_000 });
        const out = r.stdout + r.stderr;
        expect(r.code, `${args.join(" ")}: ${out}`).not.toBe(0);
        expect(out, `${args[0] === "--oci-store" ? args.slice(2).join(" ") : args.join(" ")} echoed the password`).not.toContain(SECRET);
        expect(out).toMatch(/^Error: /m);
      }
      // login says why, without the secret
      const r = await runGadget(runs[0]!, { input: "the-real-password" });
      expect(r.stderr).toMatch(/user name or password does not belong in the registry address/);
      expect(r.stderr).toContain("127.0.0.1:1");
    } finally {
      await tmp.cleanup();
    }
  });

  it("the helper strips user:password@ from URLs and from references, and keeps digests and plain text", () => {
    expect(withoutUserinfo(`https://alice:${SECRET}@reg.example.com/v2/`)).toBe("https://reg.example.com/v2/");
    expect(withoutUserinfo(`"https://alice:p@ss@reg.example.com"`)).toBe(`"https://reg.example.com"`);
    expect(withoutUserinfo(`pull ("alice:${SECRET}@reg.example.com/a/b:v1"): invalid`)).toBe(`pull ("reg.example.com/a/b:v1"): invalid`);
    expect(withoutUserinfo("trace_open:v1@sha256:" + "a".repeat(64))).toBe("trace_open:v1@sha256:" + "a".repeat(64));
    expect(withoutUserinfo("ghcr.io/x/y@sha256:" + "b".repeat(64))).toBe("ghcr.io/x/y@sha256:" + "b".repeat(64));
    expect(withoutUserinfo("no credentials here: host:5000/a")).toBe("no credentials here: host:5000/a");
    const e = new GadgetError({ what: "invalid registry", which: `https://alice:${SECRET}@h`, why: `see https://bob:${SECRET}@h/x`, hint: `gadget login https://alice:${SECRET}@h` });
    expect(`${e.message} ${e.which} ${e.why} ${e.hint}`).not.toContain(SECRET);
  });
});
