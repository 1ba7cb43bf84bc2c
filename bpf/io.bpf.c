// SPDX-License-Identifier: GPL-2.0
/* Block I/O and network probes, one object so the recorder loads (and parses
 * the kernel's BTF for) one more skeleton, not two. Each hook exists as tp_btf
 * and raw_tp; the loader enables those the kernel has.
 *
 * Block: each request's submitter (taken when the request is started, in the
 * submitter's context), device, op, bytes, queue and service time, sent at
 * completion. Requests of traced tasks are recorded, and those kernel threads
 * submit (write-back, journal), flagged as theirs: write-back is never charged to
 * a guessed process. The start hook is block_io_start (6.5+), else
 * block_rq_insert.
 *
 * Network: bytes each send and receive moved on an IPv4/IPv6 TCP or UDP socket
 * (sock_send_length, sock_recv_length: 6.3+), TCP state changes (connection
 * life times) and retransmits. State changes and retransmits often run in
 * softirq context, in whatever task was interrupted: the socket's owner is the
 * task last seen connecting, sending or receiving on it, kept in sk_owner. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"

/* ===== block I/O ======================================================== */

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

/* In-flight requests by address. Not an LRU map: one may evict a live entry
 * before it is full, and a request would then go missing unsaid. Every started
 * request ends in block_io_done (or its last completed part), which frees its
 * entry; a start that finds the map full is a counted loss. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
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
	if (bpf_map_update_elem(&blk_reqs, &key, &v, BPF_ANY))
		count_drop(KS_DROP_IO);
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

/* --- block: BTF tracepoints ---------------------------------------------- */

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

/* --- block: raw tracepoints ---------------------------------------------- */

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

/* ===== network ========================================================== */

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

struct sk_owner {
	__u32 pid, tid;
	char comm[KS_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sk_owner);
} sk_owner SEC(".maps");

/* Accepted connections established in softirq before any task owned them: when
 * they were established, for the owner's first event. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} sk_born SEC(".maps");

/* A per-CPU scratch record: the event is larger than is comfortable on the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ks_ev_net);
} net_scratch SEC(".maps");

/* A field of sk: a plain load where the program has BTF pointers (tp_btf), a
 * probe read otherwise. btf is a constant at each inlined use, so only one form
 * is compiled into each program. */
#define SK_READ(btf, sk, ...) ((btf) ? (sk)->__VA_ARGS__ : BPF_CORE_READ(sk, __VA_ARGS__))

/* Fills e with sk's protocol and endpoints; false when sk is not IPv4/IPv6
 * TCP or UDP. */
