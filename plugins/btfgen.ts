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
import { api } from "./api.js";

const options = t.object({
  enabled: t.boolean(),
  /** The btfhub-archive directory (relative paths: to the gadgetfile's folder). */
  archive: t.string(),
});
export type BtfgenOptions = Infer<typeof options>;

export const BTFHUB_ARCH: Record<Arch, string> = { amd64: "x86_64", arm64: "arm64" };

/** How the archive is given, in both commands that run this stage (a hint names what works where it is printed). */
const ARCHIVE_HOW = "`gadget image build … --btfhub-archive DIR`; in a gadgetfile, the btfgen step's option: { stage: \"btfgen\", options: { enabled: true, archive: \"DIR\" } }";

/** Archive files for one arch: paths relative to the archive root, sorted. */
export async function findKernelArchives(root: string, arch: Arch): Promise<string[]> {
  let entries: string[];
  try {
    entries = (await readdir(root, { recursive: true })) as string[];
  } catch (e) {
    throw new GadgetError({ what: "btfhub archive not readable", which: root, why: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : (e as Error).message, hint: `give a folder with <distro>/<version>/<arch>/<kernel>.btf.tar.xz files: ${ARCHIVE_HOW}` });
  }
  const want = BTFHUB_ARCH[arch];
  return entries
    .filter((p) => p.endsWith(".btf.tar.xz"))
    .filter((p) => p.split(sep).slice(0, -1).includes(want))
    .sort();
}

/** Deterministic tar.gz (sorted paths, directories included, mtime 0, root/root): core's tar writer, then gzip. */
export async function deterministicTarGz(files: { path: string; data: Uint8Array }[]): Promise<Buffer> {
  const { tarToBuffer } = await api();
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/") + "/");
  }
  const entries = [...[...dirs].map((d) => ({ path: d, mode: 0o755 })), ...files.map((f) => ({ ...f, mode: 0o644 }))].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return gzipSync(await tarToBuffer(entries), { level: 9 });
}

export const btfgenStage = defineStage({
  name: "btfgen",
  version: "2",
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
    if (!ctx.options.archive) throw new GadgetError({ what: "btfgen requires --btfhub-archive", which: "--btfgen", why: "no btfhub-archive directory given", hint: ARCHIVE_HOW, exitCode: 2, code: "USAGE" });
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
    await writeFile(out, await deterministicTarGz(outputs));
    return { artifacts: { btfgen: out } };
  },
});

