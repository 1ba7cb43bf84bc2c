// SPDX-License-Identifier: GPL-2.0
/* Syscall and process-lifecycle probes: every syscall of the traced process tree
 * with its latency, and fork/exec/exit. The traced set is seeded by the recorder
 * for the command and inherited at fork, so untraced tasks pay one lookup per
 * syscall and nothing else.
 *
 * Each hook exists three times: BTF tracepoint (tp_btf, the default), raw
 * tracepoint and classic tracepoint; the loader keeps the first kind this kernel
 * accepts. The bodies are shared. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"
#include "batch.bpf.h"
#include "sysargs.bpf.h"

static __always_inline void emit_syscall(void *ctx, struct cpu_slot *s, __u32 nr, __u64 ts,
					  __u64 dur, long ret, __u32 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ks_ev_syscall e = {
		.type = KS_EV_SYSCALL | (flags << 16),
		.nr = nr,
		.ts = ts,
		.dur = dur,
		.ret = ret,
		.pid = id >> 32,
		.tid = (__u32)id,
	};

	batch_emit(ctx, s, &e, sizeof(e));
}

/* The event is built in a per-CPU slot: it is too large for the stack budget. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_ev_proc);
} proc_scratch SEC(".maps");

/* The record's size: the fixed part and the argv bytes used. */
static __always_inline __u32 emit_proc_size(__u64 argv_len)
{
	asm volatile("%0 &= 0x1fff" : "+r"(argv_len));
	if (argv_len > KS_ARGV_LEN)
		argv_len = KS_ARGV_LEN;
	return offsetof(struct ks_ev_proc, argv) + argv_len;
}

static __always_inline void emit_proc(void *ctx, __u32 what, __u32 pid, __u32 tid, __u32 ppid,
				       __s32 code, bool with_argv)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u32 zero = 0;
	struct ks_ev_proc *e = bpf_map_lookup_elem(&proc_scratch, &zero);

	if (!e)
		return;
	e->type = KS_EV_PROC;
	e->what = what;
	e->ts = bpf_ktime_get_ns();
	e->pid = pid;
	e->tid = tid;
	e->ppid = ppid;
	e->exit_code = code;
	e->flags = 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	e->cgroup = bpf_get_current_cgroup_id();
	e->argv_len = 0;
	if (with_argv) {
		unsigned long start = BPF_CORE_READ(task, mm, arg_start);
		unsigned long end = BPF_CORE_READ(task, mm, arg_end);
		__u64 n = end > start ? end - start : 0;

		if (n > KS_ARGV_LEN) {
			n = KS_ARGV_LEN;
			e->flags = KS_EV_PROCF_ARGV_TRUNC;
		}
		/* only what is there: a read past the top of the stack would fault */
		asm volatile("%0 &= 0x1fff" : "+r"(n));
		if (n > KS_ARGV_LEN)
			n = KS_ARGV_LEN;
		if (n && !bpf_probe_read_user(e->argv, n, (void *)start))
			e->argv_len = n;
	}
	output(ctx, e, emit_proc_size(e->argv_len), KS_DROP_PROC);
}

/* Hash mode: a new task announces its own fork at its first syscall event, where
 * its thread group is known in every kind of probe. */
static __always_inline void announce_fork(void *ctx, struct task_ctx *c)
{
	__u64 id;

	if (!use_hash || c->tgid)
		return;
	id = bpf_get_current_pid_tgid();
	c->tgid = id >> 32;
	emit_proc(ctx, KS_EV_FORK, id >> 32, (__u32)id, c->ppid, 0, false);
}

/* -a, --cgroup: a task adopted by the probes names itself once (comm, argv,
 * cgroup), so that a task already running, or one that moved into the cgroup,
 * is not nameless in the trace. */
