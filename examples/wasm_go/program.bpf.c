// SPDX-License-Identifier: GPL-2.0
/* wasm_go: one event per kill(2), with sender, target and signal; the wasm module is Go. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <gadget/macros.h>

/* The sys_enter tracepoints' record: common fields, then the syscall id and its arguments. */
struct sys_enter_ctx {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct signal_event {
	__u32 pid;
	__s32 target;
	__u32 sig;
	__u8 comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} signals SEC(".maps");

GADGET_TRACER(signals, signals, signal_event);

SEC("tracepoint/syscalls/sys_enter_kill")
int on_kill(struct sys_enter_ctx *ctx)
{
	struct signal_event *e = bpf_ringbuf_reserve(&signals, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->target = (__s32)ctx->args[0];
	e->sig = (__u32)ctx->args[1];
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