static __always_inline bool fill_sock(struct ks_ev_net *e, const struct sock *sk, bool btf)
{
	__u16 family = SK_READ(btf, sk, __sk_common.skc_family);
	__u16 proto = SK_READ(btf, sk, sk_protocol);

	if ((family != AF_INET && family != AF_INET6) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return false;
	e->family = family;
	e->proto = proto;
	e->state = SK_READ(btf, sk, __sk_common.skc_state);
	e->sport = SK_READ(btf, sk, __sk_common.skc_num);
	e->dport = __builtin_bswap16(SK_READ(btf, sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 s = SK_READ(btf, sk, __sk_common.skc_rcv_saddr);
		__u32 d = SK_READ(btf, sk, __sk_common.skc_daddr);

		__builtin_memset(e->saddr, 0, sizeof(e->saddr));
		__builtin_memset(e->daddr, 0, sizeof(e->daddr));
		__builtin_memcpy(e->saddr, &s, 4);
		__builtin_memcpy(e->daddr, &d, 4);
	} else if (btf) {
		__builtin_memcpy(e->saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(e->daddr, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	return true;
}

static __always_inline struct ks_ev_net *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&net_scratch, &zero);
}

static __always_inline void emit(void *ctx, struct ks_ev_net *e, __u32 what, __u64 ts)
{
	e->type = KS_EV_NET | (what << 16);
	e->ts = ts;
	output(ctx, e, sizeof(*e), KS_DROP_IO);
}

/* The running task, a traced one, owns sk from now on. */
static __always_inline void own(struct ks_ev_net *e, __u64 key)
{
	struct sk_owner o = { .pid = e->pid, .tid = e->tid };
	struct sk_owner *cur = bpf_map_lookup_elem(&sk_owner, &key);

	if (cur && cur->tid == o.tid)
		return;
	__builtin_memcpy(o.comm, e->comm, sizeof(o.comm));
	bpf_map_update_elem(&sk_owner, &key, &o, BPF_ANY);
}

static __always_inline int on_length(void *ctx, struct sock *sk, int ret, int flags, __u32 what,
				     bool btf)
{
	__u64 id, key = (__u64)sk, *born;
	struct ks_ev_net *e;

	if (ret <= 0 || (what == KS_EV_NET_RECV && (flags & MSG_PEEK)) || !current_ctx())
		return 0;
	e = scratch();
	if (!e || !fill_sock(e, sk, btf))
		return 0;
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->sk = key;
	e->oldstate = 0;
	born = bpf_map_lookup_elem(&sk_born, &key);
	if (born) {
		/* an accepted connection: its start, now that its owner is known */
		__u8 state = e->state;

		e->bytes = 0;
		e->state = TCP_ESTABLISHED;
		e->oldstate = TCP_SYN_RECV;
		emit(ctx, e, KS_EV_NET_STATE, *born);
		bpf_map_delete_elem(&sk_born, &key);
		e->state = state;
		e->oldstate = 0;
	}
	own(e, key);
	e->bytes = ret;
	emit(ctx, e, what, bpf_ktime_get_ns());
	return 0;
}

static __always_inline int on_state(void *ctx, const struct sock *sk, int oldstate, int newstate,
				    bool btf)
{
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns(), id;
	struct sk_owner *o;
	struct ks_ev_net *e;

	if (newstate == TCP_LISTEN || oldstate == TCP_LISTEN)
		return 0;
	/* most state changes on a busy machine are other tasks' sockets: decide
	 * from the owner map before reading the socket */
	o = bpf_map_lookup_elem(&sk_owner, &key);
	if (!o && !(newstate == TCP_SYN_SENT && current_ctx())) {
		if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV &&
		    SK_READ(btf, sk, sk_protocol) == IPPROTO_TCP)
			bpf_map_update_elem(&sk_born, &key, &now, BPF_ANY);
		else if (newstate == TCP_CLOSE)
			bpf_map_delete_elem(&sk_born, &key);
		return 0;
	}
	e = scratch();
	if (!e || !fill_sock(e, sk, btf) || e->proto != IPPROTO_TCP)
		return 0;
	e->sk = key;
	e->bytes = 0;
	e->state = newstate;
	e->oldstate = oldstate;
	if (o) {
		e->pid = o->pid;
		e->tid = o->tid;
		__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	} else {
		/* connect(2): the caller's context */
		id = bpf_get_current_pid_tgid();
		e->pid = id >> 32;
		e->tid = (__u32)id;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		own(e, key);
	}
	emit(ctx, e, KS_EV_NET_STATE, now);
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&sk_owner, &key);
	return 0;
}

static __always_inline int on_retransmit(void *ctx, const struct sock *sk, bool btf)
{
	__u64 key = (__u64)sk;
	struct sk_owner *o = bpf_map_lookup_elem(&sk_owner, &key);
	struct ks_ev_net *e;

	if (!o)
		return 0;
	e = scratch();
	if (!e || !fill_sock(e, sk, btf))
		return 0;
	e->sk = key;
	e->bytes = 0;
	e->oldstate = 0;
	e->pid = o->pid;
	e->tid = o->tid;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
	emit(ctx, e, KS_EV_NET_RETRANS, bpf_ktime_get_ns());
	return 0;
}

/* --- network: BTF tracepoints -------------------------------------------- */

SEC("tp_btf/sock_send_length")
int BPF_PROG(ks_net_send, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, KS_EV_NET_SEND, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(ks_net_recv, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, KS_EV_NET_RECV, true);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(ks_net_state, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(ctx, sk, oldstate, newstate, true);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(ks_net_retrans, const struct sock *sk)
{
	return on_retransmit(ctx, sk, true);
}

/* --- network: raw tracepoints -------------------------------------------- */

SEC("raw_tp/sock_send_length")
int BPF_PROG(ks_net_send_raw, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, KS_EV_NET_SEND, false);
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(ks_net_recv_raw, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, KS_EV_NET_RECV, false);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(ks_net_state_raw, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(ctx, sk, oldstate, newstate, false);
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(ks_net_retrans_raw, const struct sock *sk)
{
	return on_retransmit(ctx, sk, false);
}
