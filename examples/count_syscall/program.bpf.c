// SPDX-License-Identifier: GPL-2.0
/* count_syscall: per-process counts of one system call (openat by default). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "syscall_nr.h"

struct raw_sys_enter_ctx {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct counter {
	__u64 count;
	__u8 comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct counter);
} counts SEC(".maps");

/* The system call to count: its number differs per architecture (see syscall_nr.h). */
const volatile long target_nr = NR_openat;

SEC("tracepoint/raw_syscalls/sys_enter")
int count_enter(struct raw_sys_enter_ctx *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct counter zero = {}, *c;

	if (ctx->id != target_nr)
		return 0;
	c = bpf_map_lookup_elem(&counts, &pid);
	if (!c) {
		bpf_get_current_comm(zero.comm, sizeof(zero.comm));
		bpf_map_update_elem(&counts, &pid, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&counts, &pid);
		if (!c)
			return 0;
	}
	__sync_fetch_and_add(&c->count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
