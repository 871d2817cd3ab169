/**
 * The `sign` publish target in a gadgetfile: `gadget run publish` builds the gadget with real
 * clang, tags it, signs it (plugins/sign.ts), and the signature verifies.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGadget, tempDir } from "../helpers/cli.js";
import { writeKeys, type KeyFiles } from "./fixtures.js";

const PROGRAM = `// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_openat")
int hello(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

let tmp: { dir: string; cleanup: () => Promise<void> };
let keys: KeyFiles;
let store: string;

beforeAll(async () => {
  try {
    execFileSync("clang", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("clang not found: run scripts/bootstrap");
  }
  tmp = await tempDir("gadget-sign-publish-");
  store = join(tmp.dir, "store");
  await mkdir(join(tmp.dir, "gadgets", "hello"), { recursive: true });
  await writeFile(join(tmp.dir, "gadgets", "hello", "program.bpf.c"), PROGRAM);
  keys = await writeKeys(tmp.dir, "ecdsa", "release");
  await writeFile(
    join(tmp.dir, "gadgetfile.ts"),
    `import { defineGadgetfile } from "gadget";
export default defineGadgetfile({
  gadgets: ["gadgets/*"],
  defaults: { tag: "localhost:5000/signed/{name}:v1", archs: ["amd64"] },
  publish: [{ type: "sign", key: "release.key", format: "bundle" }],
});
`,
  );
});
afterAll(() => tmp?.cleanup());

describe("sign publish target", () => {
  it("gadget run publish builds, tags and signs; the signature verifies", async () => {
    const r = await runGadget(["run", "publish", "--oci-store", store], { cwd: tmp.dir, env: { SOURCE_DATE_EPOCH: "1700000000" } });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const v = await runGadget(["image", "verify", "localhost:5000/signed/hello:v1", "--public-keys", keys.pub, "--json", "--oci-store", store]);
    expect(v.stderr).toBe("");
    expect(JSON.parse(v.stdout)).toMatchObject({ verified: true, format: "bundle", reference: "localhost:5000/signed/hello:v1" });
  }, 60_000);

  it("a missing key fails the publish with the key's one-line error", async () => {
    const file = join(tmp.dir, "gadgetfile.ts");
    await writeFile(file, (await readFile(file, "utf8")).replace("release.key", "absent.key"));
    const r = await runGadget(["run", "publish", "--oci-store", store], { cwd: tmp.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/loading signing key \(.*absent\.key\): cannot read the key: no such file or directory/);
  }, 60_000);
});
