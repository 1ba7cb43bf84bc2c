// SPDX-License-Identifier: GPL-2.0
/* Scheduler probes for the traced tasks: every switch in or out and every wake-up,
 * so on-CPU time, time slices, voluntary and involuntary switches and run-queue
 * latency are computed offline; user page faults are counted in the task's state
 * and carried by its switch-out events. Like the syscall family, each hook exists
 * as tp_btf, raw_tp and classic tracepoint. The page-fault programs are optional:
 * exceptions:page_fault_user is x86's, and the loader leaves them out (autoload
 * off) where record/features.c finds no such tracepoint. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"

/* The classic tracepoint reports a preempted task with this state. */
#define TP_TASK_REPORT_MAX 0x100

static __always_inline void emit_sched(void *ctx, __u32 what, __u32 prev_pid, __u32 prev_tid,
				       __u32 next_pid, __u32 next_tid, __u32 state,
				       __u32 faults)
{
	struct ks_ev_sched e = {
		.type = KS_EV_SCHED | (what << 16),
		.cpu = bpf_get_smp_processor_id(),
		.ts = bpf_ktime_get_ns(),
		.prev_pid = prev_pid,
		.prev_tid = prev_tid,
		.next_pid = next_pid,
		.next_tid = next_tid,
		.prev_state = state,
		.faults = faults,
	};

	output(ctx, &e, sizeof(e), KS_DROP_SCHED);
}

/* The leaving task is the running one; the incoming one is looked up by tid. */
static __always_inline int switch_hash(void *ctx, __u32 next_tid, __u32 state)
{
	struct task_ctx *pc = current_ctx();
	struct task_ctx *nc = tid_ctx(next_tid);
	__u64 id = bpf_get_current_pid_tgid();
	__u32 ppid = 0, ptid = 0, npid = 0, ntid = 0, faults = 0;

	if (pc) {
		ppid = id >> 32;
		ptid = (__u32)id;
		faults = pc->faults;
	}
	if (nc) {
		npid = nc->tgid ?: next_tid; /* not announced yet: most likely a process */
		ntid = next_tid;
	}
	if (!ptid && !ntid)
		return 0;
	emit_sched(ctx, KS_EV_SWITCH, ppid, ptid, npid, ntid, state, faults);
	return 0;
}

static __always_inline int wakeup_hash(void *ctx, __u32 tid, __u32 what)
{
	struct task_ctx *c = tid_ctx(tid);

	if (c)
		emit_sched(ctx, what, c->tgid ?: tid, tid, 0, 0, 0, 0);
	return 0;
}

static __always_inline int on_fault(void)
{
	struct task_ctx *c = current_ctx();

	if (c)
		c->faults++;
	return 0;
}

/* --- BTF tracepoints ------------------------------------------------------ */

SEC("tp_btf/sched_switch")
int BPF_PROG(ks_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 state = prev_state | (preempt ? KS_EV_PREEMPTED : 0);
	struct task_ctx *pc, *nc;
	__u32 ppid = 0, ptid = 0, npid = 0, ntid = 0, faults = 0;

	if (use_hash)
		return switch_hash(ctx, next->pid, state);
	/* scalars, not pointers, are compared: the verifier refuses pointer arithmetic */
	pc = bpf_task_storage_get(&traced, prev, 0, 0);
	if (pc) {
		ppid = prev->tgid;
		ptid = prev->pid;
		faults = pc->faults;
	}
	nc = bpf_task_storage_get(&traced, next, 0, 0);
	if (nc) {
		npid = next->tgid;
		ntid = next->pid;
	}
	if (!ptid && !ntid) /* tid 0 is the idle task, never traced */
		return 0;
	emit_sched(ctx, KS_EV_SWITCH, ppid, ptid, npid, ntid, state, faults);
	return 0;
}

static __always_inline int wakeup_btf(void *ctx, struct task_struct *p, __u32 what)
{
	if (use_hash)
		return wakeup_hash(ctx, p->pid, what);
	if (!bpf_task_storage_get(&traced, p, 0, 0))
		return 0;
	emit_sched(ctx, what, p->tgid, p->pid, 0, 0, 0, 0);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ks_wakeup, struct task_struct *p)
{
	return wakeup_btf(ctx, p, KS_EV_WAKEUP);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(ks_wakeup_new, struct task_struct *p)
{
	return wakeup_btf(ctx, p, KS_EV_WAKEUP_NEW);
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(ks_page_fault)
{
	return on_fault();
}

/* --- raw tracepoints ------------------------------------------------------ */

SEC("raw_tp/sched_switch")
int BPF_PROG(ks_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return switch_hash(ctx, BPF_CORE_READ(next, pid),
			   prev_state | (preempt ? KS_EV_PREEMPTED : 0));
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(ks_wakeup_raw, struct task_struct *p)
{
	return wakeup_hash(ctx, BPF_CORE_READ(p, pid), KS_EV_WAKEUP);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(ks_wakeup_new_raw, struct task_struct *p)
{
	return wakeup_hash(ctx, BPF_CORE_READ(p, pid), KS_EV_WAKEUP_NEW);
}

SEC("raw_tp/page_fault_user")
int BPF_PROG(ks_page_fault_raw)
{
	return on_fault();
}

/* --- classic tracepoints -------------------------------------------------- */

SEC("tracepoint/sched/sched_switch")
int ks_switch_tp(struct trace_event_raw_sched_switch *ctx)
{
	long st = ctx->prev_state;

	return switch_hash(ctx, ctx->next_pid,
			   st & TP_TASK_REPORT_MAX ? KS_EV_PREEMPTED : (__u32)st);
}

SEC("tracepoint/sched/sched_wakeup")
int ks_wakeup_tp(struct trace_event_raw_sched_wakeup_template *ctx)
{
	return wakeup_hash(ctx, ctx->pid, KS_EV_WAKEUP);
}

SEC("tracepoint/sched/sched_wakeup_new")
int ks_wakeup_new_tp(struct trace_event_raw_sched_wakeup_template *ctx)
{
	return wakeup_hash(ctx, ctx->pid, KS_EV_WAKEUP_NEW);
}

SEC("tracepoint/exceptions/page_fault_user")
int ks_page_fault_tp(void *ctx)
{
	return on_fault();
}
