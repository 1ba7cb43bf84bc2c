// SPDX-License-Identifier: GPL-2.0
/* Block I/O probes: each request's submitter (taken when the request is started,
 * in the submitter's context), device, op, bytes, queue and service time, sent at
 * completion. Requests of traced tasks are recorded, and those kernel threads
 * submit (write-back, journal), flagged as theirs: write-back is never charged to
 * a guessed process. Each hook exists as tp_btf and raw_tp; the loader picks the
 * start hook the kernel has (block_io_start, 6.5+, else block_rq_insert). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"

#define PF_KTHREAD 0x00200000
#define REQ_OP_MASK 0xff

struct blk_start {
	__u64 start_ts;
	__u64 issue_ts; /* 0 until issued */
	__u32 pid, tid;
	__u32 flags;    /* KS_EV_BLK_* */
	__u32 _pad;
	char comm[KS_COMM_LEN];
};

/* In-flight requests by address; LRU so requests whose completion was never
 * seen (started before a reload, failed over) cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct blk_start);
} blk_reqs SEC(".maps");

static __always_inline int on_start(struct request *rq)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid(), key = (__u64)rq;
	struct blk_start v = { .start_ts = bpf_ktime_get_ns() };
	bool kthread = BPF_CORE_READ(task, flags) & PF_KTHREAD;

	if (!current_ctx() && !kthread)
		return 0;
	v.pid = id >> 32;
	v.tid = (__u32)id;
	v.flags = kthread ? KS_EV_BLK_KTHREAD : 0;
	bpf_get_current_comm(v.comm, sizeof(v.comm));
	bpf_map_update_elem(&blk_reqs, &key, &v, BPF_ANY);
	return 0;
}

static __always_inline int on_issue(struct request *rq)
{
	__u64 key = (__u64)rq;
	struct blk_start *v = bpf_map_lookup_elem(&blk_reqs, &key);

	if (v)
		v->issue_ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_complete(void *ctx, struct request *rq, int error,
				       unsigned int nr_bytes)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns(), issue;
	struct blk_start *v = bpf_map_lookup_elem(&blk_reqs, &key);
	struct gendisk *disk;
	struct ks_ev_block e = {};
	__u32 flags;

	if (!v)
		return 0;
	issue = v->issue_ts && v->issue_ts <= now ? v->issue_ts : now;
	flags = v->flags | (error ? KS_EV_BLK_ERROR : 0);
	e.type = KS_EV_BLOCK | (flags << 16);
	disk = BPF_CORE_READ(rq, q, disk);
	e.dev = ((__u32)BPF_CORE_READ(disk, major) << 20) | (__u32)BPF_CORE_READ(disk, first_minor);
	e.ts = now;
	e.queue_ns = issue > v->start_ts ? issue - v->start_ts : 0;
	e.service_ns = now - issue;
	e.sector = BPF_CORE_READ(rq, __sector);
	e.bytes = nr_bytes;
	e.op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
	e.pid = v->pid;
	e.tid = v->tid;
	__builtin_memcpy(e.comm, v->comm, sizeof(e.comm));
	/* the remaining length is still the request's: the last part ends it */
	if (nr_bytes >= BPF_CORE_READ(rq, __data_len))
		bpf_map_delete_elem(&blk_reqs, &key);
	else
		v->start_ts = v->issue_ts = now;
	output(ctx, &e, sizeof(e), KS_DROP_IO);
	return 0;
}

static __always_inline int on_done(struct request *rq)
{
	__u64 key = (__u64)rq;

	bpf_map_delete_elem(&blk_reqs, &key);
	return 0;
}

/* --- BTF tracepoints ------------------------------------------------------ */

SEC("tp_btf/block_io_start")
int BPF_PROG(ks_blk_start, struct request *rq)
{
	return on_start(rq);
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(ks_blk_insert, struct request *rq)
{
	return on_start(rq);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(ks_blk_issue, struct request *rq)
{
	return on_issue(rq);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(ks_blk_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	return on_complete(ctx, rq, error, nr_bytes);
}

SEC("tp_btf/block_io_done")
int BPF_PROG(ks_blk_done, struct request *rq)
{
	return on_done(rq);
}

/* --- raw tracepoints ------------------------------------------------------ */

SEC("raw_tp/block_io_start")
int BPF_PROG(ks_blk_start_raw, struct request *rq)
{
	return on_start(rq);
}

SEC("raw_tp/block_rq_insert")
int BPF_PROG(ks_blk_insert_raw, struct request *rq)
{
	return on_start(rq);
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(ks_blk_issue_raw, struct request *rq)
{
	return on_issue(rq);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(ks_blk_complete_raw, struct request *rq, int error, unsigned int nr_bytes)
{
	return on_complete(ctx, rq, error, nr_bytes);
}

SEC("raw_tp/block_io_done")
int BPF_PROG(ks_blk_done_raw, struct request *rq)
{
	return on_done(rq);
}
