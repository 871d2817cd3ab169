// SPDX-License-Identifier: GPL-2.0
/* wasm_hello: process exits with their exit code; the wasm module says hello when it starts. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <gadget/macros.h>

struct sched_process_exit_ctx {
	__u64 common;
	char comm[16];
	int pid;
	int prio;
};

struct exit_event {
	__u32 pid;
	__u8 comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} exits SEC(".maps");

GADGET_TRACER(exits, exits, exit_event);

SEC("tracepoint/sched/sched_process_exit")
int on_exit(struct sched_process_exit_ctx *ctx)
{
	struct exit_event *e = bpf_ringbuf_reserve(&exits, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
