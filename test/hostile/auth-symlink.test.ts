/**
 * Issue #19, defect 9: `--authfile link.json` (a symlink, as dotfile managers make) was
 * replaced by a regular file: the link was gone and its target kept the old contents. Login and
 * logout now resolve the link and write atomically next to the target, as the docker CLI does.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { startFakeRegistry, type FakeRegistry } from "./fake-registry.js";

let tmp: { dir: string; cleanup: () => Promise<void> };
let reg: FakeRegistry;
beforeAll(async () => {
  tmp = await tempDir("gadget-auth-link-");
  reg = await startFakeRegistry();
});
afterAll(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("a symlinked auth file", () => {
  it("login and logout update the link's target (mode 0600) and leave the link a link", async () => {
    const dotfiles = join(tmp.dir, "dotfiles");
    await mkdir(dotfiles, { recursive: true });
    const target = join(dotfiles, "auth.json");
    await writeFile(target, JSON.stringify({ auths: { "old.example": { auth: b64("old:pw") } } }), { mode: 0o600 });
    const home = join(tmp.dir, "home");
    await mkdir(home, { recursive: true });
    const link = join(home, "config.json");
    await symlink("../dotfiles/auth.json", link);

    const login = await runGadget(["login", reg.host, "--plain-http", "-u", "ann", "--password-stdin", "--authfile", link], { input: "pw-link-1" });
    expect(login.code, login.stderr).toBe(0);
    expect((await lstat(link)).isSymbolicLink(), "the link was replaced by a regular file").toBe(true);
    expect(await readlink(link)).toBe("../dotfiles/auth.json");
    const after = JSON.parse(await readFile(target, "utf8")) as { auths: Record<string, unknown> };
    expect(Object.keys(after.auths).sort()).toEqual([reg.host, "old.example"].sort());
    expect((await stat(target)).mode & 0o777).toBe(0o600);

    const logout = await runGadget(["logout", "old.example", "--authfile", link]);
    expect(logout.code, logout.stderr).toBe(0);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(Object.keys((JSON.parse(await readFile(target, "utf8")) as { auths: object }).auths)).toEqual([reg.host]);
  });
});
