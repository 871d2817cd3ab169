/**
 * Kernels: `host` (the running one) or a vmlinuz file, identified before any boot — the file's
 * digest (the cache key) and the release read from the bzImage header, so a wrong path or a
 * file that is not a kernel is a one-line error and nothing boots.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { release as osRelease } from "node:os";
import { resolve } from "node:path";
import { GadgetError, describeSystemError } from "../errors.js";
import type { KernelInfo, KernelSpec } from "./types.js";

const HOST = "host";

export async function identifyKernel(spec: KernelSpec, cwd = process.cwd()): Promise<KernelInfo> {
  if (spec === HOST) return identifyHost();
  return identifyKernelFile(resolve(cwd, spec), spec);
}

async function identifyHost(): Promise<KernelInfo> {
  const version = await readFile("/proc/version").catch(() => Buffer.from(osRelease()));
  const release = osRelease();
  return { spec: HOST, kind: "host", label: HOST, release, digest: sha256(version), arch: "amd64" };
}

function kernelError(spec: string, why: string, hint?: string): GadgetError {
  return new GadgetError({ what: "cannot use kernel", which: spec, why, hint, code: "BAD_KERNEL" });
}

async function identifyKernelFile(path: string, spec: string): Promise<KernelInfo> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw kernelError(spec, describeSystemError(e), "give a vmlinuz file (e.g. /boot/vmlinuz-6.1.0-…-cloud-amd64) or host");
  }
  if (!st.isFile()) throw kernelError(spec, "not a regular file");
  const header = Buffer.alloc(Math.min(st.size, 0x10000));
  const fh = await open(path, "r");
  try {
    await fh.read(header, 0, header.length, 0);
  } finally {
    await fh.close();
  }
  const release = bzImageRelease(header);
  if (release === undefined) {
    if (header.length >= 0x40 && header.readUInt32LE(0x38) === 0x644d5241) {
      throw kernelError(spec, "an arm64 kernel Image: only x86_64 kernels boot here (qemu-system-x86_64)");
    }
    throw kernelError(spec, "not a Linux x86 kernel image (no bzImage header)", "give a vmlinuz (bzImage) file, e.g. from /boot");
  }
  return { spec, kind: "vm", label: release || "kernel", release, digest: await sha256File(path), arch: "amd64" };
}

/**
 * The release of an x86 bzImage from its setup header: boot flag 0xAA55 at 0x1FE, "HdrS" at
 * 0x202, and at 0x20E the offset (minus 0x200) of the version string `6.1.0-57-cloud-amd64 (…) #1 …`.
 * undefined when the bytes are not a bzImage; "" when the version string is unreadable.
 */
export function bzImageRelease(header: Buffer): string | undefined {
  if (header.length < 0x210) return undefined;
  if (header.readUInt16LE(0x1fe) !== 0xaa55 || header.toString("latin1", 0x202, 0x206) !== "HdrS") return undefined;
  const at = header.readUInt16LE(0x20e) + 0x200;
  if (at <= 0x200 || at >= header.length) return "";
  const end = header.indexOf(0, at);
  const text = header.toString("latin1", at, end < 0 ? Math.min(header.length, at + 256) : end);
  return text.split(" ")[0] ?? "";
}

export function sha256(data: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(data).digest("hex");
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return "sha256:" + h.digest("hex");
}
