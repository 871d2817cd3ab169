import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** A realistic CO-RE gadget for the benchmarks: kernel types from vmlinux.h, read with BPF_CORE_READ (compile-dominated, like real gadgets). */
export function coreGadgetSource(opts: { vmlinux: string; id?: number }): string {
  const id = opts.id ?? 0;
  return `// SPDX-License-Identifier: GPL-2.0
#include "${opts.vmlinux}"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event { __u32 pid; __u32 ppid; __u32 uid; __u8 comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } events SEC(".maps");
const volatile __u32 targ_uid = ${id};

SEC("tracepoint/sched/sched_process_exec")
int on_exec_${id}(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct event *e;
	__u32 uid = (__u32)bpf_get_current_uid_gid();

	if (targ_uid && uid != targ_uid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(task, tgid);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = uid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;
}

/**
 * A monorepo of `count` CO-RE gadgets (gadgets/c00…) sharing this machine's vmlinux.h (amd64: the
 * host's BTF is x86), with a gadgetfile tagging them `bench/{name}:<tag>`.
 */
export async function writeCoreRepo(dir: string, count: number, tag: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "vmlinux.h"), execFileSync("bpftool", ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"], { maxBuffer: 1 << 30 }));
  for (let i = 0; i < count; i++) {
    const g = join(dir, "gadgets", `c${String(i).padStart(2, "0")}`);
    await mkdir(g, { recursive: true });
    await writeFile(join(g, "program.bpf.c"), coreGadgetSource({ vmlinux: "../../vmlinux.h", id: i }));
    await writeFile(join(g, "gadget.yaml"), `name: c${i}\ndescription: CO-RE bench gadget ${i}\n`);
  }
  await writeFile(join(dir, "gadgetfile.ts"), `import { defineGadgetfile } from "gadget";\nexport default defineGadgetfile({ gadgets: ["gadgets/*"], defaults: { tag: "bench/{name}:${tag}", archs: ["amd64"] } });\n`);
}
