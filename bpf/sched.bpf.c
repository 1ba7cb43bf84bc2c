// SPDX-License-Identifier: GPL-2.0
/* Scheduler probes for the traced tasks: every switch in or out and every wake-up,
 * so on-CPU time, time slices, voluntary and involuntary switches and run-queue
 * latency are computed offline; user page faults are counted in the task's
 * storage and carried by its switch-out events. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"

static __always_inline void emit_sched(__u32 what, __u32 prev_pid, __u32 prev_tid,
				       __u32 next_pid, __u32 next_tid, __u32 state,
				       __u32 faults)
{
	struct ks_ev_sched *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(KS_DROP_SCHED);
		return;
	}
	e->type = KS_EV_SCHED | (what << 16);
	e->cpu = bpf_get_smp_processor_id();
	e->ts = bpf_ktime_get_ns();
	e->prev_pid = prev_pid;
	e->prev_tid = prev_tid;
	e->next_pid = next_pid;
	e->next_tid = next_tid;
	e->prev_state = state;
	e->faults = faults;
	bpf_ringbuf_submit(e, wakeup_flag());
}

SEC("tp_btf/sched_switch")
int BPF_PROG(ks_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct task_ctx *pc = bpf_task_storage_get(&traced, prev, 0, 0);
	struct task_ctx *nc;
	__u32 ppid = 0, ptid = 0, npid = 0, ntid = 0, faults = 0;

	/* scalars, not pointers, are compared: the verifier refuses pointer arithmetic */
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
	emit_sched(KS_EV_SWITCH, ppid, ptid, npid, ntid,
		   prev_state | (preempt ? KS_EV_PREEMPTED : 0), faults);
	return 0;
}

static __always_inline int on_wakeup(struct task_struct *p, __u32 what)
{
	if (!bpf_task_storage_get(&traced, p, 0, 0))
		return 0;
	emit_sched(what, p->tgid, p->pid, 0, 0, 0, 0);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(ks_wakeup, struct task_struct *p)
{
	return on_wakeup(p, KS_EV_WAKEUP);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(ks_wakeup_new, struct task_struct *p)
{
	return on_wakeup(p, KS_EV_WAKEUP_NEW);
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(ks_page_fault, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	struct task_ctx *c = bpf_task_storage_get(&traced, bpf_get_current_task_btf(), 0, 0);

	if (c)
		c->faults++;
	return 0;
}