static __always_inline void announce_join(void *ctx, struct task_ctx *c)
{
	struct task_struct *task;
	__u64 id;

	if (!(trace_all || trace_cgroup) || c->joined != 1)
		return;
	c->joined = 2;
	task = (void *)bpf_get_current_task();
	id = bpf_get_current_pid_tgid();
	emit_proc(ctx, KS_EV_JOIN, id >> 32, (__u32)id, BPF_CORE_READ(task, real_parent, tgid),
		  0, true);
}

/* The running task's state when it is traced, else NULL: from the CPU's slot
 * (s, taken by the caller) with the in-flight cache, else from its storage. */
static __always_inline struct task_ctx *sys_ctx(void *ctx, struct cpu_slot *s)
{
	struct task_ctx *c;
	bool fresh;

	if (!fast_ctx) {
		c = current_ctx();
		if (c)
			announce_fork(ctx, c);
		return c;
	}
	if (!s) /* the slot is in use: cannot happen from a syscall hook */
		return NULL;
	c = fast_current(s, &fresh);
	if (fresh && (trace_all || trace_cgroup)) {
		struct task_ctx *st = current_ctx();

		if (st)
			announce_join(ctx, st);
	}
	return c;
}

/* Returns the task's context when the syscall's arguments are to be saved
 * (*spec says which), else NULL. */
static __always_inline struct task_ctx *on_sys_enter(void *ctx, struct cpu_slot *s, long id,
						     __u32 *spec)
{
	struct task_ctx *c = sys_ctx(ctx, s);

	if (!c)
		return NULL;
	if (!fast_ctx)
		announce_join(ctx, c);
	if (id == NR_EXIT || id == NR_EXIT_GROUP) {
		/* never returns: one event now, with no duration */
		emit_syscall(ctx, s, id, bpf_ktime_get_ns(), 0, 0, KS_EV_SYSF_NORET);
		return NULL;
	}
	c->nr = id;
	c->enter_ts = bpf_ktime_get_ns();
	*spec = spec_of(id);
	return *spec ? c : NULL;
}

static __always_inline int on_sys_exit(void *ctx, struct cpu_slot *s, long ret)
{
	struct task_ctx *c = sys_ctx(ctx, s);
	__u64 now, ts;
	__u32 spec;

	if (!c)
		return 0;
	/* no entry seen: a new child returning from fork, or tracing began mid-call */
	if (!c->enter_ts)
		return 0;
	now = bpf_ktime_get_ns();
	ts = c->enter_ts;
	spec = spec_of(c->nr);
	/* the side records filled in at exit are joined by the entry time: cleared after */
	if (spec)
		sysargs_exit(ctx, s, c, spec, ts, now - ts, ret);
	else
		emit_syscall(ctx, s, c->nr, ts, now - ts, ret, 0);
	c->enter_ts = 0;
	return 0;
}

/* Hash mode: the child joins the traced set when its parent (the running task)
 * is traced. With child_tgid known (BTF and raw tracepoints) the fork is
 * announced now; a classic tracepoint does not tell it, so the child announces
 * itself at its first syscall event. */
static __always_inline int fork_hash(void *ctx, __u32 child_tid, __u32 child_tgid)
{
	struct task_ctx v = { .ppid = bpf_get_current_pid_tgid() >> 32, .tgid = child_tgid };

	if (!current_ctx()) {
		/* a classic tracepoint tells the child's pid, its tgid for a process */
		ignore_child(v.ppid, child_tgid ?: child_tid);
		return 0;
	}
	bpf_map_update_elem(&traced_tids, &child_tid, &v, BPF_ANY);
	if (child_tgid)
		emit_proc(ctx, KS_EV_FORK, child_tgid, child_tid, v.ppid, 0, false);
	return 0;
}

static __always_inline int on_exec(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	if (!current_ctx())
		return 0;
	emit_proc(ctx, KS_EV_EXEC, id >> 32, (__u32)id, BPF_CORE_READ(task, real_parent, tgid),
		  0, true);
	return 0;
}

