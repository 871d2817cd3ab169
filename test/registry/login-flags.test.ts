/**
 * ig's login/logout take containers/common's flags (auth.GetLoginFlags / GetLogoutFlags): --authfile,
 * --compat-auth-file ("path of a Docker-compatible config file to update instead"), --cert-dir,
 * -p/--password, -u/--username, --password-stdin, --get-login, -v/--verbose; logout -a/--all.
 * gadget's auth files are Docker-format already, so --compat-auth-file names the file to use.
 * The words stay the seeds': `Removed login credentials for <registry>`.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => (tmp = await tempDir("gadget-login-flags-")));
afterAll(async () => tmp?.cleanup());

describe("login/logout --compat-auth-file", () => {
  it("reads and edits the Docker-compatible file it names; refuses it together with --authfile", async () => {
    const file = join(tmp.dir, "docker.json");
    await writeFile(file, JSON.stringify({ auths: { "registry.example:5000": { auth: Buffer.from("alice:pw").toString("base64") } } }));
    const who = await runGadget(["login", "registry.example:5000", "--get-login", "--compat-auth-file", file]);
    expect([who.code, who.stdout]).toEqual([0, "alice\n"]);
    const out = await runGadget(["logout", "registry.example:5000", "--compat-auth-file", file]);
    expect([out.code, out.stdout]).toEqual([0, "Removed login credentials for registry.example:5000\n"]);
    expect(JSON.parse(await readFile(file, "utf8")).auths).toEqual({});
    const both = await runGadget(["login", "registry.example:5000", "--get-login", "--compat-auth-file", file, "--authfile", file]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("Error: invalid usage: options for paths to the credential file and to the Docker-compatible credential file can not be set simultaneously\n");
  });
});
