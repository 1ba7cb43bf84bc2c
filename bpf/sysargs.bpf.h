/* Syscall arguments for the syscall family (bpf/syscalls.bpf.c): arg_spec[nr]
 * (filled by the loader) says which arguments of a syscall matter. At entry the
 * six registers are saved in the task's context and the strings and sockaddrs
 * passed in are sent as side records; at exit the numbers ride in the syscall
 * event and what the kernel filled in (accept's peer, pipe's fds) follows. A
 * syscall without a spec pays one rodata load. */
#ifndef KSIGHT_SYSARGS_BPF_H
#define KSIGHT_SYSARGS_BPF_H

const volatile __u32 arg_spec[KS_ARG_NRS] = {};

static __always_inline __u32 spec_of(__u32 nr)
{
	return nr < KS_ARG_NRS ? arg_spec[nr] : 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_ev_sysarg);
} sysarg_scratch SEC(".maps");

static __always_inline struct ks_ev_sysarg *sysarg_new(struct task_ctx *c, __u32 what)
{
	__u32 zero = 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct ks_ev_sysarg *e = bpf_map_lookup_elem(&sysarg_scratch, &zero);

	if (!e)
		return NULL;
	e->type = KS_EV_SYSARG | (what << 16);
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->nr = c->nr;
	e->ts = c->enter_ts;
	e->val = 0;
	e->len = 0;
	e->flags = 0;
	return e;
}

static __always_inline void sysarg_send(void *ctx, struct ks_ev_sysarg *e)
{
	__u64 len = e->len;

	/* a bound the verifier sees after the compiler is done with it */
	asm volatile("%0 &= 0x1ff" : "+r"(len));
	if (len > KS_SYSARG_DATA)
		len = KS_SYSARG_DATA;
	output(ctx, e, offsetof(struct ks_ev_sysarg, data) + len, KS_DROP_ARGS);
}

static __always_inline __u64 arg_at(struct task_ctx *c, __u32 idx1)
{
	__u32 k = idx1 - 1; /* idx1: argument index + 1, non-zero */

	return c->args[k < 6 ? k : 5];
}

static __always_inline void send_path(void *ctx, struct task_ctx *c, __u32 what, __u32 idx1)
{
	struct ks_ev_sysarg *e = sysarg_new(c, what);
	long n;

	if (!e)
		return;
	n = bpf_probe_read_user_str(e->data, sizeof(e->data), (void *)arg_at(c, idx1));
	if (n <= 0) {
		e->flags = KS_EV_SAF_FAULT;
	} else {
		e->len = n - 1; /* without the NUL */
		if (n == sizeof(e->data))
			e->flags = KS_EV_SAF_TRUNC;
	}
	sysarg_send(ctx, e);
}

/* A sockaddr of len bytes at user address p. */
static __always_inline void send_addr(void *ctx, struct task_ctx *c, __u32 what, __u64 p,
				      __s64 len)
{
	struct ks_ev_sysarg *e = sysarg_new(c, what);
	__u64 n;

	if (!e)
		return;
	e->val = len;
	n = len < 0 ? 0 : len > 128 ? 128 : len;
	if (len > 128)
		e->flags = KS_EV_SAF_TRUNC;
	asm volatile("%0 &= 0xff" : "+r"(n));
	if (n > 128)
		n = 128;
	if (n && bpf_probe_read_user(e->data, n, (void *)p))
		e->flags |= KS_EV_SAF_FAULT;
	else
		e->len = n;
	sysarg_send(ctx, e);
}

/* At entry, once c->args holds the registers: the strings and sockaddrs in. */
static __always_inline void sysargs_enter(void *ctx, struct task_ctx *c, __u32 spec)
{
	__u32 i;

	if ((i = KS_ARG_PATH1(spec)))
		send_path(ctx, c, KS_EV_SA_PATH, i);
	if ((i = KS_ARG_PATH2(spec)))
		send_path(ctx, c, KS_EV_SA_PATH2, i);
	if ((i = KS_ARG_ADDR(spec)) && arg_at(c, i)) {
		__u32 l = KS_ARG_ADDRLEN(spec);

		send_addr(ctx, c, KS_EV_SA_ADDR, arg_at(c, i), l ? (__s64)(int)arg_at(c, l) : 0);
	}
}

