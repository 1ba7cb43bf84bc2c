// SPDX-License-Identifier: GPL-2.0
/* On-CPU samples of the traced tasks: a perf_event program the recorder attaches
 * on every CPU (hardware cycles, or the software cpu-clock where there is no
 * PMU). Each sample carries its kernel and user stacks inline; the recorder turns
 * them into module + offset frames and deduplicates them into the stack table. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"

#define STACK_BYTES (KS_STACK_DEPTH * sizeof(__u64))
#define BUILD_ID_BYTES (KS_STACK_DEPTH * sizeof(struct bpf_stack_build_id))

/* User frames as build-id + offset (the kernel's BPF_F_USER_BUILD_ID), which
 * stay resolvable when the process is gone before the recorder reads its maps;
 * they cost the kernel a look at each frame's file, so they are taken only for
 * address spaces whose maps the recorder has not read yet: it puts the ones it
 * has into maps_known (tgid -> mm). */
const volatile bool user_build_id = true;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);   /* tgid */
	__type(value, __u64); /* its mm whose maps the recorder holds */
} maps_known SEC(".maps");

struct sample_buf {
	struct ks_ev_sample e;
	__u64 ips[KS_STACK_DEPTH];
	struct bpf_stack_build_id user[KS_STACK_DEPTH]; /* from &ips[nk] on */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sample_buf);
} sample_scratch SEC(".maps");

SEC("perf_event")
int ks_profile(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sample_buf *b;
	__u32 zero = 0, flags = 0, tgid = id >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 mm = (__u64)BPF_CORE_READ(task, mm), *known;
	bool bid;
	long kn, un;
	__u64 size;

	if (!(__u32)id || !current_ctx())
		return 0;
	b = bpf_map_lookup_elem(&sample_scratch, &zero);
	if (!b)
		return 0;
	kn = bpf_get_stack(ctx, b->ips, STACK_BYTES, 0);
	if (kn < 0) {
		kn = 0;
		flags |= KS_EVS_KMISSING;
	}
	kn /= sizeof(__u64);
	if (kn > KS_STACK_DEPTH)
		kn = KS_STACK_DEPTH;
	if (kn == KS_STACK_DEPTH)
		flags |= KS_EVS_KTRUNC;
	known = bpf_map_lookup_elem(&maps_known, &tgid);
	bid = user_build_id && !(known && *known == mm);
	if (bid) {
		un = bpf_get_stack(ctx, &b->ips[kn], BUILD_ID_BYTES,
				   BPF_F_USER_STACK | BPF_F_USER_BUILD_ID);
		flags |= KS_EVS_BUILD_ID;
	} else {
		un = bpf_get_stack(ctx, &b->ips[kn], STACK_BYTES, BPF_F_USER_STACK);
	}
	if (un <= 0) {
		un = 0;
		flags |= KS_EVS_UMISSING;
	}
	un /= bid ? sizeof(struct bpf_stack_build_id) : sizeof(__u64);
	if (un > KS_STACK_DEPTH)
		un = KS_STACK_DEPTH;
	if (un == KS_STACK_DEPTH)
		flags |= KS_EVS_UTRUNC;
	if (!kn)
		flags |= KS_EVS_USER;
	b->e.type = KS_EV_SAMPLE | (flags << 16);
	b->e.cpu = bpf_get_smp_processor_id();
	b->e.ts = bpf_ktime_get_ns();
	b->e.pid = id >> 32;
	b->e.tid = (__u32)id;
	b->e.nk = kn;
	b->e.nu = un;
	b->e._pad = 0;
	b->e.mm = mm;
	size = sizeof(b->e) + kn * sizeof(__u64) +
	       un * (bid ? sizeof(struct bpf_stack_build_id) : sizeof(__u64));
	if (size > sizeof(*b))
		return 0;
	output(ctx, b, size, KS_DROP_SAMPLE);
	return 0;
}
