import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile, readdir, stat, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { removeCredential, saveCredential } from "../../core/auth/credentials.js";
import { runGadget, tempDir } from "../helpers/cli.js";
import { runAndKill } from "../helpers/kill.js";
import { startRegistry, type RunningRegistry } from "../helpers/registry.js";
import { ITERATIONS, LOOP_TIMEOUT, seeded, timeRun } from "./helpers.js";

const PASSWORD = "kill-login-pw";
let reg: RunningRegistry;
let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  reg = await startRegistry({ htpasswd: { dave: PASSWORD } });
  tmp = await tempDir("gadget-kill-login-");
}, 60_000);
afterAll(async () => {
  await reg?.stop();
  await tmp?.cleanup();
});

const OTHER = { auth: Buffer.from("other:pw").toString("base64") };

/** The auth file is absent or complete JSON, mode 0600 in a 0700 folder, and the other login survived. */
async function expectAuthFileSound(file: string, ctx: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, "utf8");
  let doc: { auths?: Record<string, unknown> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    throw new Error(`${ctx}: auth file is not valid JSON (${(e as Error).message}):\n${text}`);
  }
  expect((await stat(file)).mode & 0o777, ctx).toBe(0o600);
  expect((await stat(join(file, ".."))).mode & 0o777, ctx).toBe(0o700);
  expect(doc.auths?.["other.example:5000"], ctx).toEqual(OTHER);
  // killed writers may leave temp files, but never readable by others
  for (const n of await readdir(join(file, ".."))) expect((await stat(join(file, "..", n))).mode & 0o077, `${ctx}: ${n}`).toBe(0);
  return doc.auths ?? {};
}

describe("kill -9 at random points during login/logout", () => {
  it(`${ITERATIONS} iterations: the auth file is never half-written, stays 0600, the next login works`, async () => {
    const { seed, rand } = seeded();
    const dir = join(tmp.dir, "cfg");
    await mkdir(dir, { mode: 0o700 });
    const file = join(dir, "config.json");
    await writeFile(file, JSON.stringify({ auths: { "other.example:5000": OTHER } }), { mode: 0o600 });
    const login = ["login", reg.host, "-u", "dave", "--password-stdin", "--authfile", file, "--plain-http"];
    const logout = ["logout", reg.host, "--authfile", file];
    const full = await timeRun(login, {}, PASSWORD);
    let killed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const out = rand() < 0.3;
      const r = out ? await runAndKill(logout, Math.floor(rand() * full * 1.1)) : await runAndKill(login, Math.floor(rand() * full * 1.1), {}, PASSWORD);
      if (r.killed) killed++;
      const ctx = `seed ${seed} iteration ${i} (${out ? "logout" : "login"}, ${r.killed ? "killed" : `exit ${r.code}`})`;
      const auths = await expectAuthFileSound(file, ctx);
      const mine = auths[reg.host] as { auth?: string } | undefined;
      if (mine) expect(Buffer.from(mine.auth ?? "", "base64").toString(), ctx).toBe(`dave:${PASSWORD}`);
      if (!r.killed && !out) expect(r.code, `${ctx}: ${r.stderr}`).toBe(0);
    }
    expect(killed, `seed ${seed}`).toBeGreaterThan(ITERATIONS / 4);
    const next = await runGadget(login, { input: PASSWORD });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain("Login Succeeded!");
    const auths = await expectAuthFileSound(file, "after the loop");
    expect(Object.keys(auths).sort()).toEqual([reg.host, "other.example:5000"].sort());
    // temp files of killed writers were swept by the next write
    expect(await readdir(dir)).toEqual(["config.json"]);
  }, LOOP_TIMEOUT);

  it("concurrent logins and logouts to different registries never lose each other's entries", async () => {
    const dir = join(tmp.dir, "concurrent");
    await mkdir(dir, { mode: 0o700 });
    const file = join(dir, "config.json");
    await writeFile(file, JSON.stringify({ auths: { "other.example:5000": OTHER } }), { mode: 0o600 });
    // the same registry under two names (127.0.0.1:P and localhost:P), logged in from 8 processes at once
    const port = reg.host.split(":")[1];
    const names = [`127.0.0.1:${port}`, `localhost:${port}`];
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runGadget(["login", names[i % 2]!, "-u", "dave", "--password-stdin", "--authfile", file, "--plain-http"], { input: PASSWORD })),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const auths = await expectAuthFileSound(file, "concurrent logins");
    expect(Object.keys(auths).sort()).toEqual([...names, "other.example:5000"].sort());
  }, 60_000);

  it("concurrent saves and removes through the library keep every other entry (read-modify-write under a lock)", async () => {
    const dir = join(tmp.dir, "lib");
    await mkdir(dir, { mode: 0o700 });
    const file = join(dir, "config.json");
    await writeFile(file, JSON.stringify({ auths: { "other.example:5000": OTHER, "gone.example": OTHER } }), { mode: 0o600 });
    const hosts = Array.from({ length: 12 }, (_, i) => `r${i}.example:5000`);
    await Promise.all([
      ...hosts.map((h) => saveCredential(h, { username: "u", password: "p" }, { authfile: file })),
      removeCredential("gone.example", { authfile: file }),
    ]);
    const auths = await expectAuthFileSound(file, "library");
    expect(Object.keys(auths).sort()).toEqual([...hosts, "other.example:5000"].sort());
  });
});
