/* Maps and helpers every probe family shares: the traced set, the event
 * transport and the per-CPU drop counters. Each skeleton declares them from here;
 * the loader (record/loader.c) makes later skeletons reuse the first one's maps
 * and sets the knobs below in each one's rodata by name.
 *
 * Fallbacks, chosen by the loader through rodata (dead branches are pruned by the
 * verifier, so the fast path pays nothing for them):
 *  - the traced set lives in task storage, or in a tid-keyed hash map (use_hash)
 *    where task storage or BTF task pointers are missing;
 *  - what joins it: the command's tree (seeded by the recorder, inherited at
 *    fork), every task (trace_all), or every task whose cgroup v2 is one of the
 *    cg_ids or below it (trace_cgroup: tested at each event, so tasks that move
 *    in are adopted and tasks that move out are dropped);
 *  - events go through the ring buffer, or a perf buffer (use_perfbuf). */
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
const volatile bool trace_all = false;  /* -a: every task but the recorder's */
const volatile bool trace_cgroup = false; /* --cgroup: tasks in cg_ids or below */
const volatile __u32 cg_count = 0;      /* cg_ids and cg_levels used */
const volatile __u64 cg_ids[KS_CGROUP_MAX] = {};   /* target cgroup ids (kernfs ino) */
const volatile __u32 cg_levels[KS_CGROUP_MAX] = {}; /* their depth below the v2 root */
const volatile bool use_hash = false;   /* traced set in traced_tids, not task storage */
const volatile bool use_perfbuf = false; /* perf buffer instead of the ring buffer */
const volatile __u64 wakeup_bytes = 1 << 20; /* wake the consumer past this backlog */

struct task_ctx {
	__u64 enter_ts; /* 0 when no syscall is in flight */
	__u32 nr;
	__u32 faults;   /* user page faults so far */
	__u32 tgid;     /* hash mode: 0 until the new task's fork is announced */
	__u32 ppid;     /* hash mode: the parent process, for that announcement */
	__u64 args[6];  /* the syscall in flight's arguments, when it records them */
	__u32 joined;   /* 1: adopted (-a, --cgroup) and not announced yet */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct task_ctx);
} traced_tids SEC(".maps");

/* -a, --cgroup: processes never adopted (tgid -> 1): the recorder's children
 * (the --injector-cmd hooks) and their descendants, marked at fork. */
struct {
	/* LRU: a dead hook's entry stays until its pid is reused (an exiting task
	 * still switches out and may be sampled after its exit event), and the oldest
	 * go first should hooks outnumber the entries */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} ignored SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* resized by the loader (--buffer-size) */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KS_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drops(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &idx);

	if (v)
		*v += n;
}

static __always_inline void count_drop(__u32 idx)
{
	count_drops(idx, 1);
}

/* Batched wake-ups: the consumer polls on a timer and is woken early only when
 * the backlog grows past wakeup_bytes. */
static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Sends the event e (on the stack) to userspace; a failure is a counted drop. */
static __always_inline void output(void *ctx, void *e, __u32 size, __u32 drop_idx)
{
	long err;

	if (use_perfbuf)
		err = bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, e, size);
	else
		err = bpf_ringbuf_output(&events, e, size, wakeup_flag());
	if (err)
		count_drop(drop_idx);
}

/* -a, --cgroup: a task seen for the first time joins the traced set. */
static __always_inline struct task_ctx *adopt_current(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_ctx v = { .tgid = id >> 32, .joined = 1 };
	__u32 tid = (__u32)id, tgid = id >> 32;

	if (tgid == self_tgid || bpf_map_lookup_elem(&ignored, &tgid))
		return NULL;
	if (!use_hash)
		return bpf_task_storage_get(&traced, bpf_get_current_task_btf(), &v,
					    BPF_LOCAL_STORAGE_GET_F_CREATE);
	bpf_map_update_elem(&traced_tids, &tid, &v, BPF_NOEXIST);
	return bpf_map_lookup_elem(&traced_tids, &tid);
}

/* --cgroup: whether the running task's cgroup v2 is a target or below one. The
 * id of its ancestor at a target's level is that target's id exactly then. */
static __always_inline bool in_target_cgroups(void)
{
	for (__u32 i = 0; i < KS_CGROUP_MAX; i++) {
		if (i >= cg_count)
			break;
		if (bpf_get_current_ancestor_cgroup_id(cg_levels[i]) == cg_ids[i])
			return true;
	}
	return false;
}

/* --cgroup: the running task leaves the traced set (it moved out). */
static __always_inline void forget_current(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (use_hash)
		bpf_map_delete_elem(&traced_tids, &tid);
	else
		bpf_task_storage_delete(&traced, bpf_get_current_task_btf());
}

/* -a, --cgroup: a new process whose parent is the recorder or one of its hooks
 * is never adopted. */
static __always_inline void ignore_child(__u32 parent_tgid, __u32 child_tgid)
{
	__u32 one = 1;

	if (!(trace_all || trace_cgroup) || parent_tgid == child_tgid)
		return;
	if (parent_tgid == self_tgid || bpf_map_lookup_elem(&ignored, &parent_tgid))
		bpf_map_update_elem(&ignored, &child_tgid, &one, BPF_ANY);
	else /* a pid a dead hook had, reused by a process to trace */
		bpf_map_delete_elem(&ignored, &child_tgid);
}

/* The running task's state when it is traced, else NULL. */
static __always_inline struct task_ctx *current_ctx(void)
{
	struct task_ctx *c;

	if (use_hash) {
		__u32 tid = (__u32)bpf_get_current_pid_tgid();

		c = bpf_map_lookup_elem(&traced_tids, &tid);
	} else {
		c = bpf_task_storage_get(&traced, bpf_get_current_task_btf(), 0, 0);
	}
	if (trace_cgroup) {
		if (!in_target_cgroups()) {
			if (c)
				forget_current();
			return NULL;
		}
		return c ?: adopt_current();
	}
	if (!c && trace_all)
		c = adopt_current();
	return c;
}

/* Hash mode: another task's state by tid. */
static __always_inline struct task_ctx *tid_ctx(__u32 tid)
{
	return bpf_map_lookup_elem(&traced_tids, &tid);
}

#endif
