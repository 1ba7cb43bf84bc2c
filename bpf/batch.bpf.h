/* Per-CPU batches and the in-flight cache of the syscall family
 * (bpf/syscalls.bpf.c).
 *
 * Batches (use_batch): a CPU's syscall records wait in its slot and reach the
 * ring buffer (or perf buffer) a batch at a time, one ring operation and one
 * record header per ~100 records instead of one each, and the consumer's core
 * reads them in 4 KiB runs. A batch goes out when the next record does not fit,
 * when the CPU switches tasks (so a thread's records are in order wherever it
 * runs next, and a CPU going idle holds nothing back), on a per-CPU tick of
 * KS_BATCH_TICK_HZ (ks_batch_tick: at most 1/KS_BATCH_TICK_HZ s of waiting on a
 * CPU that runs one task without switching), and at the end, when the recorder
 * runs once on every CPU (each of those is a switch). What waits in the slots is
 * at most KS_BATCH_BYTES per CPU: the events at risk if the recorder is killed,
 * beside those in the ring. A batch is also sent at exec; so all its records are
 * of one thread, named once in its header (bpf/events.h).
 *
 * In-flight cache (fast_ctx: BTF tracepoints with task storage, not --cgroup):
 * whether the running task is traced, and its syscall in flight, are kept in the
 * CPU's slot from its first syscall event after a switch to the next switch, so
 * a syscall's entry and exit cost a per-CPU array lookup each instead of a task
 * storage lookup each. The slot takes the syscall in flight from the task's
 * storage when it fills, and the switch program puts it back there.
 *
 * Only the programs of this family touch the slots: the syscall hooks, the
 * fork/exec/exit hooks and the switch program run in process context, the tick
 * in an interrupt that may land inside one of them; busy makes the tick leave a
 * slot alone while a program on its CPU is using it. */
#ifndef KSIGHT_BATCH_BPF_H
#define KSIGHT_BATCH_BPF_H

const volatile bool use_batch = false; /* syscall records in per-CPU batches */
const volatile bool fast_ctx = false;  /* the in-flight cache (see above) */

struct cpu_slot {
	__u32 len;     /* bytes of records in the batch */
	__u32 count;   /* records in the batch */
	__u32 busy;    /* a program of this CPU is using the slot */
	__u32 traced;  /* fast_ctx: whether task is traced */
	__u64 task;    /* fast_ctx: the task the cache holds (0: none) */
	struct task_ctx fly; /* fast_ctx: its syscall in flight (enter_ts, nr, args) */
	struct ks_ev_batch hdr; /* the batch as sent: this header, then data */
	__u8 data[KS_BATCH_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_slot);
} cpu_slots SEC(".maps");

static __always_inline struct cpu_slot *cpu_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_slots, &zero);
}

/* A program takes its CPU's slot for its whole run and gives it back at the
 * end. NULL when neither batches nor the cache are on, or the slot is in
 * use (then records go out on their own). */
static __always_inline struct cpu_slot *slot_take(void)
{
	struct cpu_slot *s;

	if (!use_batch && !fast_ctx)
		return NULL;
	s = cpu_slot();
	if (!s || s->busy)
		return NULL;
	s->busy = 1;
	return s;
}

static __always_inline void slot_give(struct cpu_slot *s)
{
	if (s)
		s->busy = 0;
}

/* Sends the slot's batch, if any; a failure drops its records (counted). */
static __always_inline void batch_flush(void *ctx, struct cpu_slot *s, __u32 why)
{
	__u64 len = s->len;
	long err;

	if (!len)
		return;
	asm volatile("%0 &= 0x1fff" : "+r"(len)); /* a bound the verifier sees */
	if (len > KS_BATCH_BYTES)
		len = KS_BATCH_BYTES;
	s->hdr.type = KS_EV_BATCH;
	s->hdr.cpu = bpf_get_smp_processor_id();
	s->hdr.len = len;
	s->hdr.count = s->count;
	s->hdr.why = why;
	if (use_perfbuf)
		err = bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, &s->hdr,
					    sizeof(s->hdr) + len);
	else
		err = bpf_ringbuf_output(&events, &s->hdr, sizeof(s->hdr) + len, wakeup_flag());
	if (err)
		count_drops(KS_DROP_SYSCALL, s->count);
	s->len = 0;
	s->count = 0;
}