static __always_inline int on_exit(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	struct task_ctx *c = current_ctx();

	if (!c)
		return 0;
	emit_proc(ctx, KS_EV_EXIT, id >> 32, tid, BPF_CORE_READ(task, real_parent, tgid),
		  BPF_CORE_READ(task, exit_code), false);
	if (use_hash)
		bpf_map_delete_elem(&traced_tids, &tid);
	return 0;
}

/* --- BTF tracepoints ------------------------------------------------------ */

SEC("tp_btf/sys_enter")
int BPF_PROG(ks_sys_enter, struct pt_regs *regs, long id)
{
	struct cpu_slot *s = slot_take();
	__u32 spec;
	struct task_ctx *c = on_sys_enter(ctx, s, id, &spec);

	if (c)
		save_args_btf(ctx, c, spec, regs);
	slot_give(s);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ks_sys_exit, struct pt_regs *regs, long ret)
{
	struct cpu_slot *s = slot_take();

	on_sys_exit(ctx, s, ret);
	slot_give(s);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ks_fork, struct task_struct *parent, struct task_struct *child)
{
	if (use_hash)
		return fork_hash(ctx, child->pid, child->tgid);
	if (!bpf_task_storage_get(&traced, parent, 0, 0)) {
		ignore_child(parent->tgid, child->tgid);
		return 0;
	}
	if (!bpf_task_storage_get(&traced, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE))
		return 0;
	emit_proc(ctx, KS_EV_FORK, child->tgid, child->pid, parent->tgid, 0, false);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ks_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(ctx);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ks_exit, struct task_struct *p)
{
	return on_exit(ctx);
}

/* The slots' switch program (bpf/batch.bpf.h), in each kind, and its tick. */
SEC("tp_btf/sched_switch")
int BPF_PROG(ks_batch_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	slot_switch(ctx, prev);
	return 0;
}

SEC("perf_event")
int ks_batch_tick(void *ctx)
{
	slot_tick(ctx);
	return 0;
}

/* --- raw tracepoints (no BTF task pointers: hash mode) -------------------- */

SEC("raw_tp/sys_enter")
int BPF_PROG(ks_sys_enter_raw, struct pt_regs *regs, long id)
{
	struct cpu_slot *s = slot_take();
	__u32 spec;
	struct task_ctx *c = on_sys_enter(ctx, s, id, &spec);

	if (c)
		save_args_raw(ctx, c, spec, regs);
	slot_give(s);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(ks_sys_exit_raw, struct pt_regs *regs, long ret)
{
	struct cpu_slot *s = slot_take();

	on_sys_exit(ctx, s, ret);
	slot_give(s);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(ks_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return fork_hash(ctx, BPF_CORE_READ(child, pid), BPF_CORE_READ(child, tgid));
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(ks_exec_raw)
{
	return on_exec(ctx);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(ks_exit_raw)
{
	return on_exit(ctx);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(ks_batch_switch_raw)
{
	slot_switch(ctx, NULL);
	return 0;
}

/* --- classic tracepoints (tracefs; hash mode) ----------------------------- */

SEC("tracepoint/raw_syscalls/sys_enter")
int ks_sys_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	struct cpu_slot *s = slot_take();
	__u32 spec;
	struct task_ctx *c = on_sys_enter(ctx, s, ctx->id, &spec);

	if (c)
		save_args_tp(ctx, c, spec, ctx);
	slot_give(s);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int ks_sys_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	struct cpu_slot *s = slot_take();

	on_sys_exit(ctx, s, ctx->ret);
	slot_give(s);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int ks_fork_tp(struct trace_event_raw_sched_process_fork *ctx)
{
	return fork_hash(ctx, ctx->child_pid, 0);
}

SEC("tracepoint/sched/sched_process_exec")
int ks_exec_tp(void *ctx)
{
	return on_exec(ctx);
}

SEC("tracepoint/sched/sched_process_exit")
int ks_exit_tp(void *ctx)
{
	return on_exit(ctx);
}

SEC("tracepoint/sched/sched_switch")
int ks_batch_switch_tp(void *ctx)
{
	slot_switch(ctx, NULL);
	return 0;
}
