import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { GADGET_BIN, tempDir } from "../helpers/cli.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";

let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  reg = await startRegistry({ htpasswd: { alice: "pw-on-a-tty" } });
  tmp = await tempDir("gadget-login-tty-");
});
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

describe("login on a terminal", () => {
  it("prompts for the user (echoed) and the password (not echoed)", async () => {
    const authfile = join(tmp.dir, "auth.json");
    // util-linux `script` gives the CLI a pseudo-terminal
    const out = await new Promise<string>((resolve, reject) => {
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(GADGET_BIN)} login ${reg.host} --plain-http --authfile ${JSON.stringify(authfile)}`;
      const child = execFile("script", ["-qec", cmd, "/dev/null"], { timeout: 30_000 }, (e, stdout) => {
        if (e && (e as NodeJS.ErrnoException).code === "ENOENT") reject(new Error("script (util-linux) is not installed: run scripts/bootstrap"));
        else resolve(String(stdout));
      });
      let sentUser = false;
      let buf = "";
      child.stdout!.on("data", (d) => {
        buf += d;
        if (!sentUser && buf.includes("Username: ")) {
          sentUser = true;
          child.stdin!.write("alice\r");
        } else if (sentUser && buf.includes("Password: ")) {
          child.stdin!.write("pw-on-a-tty\r");
          buf = "";
        }
      });
    });
    expect(out).toContain("Username: alice");
    expect(out).toContain("Login Succeeded!");
    expect(out).not.toContain("pw-on-a-tty");
    const doc = JSON.parse(await readFile(authfile, "utf8"));
    expect(doc.auths[reg.host].auth).toBe(Buffer.from("alice:pw-on-a-tty").toString("base64"));
  });
});