/* Whether syscall records go through the batch of slot s (taken), as
 * struct ks_ev_syscall_b[_args]; else on their own as ks_ev_syscall[_args]. */
static __always_inline bool batching(const struct cpu_slot *s)
{
	return use_batch && s;
}

/* Appends batch record e of size bytes (a constant: struct ks_ev_syscall_b or
 * ks_ev_syscall_b_args) to the batch of slot s (taken); the first record of a
 * batch names its thread in the header. */
static __always_inline void batch_emit(void *ctx, struct cpu_slot *s, const void *e, __u32 size)
{
	__u32 off;

	if (s->len > KS_BATCH_BYTES - size)
		batch_flush(ctx, s, KS_BATCH_FULL);
	off = s->len & (KS_BATCH_BYTES - 1);
	if (off > KS_BATCH_BYTES - size) { /* not after a flush: for the verifier */
		count_drops(KS_DROP_SYSCALL, 1);
		return;
	}
	if (!off) {
		__u64 id = bpf_get_current_pid_tgid();

		s->hdr.pid = id >> 32;
		s->hdr.tid = (__u32)id;
	}
	__builtin_memcpy(s->data + off, e, size);
	s->len = off + size;
	s->count++;
}

/* At exec: the batch goes out (a thread that execs may take its process's tid). */
static __always_inline void slot_exec(void *ctx)
{
	struct cpu_slot *s = slot_take();

	if (!s)
		return;
	batch_flush(ctx, s, KS_BATCH_EXEC);
	slot_give(s);
}

/* fast_ctx: the running task's state (the slot's copy) when it is traced, else
 * NULL. s is the CPU's slot, marked busy by the caller. On the first event after
 * a switch the task's storage is looked up once (which may adopt it: -a) and its
 * syscall in flight moves into the slot. *fresh says that happened. */
static __always_inline struct task_ctx *fast_current(struct cpu_slot *s, bool *fresh)
{
	__u64 task = bpf_get_current_task();
	struct task_ctx *c;

	*fresh = false;
	if (s->task == task)
		return s->traced ? &s->fly : NULL;
	c = current_ctx();
	s->task = task;
	s->traced = c != NULL;
	if (!c)
		return NULL;
	*fresh = true;
	s->fly.enter_ts = c->enter_ts;
	s->fly.nr = c->nr;
	__builtin_memcpy(s->fly.args, c->args, sizeof(s->fly.args));
	c->enter_ts = 0; /* the slot holds it now */
	return &s->fly;
}

/* At a switch away from prev (a trusted task pointer): the syscall in flight goes
 * back to prev's storage, the cache empties and the batch goes out. */
static __always_inline void slot_switch(void *ctx, struct task_struct *prev)
{
	struct cpu_slot *s = slot_take();
	struct task_ctx *c;

	if (!s)
		return;
	if (fast_ctx && s->task) {
		if (s->traced && s->fly.enter_ts && s->task == (__u64)prev &&
		    (c = bpf_task_storage_get(&traced, prev, 0, 0))) {
			c->enter_ts = s->fly.enter_ts;
			c->nr = s->fly.nr;
			__builtin_memcpy(c->args, s->fly.args, sizeof(c->args));
		}
		s->task = 0;
	}
	batch_flush(ctx, s, KS_BATCH_SWITCH);
	slot_give(s);
}

/* The tick: the batch goes out, and a cached "not traced" is forgotten (a task
 * attached with -p while it runs is seen within a tick). */
static __always_inline void slot_tick(void *ctx)
{
	struct cpu_slot *s = slot_take();

	if (!s)
		return;
	batch_flush(ctx, s, KS_BATCH_TICK);
	if (!s->traced)
		s->task = 0;
	slot_give(s);
}

#endif
