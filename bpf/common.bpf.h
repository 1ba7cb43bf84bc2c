/* Maps and helpers every probe family shares: the traced set (task storage), the
 * one ring buffer and the per-CPU drop counters. Each skeleton declares them from
 * here; the loader makes the later skeletons reuse the first one's maps. */
#ifndef KSIGHT_COMMON_BPF_H
#define KSIGHT_COMMON_BPF_H

char LICENSE[] SEC("license") = "GPL";

#if defined(__TARGET_ARCH_arm64)
#define NR_EXIT 93
#define NR_EXIT_GROUP 94
#else
#define NR_EXIT 60
#define NR_EXIT_GROUP 231
#endif

/* Set by the loader before load. */
const volatile __u32 self_tgid = 0;     /* the recorder itself: never traced */
const volatile bool trace_all = false;  /* -a: every task */
const volatile __u64 wakeup_bytes = 1 << 20; /* wake the consumer past this backlog */

struct task_ctx {
	__u64 enter_ts; /* 0 when no syscall is in flight */
	__u32 nr;
	__u32 faults;   /* user page faults so far */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* resized by the loader (--buffer-size) */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KS_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 idx)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &idx);

	if (n)
		*n += 1;
}

/* Batched wake-ups: the consumer polls on a timer and is woken early only when
 * the backlog grows past wakeup_bytes. */
static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline struct task_ctx *traced_ctx(struct task_struct *task)
{
	struct task_ctx *c = bpf_task_storage_get(&traced, task, 0, 0);

	if (!c && trace_all && (bpf_get_current_pid_tgid() >> 32) != self_tgid)
		c = bpf_task_storage_get(&traced, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return c;
}

#endif
