/**
 * The host kernel: the loader runs here, as this process (root with CAP_BPF on the machines we
 * know). Without the capability the host is skipped with one line, not failed. Nothing is
 * pinned by the Go loader; the bpftool fallback pins into a private bpffs folder it removes.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exec, isToolError } from "../engine/exec.js";
import { GadgetError } from "../errors.js";
import { parseLoaderOutput, type LoadedObject, type LoaderBinary, type LoaderInput, type LoaderRun } from "./loader.js";
import type { CheckObject } from "./types.js";

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Why this process cannot load programs into the host kernel, or undefined when it can. */
export async function missingHostCapability(): Promise<string | undefined> {
  let status: string;
  try {
    status = await readFile("/proc/self/status", "utf8");
  } catch {
    return undefined; // cannot tell: let the loader try
  }
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) return undefined;
  const caps = BigInt("0x" + m[1]);
  const has = (bit: bigint) => (caps & (1n << bit)) !== 0n;
  if (has(CAP_SYS_ADMIN)) return undefined;
  const missing = [!has(CAP_BPF) && "CAP_BPF", !has(CAP_PERFMON) && "CAP_PERFMON"].filter(Boolean) as string[];
  if (missing.length === 0) return undefined;
  return `loading needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process lacks ${missing.join(" and ")}`;
}

/** Write the objects into dir and return the loader's manifest (ids are the objects' indexes). */
export async function stageObjects(dir: string, objects: CheckObject[], pathInLoader: (file: string) => string): Promise<LoaderInput[]> {
  await mkdir(dir, { recursive: true });
  const inputs: LoaderInput[] = [];
  for (const [i, o] of objects.entries()) {
    const file = `${i}.o`;
    await writeFile(join(dir, file), o.bytes);
    const input: LoaderInput = { id: String(i), path: pathInLoader(file) };
    if (o.params && Object.keys(o.params).length > 0) input.params = o.params;
    inputs.push(input);
  }
  return inputs;
}

export async function runLoaderOnHost(loader: LoaderBinary, objects: CheckObject[], workDir: string, timeoutMs: number): Promise<LoaderRun> {
  const objDir = join(workDir, "objects");
  const inputs = await stageObjects(objDir, objects, (f) => join(objDir, f));
  const manifest = join(workDir, "manifest.json");
  await writeFile(manifest, JSON.stringify(inputs));
  try {
    const out = await exec(loader.path, ["-manifest", manifest], { signal: AbortSignal.timeout(timeoutMs) });
    return parseLoaderOutput(out.stdout.split("\n"));
  } catch (e) {
    if (isToolError(e)) throw new GadgetError({ what: "check loader failed on the host", which: loader.path, why: e.stderr.trim().split("\n").pop() || e.why || "", cause: e });
    if ((e as Error).name === "AbortError" || (e as { code?: string }).code === "ABORT_ERR") {
      throw new GadgetError({ what: "check timed out", which: "host", why: `the loader did not finish within ${Math.round(timeoutMs / 1000)} s`, hint: "raise --timeout" });
    }
    throw e;
  }
}

/**
 * Fallback when the Go loader was never built: `bpftool prog loadall` per object into a private
 * bpffs folder (no dots in bpffs names), removed afterwards. It knows only libbpf's section
 * names and gives no verifier figures.
 */
export async function runBpftoolOnHost(objects: CheckObject[], workDir: string, timeoutMs: number): Promise<LoaderRun> {
  const objDir = join(workDir, "objects");
  const inputs = await stageObjects(objDir, objects, (f) => join(objDir, f));
  const run: LoaderRun = { objects: new Map(), warnings: ["bpftool fallback (run scripts/bootstrap for the Go loader): libbpf's section names only, no verifier figures"], ended: true };
  // bpftool mounts a bpffs wherever its pin path is not on one; never let it touch the host's
  // /sys/fs/bpf: pin there only when it already is a bpffs, else into our own bpffs mount.
  let bpffs = "/sys/fs/bpf";
  let mounted = false;
  if (!(await isBpffs(bpffs))) {
    bpffs = join(workDir, "bpffs");
    await mkdir(bpffs);
    await exec("mount", ["-t", "bpf", "bpf", bpffs]);
    mounted = true;
  }
  try {
    for (const input of inputs) {
      const pinDir = join(bpffs, `gadget-check-${process.pid}-${randomBytes(6).toString("hex")}`);
      const obj: LoadedObject = { id: input.id, loaded: false, programs: [], prepared: [] };
      try {
        await exec("bpftool", ["prog", "loadall", input.path, pinDir], { signal: AbortSignal.timeout(timeoutMs) });
        obj.loaded = true;
      } catch (e) {
        const stderr = isToolError(e) ? e.stderr : String((e as Error).message);
        obj.reason = bpftoolReason(stderr);
      } finally {
        await rm(pinDir, { recursive: true, force: true });
      }
      run.objects.set(input.id, obj);
    }
  } finally {
    if (mounted) await exec("umount", [bpffs]).catch(() => undefined);
  }
  return run;
}

/** libbpf's one meaningful line: the verifier's reason (the line before its statistics), else libbpf's own. */
export function bpftoolReason(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  const stats = lines.findIndex((l) => /^processed \d+ insns/.test(l));
  if (stats > 0) return lines[stats - 1]!;
  const libbpf = lines.find((l) => l.startsWith("libbpf: ") && !/failed to load object|supported section/.test(l));
  return libbpf ?? lines.find((l) => l.startsWith("Error: ")) ?? "refused";
}

const BPF_FS_MAGIC = 0xcafe4a11;

async function isBpffs(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}