/* The syscall event with its numbers, then what the kernel filled in. */
static __always_inline void sysargs_exit(void *ctx, struct cpu_slot *s, struct task_ctx *c,
					 __u32 spec, __u64 ts, __u64 dur, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ks_ev_syscall_args e = {
		.sc = {
			.type = KS_EV_SYSCALL | (KS_EV_SYSF_ARGS << 16),
			.nr = c->nr,
			.ts = ts,
			.dur = dur,
			.ret = ret,
			.pid = id >> 32,
			.tid = (__u32)id,
		},
	};
	__u32 i;

	if ((i = KS_ARG_SLOT(spec, 0)))
		e.arg[0] = arg_at(c, i);
	if ((i = KS_ARG_SLOT(spec, 1)))
		e.arg[1] = arg_at(c, i);
	if ((i = KS_ARG_SLOT(spec, 2)))
		e.arg[2] = arg_at(c, i);
	batch_emit(ctx, s, &e, sizeof(e));
	if (ret < 0)
		return;
	if ((i = KS_ARG_PEER(spec)) && arg_at(c, i)) {
		__u32 l = KS_ARG_PEERLEN(spec);
		int len = 0;

		if (l && arg_at(c, l))
			bpf_probe_read_user(&len, sizeof(len), (void *)arg_at(c, l));
		send_addr(ctx, c, KS_EV_SA_PEER, arg_at(c, i), len);
	}
	if ((i = KS_ARG_FDPAIR(spec))) {
		struct ks_ev_sysarg *ev = sysarg_new(c, KS_EV_SA_FDPAIR);

		if (!ev)
			return;
		if (bpf_probe_read_user(ev->data, 8, (void *)arg_at(c, i)))
			ev->flags = KS_EV_SAF_FAULT;
		else
			ev->len = 8;
		sysarg_send(ctx, ev);
	}
}

/* The six argument registers, by kind of probe. */
#if defined(__TARGET_ARCH_arm64)
#define REGS_ARGS(c, r) do { for (int _i = 0; _i < 6; _i++) (c)->args[_i] = (r)->regs[_i]; } while (0)
#else
#define REGS_ARGS(c, r)                                                        \
	do {                                                                   \
		(c)->args[0] = (r)->di;                                        \
		(c)->args[1] = (r)->si;                                        \
		(c)->args[2] = (r)->dx;                                        \
		(c)->args[3] = (r)->r10;                                       \
		(c)->args[4] = (r)->r8;                                        \
		(c)->args[5] = (r)->r9;                                        \
	} while (0)
#endif

/* BTF tracepoint: regs is a trusted kernel pointer, read directly. */
static __always_inline void save_args_btf(void *ctx, struct task_ctx *c, __u32 spec,
					  struct pt_regs *regs)
{
	REGS_ARGS(c, regs);
	sysargs_enter(ctx, c, spec);
}

/* Raw tracepoint: one copy of the registers. */
static __always_inline void save_args_raw(void *ctx, struct task_ctx *c, __u32 spec,
					  struct pt_regs *regs)
{
	struct pt_regs r;

	if (bpf_probe_read_kernel(&r, sizeof(r), regs))
		__builtin_memset(c->args, 0, sizeof(c->args));
	else
		REGS_ARGS(c, &r);
	sysargs_enter(ctx, c, spec);
}

/* Classic tracepoint: the arguments are in the record. */
static __always_inline void save_args_tp(void *ctx, struct task_ctx *c, __u32 spec,
					 struct trace_event_raw_sys_enter *tp)
{
	c->args[0] = tp->args[0];
	c->args[1] = tp->args[1];
	c->args[2] = tp->args[2];
	c->args[3] = tp->args[3];
	c->args[4] = tp->args[4];
	c->args[5] = tp->args[5];
	sysargs_enter(ctx, c, spec);
}

#endif
