// SPDX-License-Identifier: GPL-2.0
/* trace_exec: one event per execve(2), with pid, uid, command and file name. */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <gadget/macros.h>

#define TASK_COMM_LEN 16
#define NAME_MAX 255

/* The sys_enter tracepoints' record: common fields, then the syscall id and its arguments. */
struct sys_enter_ctx {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct event {
	__u64 timestamp;
	__u32 pid;
	__u32 uid;
	__u8 comm[TASK_COMM_LEN];
	__u8 filename[NAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Only this user's executions (0: everyone). */
const volatile __u32 targ_uid = 0;
/* Skip executions whose pid is below this value. */
const volatile __u32 min_pid = 0;
/* Do not read the file name (cheaper). */
const volatile bool ignore_filename = false;

GADGET_PARAM(targ_uid);
GADGET_PARAM(min_pid);
GADGET_PARAM(ignore_filename);

GADGET_TRACER(exec, events, event);

SEC("tracepoint/syscalls/sys_enter_execve")
int trace_execve(struct sys_enter_ctx *ctx)
{
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u32 uid = (__u32)uid_gid;
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;

	if (targ_uid != 0 && uid != targ_uid)
		return 0;
	if (pid < min_pid)
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->timestamp = bpf_ktime_get_boot_ns();
	e->pid = pid;
	e->uid = uid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (ignore_filename)
		e->filename[0] = 0;
	else
		bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[0]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
