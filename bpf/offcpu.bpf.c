// SPDX-License-Identifier: GPL-2.0
/* Off-CPU spans of the traced threads (as libbpf-tools' offcputime): at a
 * switch-out the leaving thread's kernel and user stacks go into a stack map and
 * the time into "offstart"; at its next switch-in one event gives how long it was
 * off the CPU, whether it blocked or was preempted, and the two stack ids. The
 * stack map deduplicates in the kernel, so a switch costs no stack copy. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"

/* The innermost kernel frames are the hook's own (the BPF program,
 * bpf_trace_run, __traceiter_sched_switch): left out, so stacks end in
 * __schedule as perf's do. */
#define HOOK_FRAMES 3

struct offstart {
	__u64 ts;
	__s32 kstack;
	__s32 ustack;
	__u32 flags;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KS_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 16384);
} stackmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32); /* tid */
	__type(value, struct offstart);
} offstart SEC(".maps");

static __always_inline void switch_out(void *ctx, __u32 tid, bool preempt)
{
	struct offstart s = { .ts = bpf_ktime_get_ns() };

	s.kstack = bpf_get_stackid(ctx, &stackmap, HOOK_FRAMES & BPF_F_SKIP_FIELD_MASK);
	s.ustack = bpf_get_stackid(ctx, &stackmap, BPF_F_USER_STACK);
	s.flags = (preempt ? KS_EVS_PREEMPTED : 0) | (s.kstack < 0 ? KS_EVS_KMISSING : 0) |
		  (s.ustack < 0 ? KS_EVS_UMISSING : 0);
	bpf_map_update_elem(&offstart, &tid, &s, BPF_ANY);
}

static __always_inline void switch_in(void *ctx, __u32 pid, __u32 tid)
{
	struct offstart *s = bpf_map_lookup_elem(&offstart, &tid);
	struct ks_ev_offcpu e;
	__u64 now;

	if (!s)
		return;
	now = bpf_ktime_get_ns();
	e.type = KS_EV_OFFCPU | (s->flags << 16);
	e.cpu = bpf_get_smp_processor_id();
	e.ts = s->ts;
	e.dur = now - s->ts;
	e.pid = pid;
	e.tid = tid;
	e.kstack = s->kstack;
	e.ustack = s->ustack;
	bpf_map_delete_elem(&offstart, &tid);
	output(ctx, &e, sizeof(e), KS_DROP_SAMPLE);
}

/* The leaving task is the running one (the stacks are its own). It was
 * preempted when the kernel preempted it, or when it left still runnable (a
 * time slice ended on the way back to user space). */
SEC("tp_btf/sched_switch")
int BPF_PROG(ks_offcpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	preempt |= prev_state == 0;
	if (use_hash) {
		__u32 ptid = (__u32)bpf_get_current_pid_tgid();
		struct task_ctx *nc = tid_ctx(next->pid);

		if (ptid && tid_ctx(ptid))
			switch_out(ctx, ptid, preempt);
		if (nc)
			switch_in(ctx, nc->tgid ?: next->pid, next->pid);
		return 0;
	}
	if (prev->pid && bpf_task_storage_get(&traced, prev, 0, 0))
		switch_out(ctx, prev->pid, preempt);
	if (bpf_task_storage_get(&traced, next, 0, 0))
		switch_in(ctx, next->tgid, next->pid);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(ks_offcpu_switch_raw, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	preempt |= prev_state == 0;
	__u32 ptid = (__u32)bpf_get_current_pid_tgid();
	__u32 ntid = BPF_CORE_READ(next, pid);
	struct task_ctx *nc = tid_ctx(ntid);

	if (ptid && tid_ctx(ptid))
		switch_out(ctx, ptid, preempt);
	if (nc)
		switch_in(ctx, nc->tgid ?: ntid, ntid);
	return 0;
}
