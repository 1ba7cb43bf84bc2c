// SPDX-License-Identifier: GPL-2.0
/* Syscall and process-lifecycle probes: every syscall of the traced process tree
 * with its latency, and fork/exec/exit. The traced set is task storage, seeded by
 * the recorder for the command and inherited at fork, so untraced tasks pay one
 * storage lookup per syscall and nothing else. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"

#include "common.bpf.h"

static __always_inline void emit_syscall(__u32 nr, __u64 ts, __u64 dur, long ret,
					  __u32 flags)
{
	struct ks_ev_syscall *e;
	__u64 id;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(KS_DROP_SYSCALL);
		return;
	}
	id = bpf_get_current_pid_tgid();
	e->type = KS_EV_SYSCALL | (flags << 16);
	e->nr = nr;
	e->ts = ts;
	e->dur = dur;
	e->ret = ret;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_ringbuf_submit(e, wakeup_flag());
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ks_sys_enter, struct pt_regs *regs, long id)
{
	struct task_ctx *c = traced_ctx(bpf_get_current_task_btf());

	if (!c)
		return 0;
	if (id == NR_EXIT || id == NR_EXIT_GROUP) {
		/* never returns: one event now, with no duration */
		emit_syscall(id, bpf_ktime_get_ns(), 0, 0, KS_EV_SYSF_NORET);
		return 0;
	}
	c->nr = id;
	c->enter_ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ks_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_ctx *c = bpf_task_storage_get(&traced, bpf_get_current_task_btf(), 0, 0);
	__u64 now, ts;

	/* no entry seen: a new child returning from fork, or tracing began mid-call */
	if (!c || !c->enter_ts)
		return 0;
	now = bpf_ktime_get_ns();
	ts = c->enter_ts;
	c->enter_ts = 0;
	emit_syscall(c->nr, ts, now - ts, ret, 0);
	return 0;
}

static __always_inline void emit_proc(__u32 what, struct task_struct *task, __u32 ppid,
				       __s32 code, bool with_argv)
{
	struct ks_ev_proc *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(KS_DROP_PROC);
		return;
	}
	e->type = KS_EV_PROC;
	e->what = what;
	e->ts = bpf_ktime_get_ns();
	e->pid = BPF_CORE_READ(task, tgid);
	e->tid = BPF_CORE_READ(task, pid);
	e->ppid = ppid;
	e->exit_code = code;
	e->_pad = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	e->argv_len = 0;
	if (with_argv) {
		unsigned long start = BPF_CORE_READ(task, mm, arg_start);
		unsigned long end = BPF_CORE_READ(task, mm, arg_end);

		/* a fixed-size read keeps the verifier simple; the strings past arg_end
		 * (the environment) are mapped too and cut off by argv_len */
		if (end > start && !bpf_probe_read_user(e->argv, KS_ARGV_LEN, (void *)start))
			e->argv_len = end - start > KS_ARGV_LEN ? KS_ARGV_LEN : end - start;
	}
	bpf_ringbuf_submit(e, wakeup_flag());
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ks_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!bpf_task_storage_get(&traced, parent, 0, 0))
		return 0;
	if (!bpf_task_storage_get(&traced, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE))
		return 0;
	emit_proc(KS_EV_FORK, child, BPF_CORE_READ(parent, tgid), 0, false);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ks_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!bpf_task_storage_get(&traced, p, 0, 0))
		return 0;
	emit_proc(KS_EV_EXEC, p, BPF_CORE_READ(p, real_parent, tgid), 0, true);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ks_exit, struct task_struct *p)
{
	if (!bpf_task_storage_get(&traced, p, 0, 0))
		return 0;
	emit_proc(KS_EV_EXIT, p, BPF_CORE_READ(p, real_parent, tgid),
		  BPF_CORE_READ(p, exit_code), false);
	return 0;
}
