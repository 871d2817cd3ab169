/**
 * Other kernels, in a micro-VM: qemu-system-x86_64 boots the vmlinuz with a tiny initramfs built
 * on the fly (busybox-static, the static loader, the objects, an /init that mounts proc, sysfs
 * and bpffs, runs the loader for every object and powers off). Results come back on the serial
 * console between two markers. A watchdog kills a VM that has not answered in time; the temp
 * folder goes in every case and no qemu outlives the check.
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { GadgetError } from "../errors.js";
import { untilDone } from "./cleanup.js";
import { parseLoaderOutput, type LoaderBinary, type LoaderRun } from "./loader.js";
import { stageObjects } from "./host.js";
import type { CheckObject, KernelInfo } from "./types.js";

export const BEGIN_MARKER = "@@GADGET-CHECK-BEGIN@@";
export const END_MARKER = "@@GADGET-CHECK-END@@";

/** A tool on PATH (or in the sbin folders Debian uses), else a one-line error naming its package. */
export function requireTool(name: string, debianPackage: string, env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [...(env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin", "/bin"].filter(Boolean);
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  throw new GadgetError({ what: `${name} not found`, why: `the Debian package ${debianPackage} provides it`, hint: "run scripts/bootstrap", code: "TOOL_NOT_FOUND" });
}

/** True when an ELF file asks for no program interpreter (a static binary runs in the initramfs). */
export function isStaticElf(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > elf.length) return false;
    if (elf.readUInt32LE(at) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

async function staticBusybox(env: NodeJS.ProcessEnv): Promise<string> {
  const path = requireTool("busybox", "busybox-static", env);
  if (!isStaticElf(await readFile(path))) {
    throw new GadgetError({ what: "busybox is not static", which: path, why: "the initramfs has no shared libraries", hint: "apt-get install busybox-static (run scripts/bootstrap)", code: "TOOL_NOT_FOUND" });
  }
  return path;
}

function initScript(): string {
  return [
    "#!/bin/busybox sh",
    "/bin/busybox mkdir -p /proc /sys /dev /tmp",
    "/bin/busybox mount -t devtmpfs devtmpfs /dev",
    "exec >/dev/ttyS0 2>&1 </dev/null",
    "/bin/busybox mount -t proc proc /proc",
    "/bin/busybox mount -t sysfs sysfs /sys",
    "/bin/busybox mount -t bpf bpf /sys/fs/bpf",
    `echo "${BEGIN_MARKER}"`,
    `[ -e /sys/kernel/btf/vmlinux ] || echo '{"kind":"warning","message":"this kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot load"}'`,
    "/bin/gadget-check-loader -manifest /manifest.json",
    `echo "${END_MARKER} $?"`,
    "/bin/busybox poweroff -f",
    "",
  ].join("\n");
}

/** Build the initramfs (newc cpio, uncompressed) in workDir; returns its path. */
export async function buildInitramfs(workDir: string, loader: LoaderBinary, objects: CheckObject[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const cpio = requireTool("cpio", "cpio", env);
  const busybox = await staticBusybox(env);
  const root = join(workDir, "initramfs");
  await mkdir(join(root, "bin"), { recursive: true });
  for (const d of ["dev", "proc", "sys", "tmp"]) await mkdir(join(root, d), { recursive: true });
  await copyFile(busybox, join(root, "bin", "busybox"));
  await copyFile(loader.path, join(root, "bin", "gadget-check-loader"));
  await chmod(join(root, "bin", "gadget-check-loader"), 0o755);
  const inputs = await stageObjects(join(root, "objects"), objects, (f) => `/objects/${f}`);
  await writeFile(join(root, "manifest.json"), JSON.stringify(inputs));
  await writeFile(join(root, "init"), initScript(), { mode: 0o755 });
  const files = [".", "bin", "bin/busybox", "bin/gadget-check-loader", "dev", "proc", "sys", "tmp", "init", "manifest.json", "objects", ...inputs.map((i) => i.path.slice(1))];
  const out = join(workDir, "initramfs.cpio");
  const child = spawn(cpio, ["-o", "-H", "newc", "--quiet"], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  const sink = createWriteStream(out);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  // Both ends are awaited on their own: the file is complete when the pipe has ended it (its
  // 'close' may come before or after the process's — waiting for it only once cpio had exited
  // missed it when it came first, and the check hung there).
  const written = new Promise<void>((resolve, reject) => {
    sink.once("close", resolve);
    sink.once("error", reject);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  child.stdout.pipe(sink);
  child.stdin.end(files.join("\n") + "\n");
  const code = await exited;
  if (code !== 0) {
    sink.destroy();
    throw new GadgetError({ what: "cpio failed", why: stderr.trim() || `exit status ${code}` });
  }
  await written;
  return out;
}

export interface BootOptions {
  kernel: KernelInfo;
  initramfs: string;
  accel: "tcg" | "kvm";
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** How long a boot may stay silent before it is retried once (BOOT_STALL_MS). */
  stallMs?: number;
}

/** qemu's argv for one boot. */
export function qemuArgs(kernelPath: string, initramfs: string, accel: "tcg" | "kvm"): string[] {
  return [
    "-accel", accel, "-cpu", "max", "-smp", "1", "-m", "512",
    "-display", "none", "-nodefaults", "-serial", "stdio", "-no-reboot",
    "-kernel", kernelPath, "-initrd", initramfs,
    "-append", "console=ttyS0 quiet panic=-1",
  ];
}

/**
 * A TCG boot reaches /init in a few seconds; one that has printed no begin marker after this long
 * is stuck (seen rarely under heavy load) and is killed and booted once more, when the check's
 * timeout leaves room for a second boot.
 */
export const BOOT_STALL_MS = 45_000;

class BootStalled extends Error {}

/** Boot the kernel, read the loader's lines between the markers, and make sure qemu is gone. */
export async function bootAndCheck(opts: BootOptions): Promise<LoaderRun & { bootMs: number; pid: number | undefined }> {
  const started = Date.now();
  const stallMs = opts.stallMs ?? BOOT_STALL_MS;
  if (opts.timeoutMs >= 2 * stallMs) {
    try {
      return await bootOnce(opts, stallMs);
    } catch (e) {
      if (!(e instanceof BootStalled)) throw e;
      process.stderr.write(`note: kernel ${opts.kernel.label} printed nothing in ${formatSeconds(stallMs)}; booting it once more\n`);
    }
  }
  const run = await bootOnce({ ...opts, timeoutMs: Math.max(1000, opts.timeoutMs - (Date.now() - started)) });
  return { ...run, bootMs: Date.now() - started };
}

async function bootOnce(opts: BootOptions, stallMs?: number): Promise<LoaderRun & { bootMs: number; pid: number | undefined }> {
  const qemu = requireTool("qemu-system-x86_64", "qemu-system-x86", opts.env);
  const started = Date.now();
  const child = spawn(qemu, qemuArgs(opts.kernel.spec, opts.initramfs, opts.accel), { stdio: ["ignore", "pipe", "pipe"] });
  const done = untilDone(() => child.kill("SIGKILL"));
  const lines: string[] = [];
  let partial = "";
  let stderr = "";
  let sawBegin = false;
  let sawEnd = false;
  let timedOut = false;
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const p of parts) {
      const line = p.replace(/\r$/, "");
      if (line.includes(BEGIN_MARKER)) sawBegin = true;
      else if (line.includes(END_MARKER)) {
        sawEnd = true;
        // the answer is complete: whatever the kernel does next, we are done with it
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      }
      lines.push(line);
    }
  });
  child.stderr!.on("data", (d) => (stderr += d));
  const watchdog = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, opts.timeoutMs);
  let stalled = false;
  const stallWatch =
    stallMs === undefined
      ? undefined
      : setTimeout(() => {
          if (sawBegin) return;
          stalled = true;
          child.kill("SIGKILL");
        }, stallMs);
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on("error", (error) => resolve({ code: null, error }));
    child.on("close", (code) => resolve({ code }));
  });
  clearTimeout(watchdog);
  clearTimeout(stallWatch);
  done();
  if (stalled && !timedOut) throw new BootStalled();
  const which = opts.kernel.spec;
  const kernelName = `kernel ${opts.kernel.label}`;
  if (exit.error) throw new GadgetError({ what: "cannot start qemu", which: qemu, why: exit.error.message, hint: "run scripts/bootstrap" });
  if (timedOut && !sawEnd) {
    throw new GadgetError({
      what: "the VM did not answer in time",
      which,
      why: `${sawBegin ? "the check did not end" : `no answer from ${kernelName}`} within ${formatSeconds(opts.timeoutMs)}; qemu was killed`,
      hint: opts.accel === "kvm" ? "KVM boots hang on some hosts: try --accel tcg" : "raise --timeout (a large program verifies slowly under TCG)",
      code: "VM_TIMEOUT",
    });
  }
  const inside: string[] = [];
  let on = false;
  for (const l of lines) {
    if (l.includes(BEGIN_MARKER)) on = true;
    else if (l.includes(END_MARKER)) on = false;
    else if (on) inside.push(l);
  }
  const run = parseLoaderOutput(inside);
  if (!sawEnd || !run.ended) {
    const tail = [...lines, ...stderr.split("\n")].map((l) => l.trim()).filter(Boolean).slice(-2).join(" / ");
    throw new GadgetError({
      what: "the VM stopped before the check ended",
      which,
      why: tail ? `last console lines: ${tail}` : `qemu exited with status ${exit.code} and printed nothing`,
      hint: "is it a kernel with BTF, booting on x86_64 with a serial console (ttyS0)?",
      code: "VM_FAILED",
    });
  }
  return { ...run, bootMs: Date.now() - started, pid: child.pid };
}

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
