/**
 * btfgen: minimal BTF for the kernels of a btfhub-archive, per architecture. For every
 * `<distro>/<version>/<arch>/<kernel>.btf.tar.xz` of this arch (x86_64 / arm64), the kernel BTF
 * is extracted into a temp dir and `bpftool gen min_core_btf` keeps only what the object uses.
 * The results are packed as a deterministic tar.gz keeping the `<distro>/<version>/<arch>/
 * <kernel>.btf` tree (what ig's runtime looks up). No-op unless `enabled`.
 * Input artifact "ebpf", output artifact "btfgen" (btfs-<arch>.tar.gz).
 */
import { mkdir, mkdtemp, readdir, rm, writeFile, readFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { gzipSync } from "node:zlib";
import { defineStage, GadgetError, t, type Arch, type Infer } from "../core/types.js";
import { findTool } from "./tools.js";

const options = t.object({
  enabled: t.boolean(),
  /** The btfhub-archive directory (relative paths: to the gadgetfile's folder). */
  archive: t.string(),
});
export type BtfgenOptions = Infer<typeof options>;

export const BTFHUB_ARCH: Record<Arch, string> = { amd64: "x86_64", arm64: "arm64" };

/** Archive files for one arch: paths relative to the archive root, sorted. */
export async function findKernelArchives(root: string, arch: Arch): Promise<string[]> {
  let entries: string[];
  try {
    entries = (await readdir(root, { recursive: true })) as string[];
  } catch (e) {
    throw new GadgetError({ what: "btfhub archive not readable", which: root, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : (e as Error).message, hint: "pass --btfhub-archive DIR with <distro>/<version>/<arch>/<kernel>.btf.tar.xz files" });
  }
  const want = BTFHUB_ARCH[arch];
  return entries
    .filter((p) => p.endsWith(".btf.tar.xz"))
    .filter((p) => p.split(sep).slice(0, -1).includes(want))
    .sort();
}

/** A ustar header block (name ≤ 100 bytes or split with prefix). */
function tarHeader(name: string, size: number, type: "0" | "5"): Buffer {
  const h = Buffer.alloc(512);
  let prefix = "";
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const i = name.lastIndexOf("/", 155);
    if (i <= 0 || Buffer.byteLength(name.slice(i + 1)) > 100) throw new Error(`path too long for tar: ${name}`);
    prefix = name.slice(0, i);
    base = name.slice(i + 1);
  }
  const put = (s: string, off: number, len: number) => h.write(s, off, len, "utf8");
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
  put(base, 0, 100);
  put(oct(type === "5" ? 0o755 : 0o644, 8), 100, 8);
  put(oct(0, 8), 108, 8);
  put(oct(0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(0, 12), 136, 12);
  put("        ", 148, 8);
  put(type, 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return h;
}

/** Deterministic tar.gz (sorted paths, mtime 0, uid/gid 0, directories included). */
export function deterministicTarGz(files: { path: string; data: Uint8Array }[]): Buffer {
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/") + "/");
  }
  const entries = [...[...dirs].map((d) => ({ path: d, data: undefined as Uint8Array | undefined })), ...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Buffer[] = [];
  for (const e of entries) {
    if (e.data === undefined) chunks.push(tarHeader(e.path, 0, "5"));
    else {
      chunks.push(tarHeader(e.path, e.data.byteLength, "0"), Buffer.from(e.data));
      const pad = (512 - (e.data.byteLength % 512)) % 512;
      if (pad) chunks.push(Buffer.alloc(pad));
    }
  }
  chunks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}

export const btfgenStage = defineStage({
  name: "btfgen",
  version: "1",
  description: "minimal BTF per kernel of a btfhub-archive (bpftool gen min_core_btf)",
  perArch: true,
  options,
  outputs: ["btfgen"],
  async inputs(ctx) {
    if (!ctx.options.enabled) return { args: { enabled: false } };
    const archive = ctx.options.archive ? resolve(ctx.projectRoot, ctx.options.archive) : "";
    const files = archive ? (await findKernelArchives(archive, ctx.arch!)).map((p) => join(archive, p)) : [];
    return { files, tools: [await findTool("bpftool", ctx.env)], artifacts: ["ebpf"], args: { archive } };
  },
  async run(ctx) {
    if (!ctx.options.enabled) return;
    const arch = ctx.arch;
    if (!arch) throw new GadgetError({ what: "btfgen stage", why: "runs per architecture but got none" });
    if (!ctx.options.archive) throw new GadgetError({ what: "btfgen requires --btfhub-archive", which: "--btfgen", why: "no btfhub-archive directory given", hint: "pass --btfhub-archive DIR", exitCode: 2, code: "USAGE" });
    const obj = ctx.artifacts.get("ebpf");
    if (!obj) return; // no eBPF program: nothing to minimize
    const bpftool = await findTool("bpftool", ctx.env);
    const tar = await findTool("tar", ctx.env);
    await findTool("xz", ctx.env);
    const archive = resolve(ctx.projectRoot, ctx.options.archive);
    const kernels = await findKernelArchives(archive, arch);
    const work = await mkdtemp(join(ctx.outDir, "work-"));
    const outputs: { path: string; data: Uint8Array }[] = [];
    try {
      for (const rel of kernels) {
        const dir = join(work, "in", rel.replace(/\.btf\.tar\.xz$/, ""));
        await mkdir(dir, { recursive: true });
        await ctx.exec(tar, ["-xJf", join(archive, rel), "-C", dir], { what: `extracting ${rel}` });
        const btfs = ((await readdir(dir, { recursive: true })) as string[]).filter((p) => p.endsWith(".btf")).sort();
        if (btfs.length === 0) throw new GadgetError({ what: "no .btf file in kernel archive", which: join(archive, rel) });
        const treePath = rel.replace(/\.tar\.xz$/, "").split(sep).join("/"); // <distro>/<ver>/<arch>/<kernel>.btf
        const outFile = join(work, "out", treePath);
        await mkdir(join(outFile, ".."), { recursive: true });
        await ctx.exec(bpftool, ["gen", "min_core_btf", join(dir, btfs[0]!), outFile, obj.path], { what: `bpftool gen min_core_btf for ${rel}` });
        outputs.push({ path: treePath, data: await readFile(outFile) });
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    if (outputs.length === 0) ctx.logger.warn(`btfgen: no ${BTFHUB_ARCH[arch]} kernels in ${archive}`);
    const out = join(ctx.outDir, `btfs-${BTFHUB_ARCH[arch]}.tar.gz`);
    await writeFile(out, deterministicTarGz(outputs));
    return { artifacts: { btfgen: out } };
  },
});

