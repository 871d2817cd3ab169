/**
 * A boot that stays silent is killed and booted once more (rare TCG stalls under load). The VM is
 * a stand-in qemu script on PATH (fault injection): the first boot prints nothing and sleeps, the
 * second prints the loader's markers and an end line.
 */
import { describe, expect, it } from "vitest";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bootAndCheck, BEGIN_MARKER, END_MARKER } from "../../core/check/vm.js";
import type { KernelInfo } from "../../core/check/types.js";
import { tempDir } from "../helpers/cli.js";

const kernel: KernelInfo = { spec: "/boot/vmlinuz-test", kind: "vm", label: "6.1.0-test", release: "6.1.0-test", digest: "sha256:00", arch: "amd64" };

async function fakeQemu(dir: string, silentBoots: number): Promise<string> {
  const count = join(dir, "boots");
  await writeFile(count, "");
  const script = `#!/bin/sh
echo boot >> ${count}
n=$(wc -l < ${count})
if [ "$n" -le ${silentBoots} ]; then exec sleep 60; fi
echo '${BEGIN_MARKER}'
echo '{"kind":"kernel","release":"6.1.0-test"}'
echo '{"kind":"end"}'
echo '${END_MARKER}'
`;
  await writeFile(join(dir, "qemu-system-x86_64"), script);
  await chmod(join(dir, "qemu-system-x86_64"), 0o755);
  return count;
}

describe("bootAndCheck: a silent boot", () => {
  it("is killed and booted once more when the timeout leaves room; the second answer is used", async () => {
    const { dir, cleanup } = await tempDir("gadget-boot-stall-");
    try {
      const count = await fakeQemu(dir, 1);
      const run = await bootAndCheck({ kernel, initramfs: "/dev/null", accel: "tcg", timeoutMs: 10_000, stallMs: 500, env: { PATH: dir } });
      expect(run.ended).toBe(true);
      expect(run.release).toBe("6.1.0-test");
      expect((await readFile(count, "utf8")).split("\n").filter(Boolean)).toHaveLength(2);
    } finally {
      await cleanup();
    }
  });

  it("a second silent boot ends with the timeout error; a timeout too short for two boots boots once", async () => {
    const { dir, cleanup } = await tempDir("gadget-boot-stall-");
    try {
      const count = await fakeQemu(dir, 5);
      await expect(bootAndCheck({ kernel, initramfs: "/dev/null", accel: "tcg", timeoutMs: 2_000, stallMs: 500, env: { PATH: dir } })).rejects.toThrow(/the VM did not answer in time/);
      expect((await readFile(count, "utf8")).split("\n").filter(Boolean)).toHaveLength(2);
      await writeFile(count, "");
      await expect(bootAndCheck({ kernel, initramfs: "/dev/null", accel: "tcg", timeoutMs: 800, stallMs: 500, env: { PATH: dir } })).rejects.toThrow(/the VM did not answer in time/);
      expect((await readFile(count, "utf8")).split("\n").filter(Boolean)).toHaveLength(1);
    } finally {
      await cleanup();
    }
  });
});
