/** btfgen from a btfhub-style archive made from this machine's kernel BTF; wasm stage options. */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { runGadget, tempDir } from "../helpers/cli.js";
import { parseBtf, BtfKind } from "../../core/index.js";
import { wasmStage } from "../../plugins/wasm.js";
import { blob, blobJson, digestOf, requireTools } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  requireTools("clang", "llvm-strip", "bpftool", "tar", "xz");
  ({ dir: root, cleanup } = await tempDir("gadget-btfgen-"));
});
afterAll(async () => cleanup?.());

/** Entries of a tar (name → bytes). */
function untar(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let o = 0; o + 512 <= buf.length; ) {
    const name = buf.subarray(o, o + 100).toString("utf8").replace(/\0.*$/s, "");
    if (!name) break;
    const prefix = buf.subarray(o + 345, o + 500).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(buf.subarray(o + 124, o + 136).toString("utf8").replace(/\0.*$/s, "") || "0", 8);
    out.set(prefix ? `${prefix}/${name}` : name, buf.subarray(o + 512, o + 512 + size));
    o += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe("btfgen", () => {
  it("packs minimal BTF per kernel, keeping the <distro>/<ver>/<arch>/<kernel>.btf tree", async () => {
    // a one-kernel btfhub archive from /sys/kernel/btf/vmlinux
    const archive = join(root, "btfhub-archive");
    const kdir = join(archive, "ubuntu", "22.04", "x86_64");
    await mkdir(kdir, { recursive: true });
    await copyFile("/sys/kernel/btf/vmlinux", join(root, "5.15.0-99-generic.btf"));
    execFileSync("tar", ["-cJf", join(kdir, "5.15.0-99-generic.btf.tar.xz"), "-C", root, "5.15.0-99-generic.btf"], { env: { ...process.env, XZ_OPT: "-0" } });

    // a CO-RE program: reads task_struct->pid through a preserve_access_index type
    const g = join(root, "core_gadget");
    await mkdir(g);
    await writeFile(
      join(g, "program.bpf.c"),
      `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  int *e = bpf_ringbuf_reserve(&events, sizeof(int), 0);
  if (!e) return 0;
  *e = BPF_CORE_READ(t, tgid);
  bpf_ringbuf_submit(e, 0);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`,
    );
    const store = join(root, "store");
    const r = await runGadget(["image", "build", g, "--btfgen", "--btfhub-archive", archive, "--oci-store", store], { env: { SOURCE_DATE_EPOCH: "1700000000" } });
    expect(r.code, r.stderr).toBe(0);
    const index = await blobJson(store, digestOf(r.stderr));
    const [amd, arm] = await Promise.all(index.manifests.map((d: any) => blobJson(store, d.digest)));
    expect(amd.layers.map((l: any) => l.mediaType)).toEqual(["application/vnd.gadget.ebpf.program.v1+binary", "application/vnd.gadget.btfgen.v1+binary"]);
    const files = untar(gunzipSync(await blob(store, amd.layers[1].digest)));
    expect([...files.keys()]).toEqual(["ubuntu/", "ubuntu/22.04/", "ubuntu/22.04/x86_64/", "ubuntu/22.04/x86_64/5.15.0-99-generic.btf"]);
    const btf = parseBtf(files.get("ubuntu/22.04/x86_64/5.15.0-99-generic.btf")!);
    const task = btf.byName("task_struct", BtfKind.Struct)!;
    expect(task.members!.map((m) => m.name)).toContain("tgid");
    expect(btf.types.length).toBeLessThan(100); // minimal, not the whole kernel
    // no arm64 kernels in the archive: an empty archive for arm64
    const armFiles = untar(gunzipSync(await blob(store, arm.layers[1].digest)));
    expect(armFiles.size).toBe(0);
  });
});

describe("wasm stage", () => {
  it("tinygo as an opt-in option: a clear error naming tinygo when it is absent", async () => {
    const g = join(root, "tg");
    await mkdir(g, { recursive: true });
    await writeFile(join(g, "main.go"), "package main\n");
    const ctx: any = {
      options: { tinygo: true },
      gadget: { name: "tg", dir: g, ebpfSource: join(g, "program.bpf.c"), metadata: join(g, "gadget.yaml"), wasm: join(g, "main.go"), cflags: [], archs: ["amd64"], settings: {} },
      env: { PATH: join(root, "nothing") },
      outDir: join(root, "tg-out"),
      logger: { info() {}, warn() {}, debug() {} },
      exec: () => Promise.reject(new Error("must not run anything")),
    };
    await expect(wasmStage.run!(ctx)).rejects.toThrow(/tool not found \(tinygo\).*tinygo option needs tinygo on PATH/);
  });

  it("unknown wasm source types are refused", async () => {
    const g = join(root, "weird");
    await mkdir(g, { recursive: true });
    await writeFile(join(g, "mod.zig"), "");
    const ctx: any = { options: {}, gadget: { name: "w", dir: g, wasm: join(g, "mod.zig"), cflags: [], archs: ["amd64"], settings: {} }, env: process.env, outDir: g, logger: console };
    await expect(wasmStage.run!(ctx)).rejects.toThrow(/unsupported wasm file type.*"\.zig"/);
  });
});
