// SPDX-License-Identifier: GPL-2.0
/* The floor under any syscall tracer on this kernel, one step at a time
 * (bench/tpfloor.c): programs on sys_enter and sys_exit that do nothing (level
 * 0), then look the task up in task storage (1), read the clock at both ends
 * (2), send a 40-byte record to the ring buffer per syscall (3) or through a
 * per-CPU 4 KiB batch (4). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile int level = 0;

struct tctx {
	__u64 ts;
	__u32 nr, pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tctx);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} events SEC(".maps");

struct rec {
	__u32 type, nr;
	__u64 ts, dur;
	__s64 ret;
	__u32 pid, tid;
};

#define BATCH 4096
struct batch {
	__u32 len, pad;
	__u8 data[BATCH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct batch);
} bufs SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_enter, struct pt_regs *regs, long id)
{
	struct tctx *c;

	if (level < 1)
		return 0;
	c = bpf_task_storage_get(&traced, bpf_get_current_task_btf(), 0, 0);
	if (!c)
		return 0;
	c->nr = id;
	if (level >= 2)
		c->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_exit, struct pt_regs *regs, long ret)
{
	struct tctx *c;
	struct batch *b;
	__u32 zero = 0, l;
	__u64 now, id;

	if (level < 1)
		return 0;
	c = bpf_task_storage_get(&traced, bpf_get_current_task_btf(), 0, 0);
	if (!c)
		return 0;
	now = level >= 2 ? bpf_ktime_get_ns() : 0;
	id = bpf_get_current_pid_tgid();
	struct rec e = { .type = 1, .nr = c->nr, .ts = c->ts, .dur = now - c->ts, .ret = ret,
			 .pid = id >> 32, .tid = (__u32)id };

	if (level == 3)
		bpf_ringbuf_output(&events, &e, sizeof(e), BPF_RB_NO_WAKEUP);
	if (level == 4 && (b = bpf_map_lookup_elem(&bufs, &zero))) {
		l = b->len;
		if (l > BATCH - sizeof(e)) {
			bpf_ringbuf_output(&events, b->data, BATCH, BPF_RB_NO_WAKEUP);
			l = 0;
		}
		l &= BATCH - 1;
		if (l <= BATCH - sizeof(e)) {
			__builtin_memcpy(b->data + l, &e, sizeof(e));
			b->len = l + sizeof(e);
		}
	}
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_fork, struct task_struct *parent, struct task_struct *child)
{
	if (bpf_task_storage_get(&traced, parent, 0, 0))
		bpf_task_storage_get(&traced, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return 0;
}
