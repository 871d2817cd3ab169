/** Shared by the check tests: the tools and the second kernel scripts/bootstrap installs, fixture images. */
import { execFileSync } from "node:child_process";
import { cp, readdir, readFile } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { FIXTURES, REPO_ROOT, runGadget } from "../helpers/cli.js";

export const CHECK_FIXTURES = join(FIXTURES, "check");
export const FIXTURE_GADGETS = ["good", "kfunc_new", "bad_ptr"] as const;
export const LOADER = join(REPO_ROOT, "dist", "check-loader", "gadget-check-loader");

/** Fail (never skip) when something scripts/bootstrap installs is missing. */
export function requireCheckTools(): void {
  for (const t of ["clang", "llvm-strip", "qemu-system-x86_64", "cpio", "busybox"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" });
    } catch {
      throw new Error(`${t} is not installed: run scripts/bootstrap`);
    }
  }
  if (!existsSync(LOADER)) throw new Error(`${LOADER} is missing: run scripts/bootstrap`);
}

/** The Debian 6.1 cloud kernel scripts/bootstrap installs (the newest if several). */
export function kernel61(): string {
  const names = existsSync("/boot") ? readdirSync("/boot").filter((n) => /^vmlinuz-6\.1\.\d+-\d+-cloud-amd64$/.test(n)) : [];
  if (names.length === 0) throw new Error("no /boot/vmlinuz-6.1.*-cloud-amd64: run scripts/bootstrap");
  names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  return join("/boot", names[names.length - 1]!);
}

/** Build the fixture gadgets (both archs) into store as check_<name>:test; copies first (a build writes nothing into the repo). */
export async function buildFixtures(root: string, store: string): Promise<void> {
  const src = join(root, "fixtures");
  await cp(CHECK_FIXTURES, src, { recursive: true });
  await Promise.all(
    FIXTURE_GADGETS.map(async (g) => {
      const r = await runGadget(["image", "build", join(src, g), "-t", `check_${g}:test`, "--oci-store", store]);
      expect(r.stderr).toMatch(/^Successfully built \S+\n$/); // the result line (stderr, as ig), nothing else
      expect(r.code).toBe(0);
    }),
  );
}

/** Pids of live qemu processes whose command line mentions dir (the temp folder a check used). */
export async function qemuPidsMentioning(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(join("/proc", name, "cmdline"), "utf8").catch(() => "");
    if (cmdline.includes("qemu-system") && cmdline.includes(dir)) pids.push(Number(name));
  }
  return pids;
}

/** Entries of the host's bpffs that a check could have left (it must leave none). */
export async function checkPins(): Promise<string[]> {
  return (await readdir("/sys/fs/bpf").catch(() => [] as string[])).filter((n) => n.startsWith("gadget-check"));
}
