/* `ksight export --format perfetto`: the trace as Perfetto TrackEvent packets
 * and PerfSamples, encoded by the protoc-c code generated from
 * replay/perfetto_trace.proto. One packet sequence on CLOCK_MONOTONIC (a clock
 * snapshot first); event and annotation names and sample stacks interned;
 * tracks declared just before their first event; every track's time kept
 * non-decreasing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "perfetto_trace.pb-c.h"
#include "replay/export.h"
#include "replay/perfetto_stacks.h"
#include "replay/sysfmt.h"
#include "replay/thread_names.h"
#include "util/grow.h"
#include "util/hmap.h"

#define SEQ_ID 0x6b73 /* "ks" */
#define SEQ_CLEARED 1
#define SEQ_NEEDS_STATE 2

typedef Perfetto__Protos__TracePacket Packet;
typedef Perfetto__Protos__TrackEvent Event;
typedef Perfetto__Protos__TrackDescriptor Track;
typedef Perfetto__Protos__DebugAnnotation Annot;

/* Track uuids: the kind in the top byte, then pid and tid. */
enum { TK_PROC = 1, TK_THREAD, TK_STATE, TK_CPU, TK_RSS, TK_FILE_R, TK_FILE_W, TK_BLOCK,
       TK_NET_TX, TK_NET_RX };

static uint64_t uuid_of(unsigned kind, uint32_t pid, uint32_t tid)
{
	return (uint64_t)kind << 56 | (uint64_t)(pid & 0xfffffff) << 28 | (tid & 0xfffffff);
}

/* Interned names: syscalls by nr + 1; the others past NAME_BASE. */
#define NAME_BASE (1u << 20)
enum { N_RUNNING, N_RUNNABLE, N_BLOCKED, N_FORK, N_EXEC, N_EXIT, N_COUNT };
static const char *const fixed_names[N_COUNT] = { "running", "runnable", "blocked",
						   "fork", "exec", "exit" };
enum { A_RET = 1, A_ERRNO, A_CALL, A_PPID, A_TID, A_ARGV, A_EXIT, A_COMM, A_COUNT };
static const char *const annot_names[A_COUNT] = { NULL, "ret", "errno", "call", "ppid",
						  "tid", "argv", "exit_code", "comm" };
enum { C_SYSCALL = 1, C_SCHED, C_PROC, C_COUNT };
static const char *const cat_names[C_COUNT] = { NULL, "syscall", "sched", "proc" };

enum { ST_NONE, ST_RUNNING, ST_RUNNABLE, ST_BLOCKED };

struct pf_thread {
	uint32_t pid, tid;
	uint64_t last;        /* thread track: last timestamp */
	uint64_t state_last;  /* state track: last timestamp */
	uint8_t state;        /* ST_* open on the state track */
	bool has_state_track;
};

struct pf_sample {
	uint32_t pid;
	uint64_t ts, io;
};

struct pf {
	const struct report *r;
	FILE *f;
	struct export_stats *st;
	uint8_t *buf;
	size_t cap;
	uint64_t lo, hi; /* the window, CLOCK_MONOTONIC, inclusive */
	struct ks_hmap tracks; /* uuid of a declared process/counter track -> last ts */
	struct pf_thread *thr;
	size_t nthr, capthr;
	struct ks_hmap thrmap; /* pid << 32 | tid -> index in thr */
	uint8_t *name_sent;    /* per syscall nr: its name was interned */
	size_t nname;
	bool fixed_sent[N_COUNT];
	struct pf_sample *smp;
	size_t nsmp, capsmp;
	struct ks_hmap smpmap; /* pid -> index in smp */
	struct pf_stacks *stk; /* CPU samples' stacks, interned */
	struct thread_names names; /* each thread's latest comm */
	char line[4096];
};

static bool selected_pid(const struct pf *p, uint32_t pid)
{
	return !p->r->a.o.has_pid || pid == p->r->a.o.pid;
}

static bool selected_ts(const struct pf *p, uint64_t ts)
{
	return ts >= p->lo && ts <= p->hi;
}

static int put_varint(uint8_t *b, uint64_t v)
{
	int n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	return n;
}

/* Writes pk as one Trace.packet (field 1, length-delimited). */
static int put_packet(struct pf *p, Packet *pk)
{
	size_t n, h;

	pk->has_trusted_packet_sequence_id = 1;
	pk->trusted_packet_sequence_id = SEQ_ID;
	if (pk->has_timestamp) {
		pk->has_timestamp_clock_id = 1;
		pk->timestamp_clock_id = PERFETTO__PROTOS__BUILTIN_CLOCK__BUILTIN_CLOCK_MONOTONIC;
	}
	n = perfetto__protos__trace_packet__get_packed_size(pk);
	if (n + 11 > p->cap && ks_grow((void **)&p->buf, &p->cap, n + 11, 1))
		return -ENOMEM;
	p->buf[0] = 0x0a;
	h = 1 + (size_t)put_varint(p->buf + 1, n);
	perfetto__protos__trace_packet__pack(pk, p->buf + h);
	if (fwrite(p->buf, 1, h + n, p->f) != h + n)
		return -EIO;
	p->st->rows++;
	return 0;
}

/* The first packet: clears the sequence's state and interns the annotation
 * names and categories every later event refers to. */
static int put_preamble(struct pf *p)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	Perfetto__Protos__InternedData in = PERFETTO__PROTOS__INTERNED_DATA__INIT;
	Perfetto__Protos__DebugAnnotationName an[A_COUNT], *anp[A_COUNT];
	Perfetto__Protos__EventCategory cat[C_COUNT], *catp[C_COUNT];

	for (unsigned i = 1; i < A_COUNT; i++) {
		perfetto__protos__debug_annotation_name__init(&an[i]);
		an[i].has_iid = 1;
		an[i].iid = i;
		an[i].name = (char *)annot_names[i];
		anp[i - 1] = &an[i];
	}
	for (unsigned i = 1; i < C_COUNT; i++) {
		perfetto__protos__event_category__init(&cat[i]);
		cat[i].has_iid = 1;
		cat[i].iid = i;
		cat[i].name = (char *)cat_names[i];
		catp[i - 1] = &cat[i];
	}
	in.n_debug_annotation_names = A_COUNT - 1;
	in.debug_annotation_names = anp;
	in.n_event_categories = C_COUNT - 1;
	in.event_categories = catp;
	pk.interned_data = &in;
	pk.has_sequence_flags = 1;
	pk.sequence_flags = SEQ_CLEARED;
	return put_packet(p, &pk);
}

/* The trace's clock, CLOCK_MONOTONIC, made the trace's primary clock so that no
 * timestamp is converted, with the wall clock and the boot clock (what perf and
 * the kernel's ftrace use) at the start when the trace has their offsets. */
static int put_clocks(struct pf *p)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	Perfetto__Protos__ClockSnapshot cs = PERFETTO__PROTOS__CLOCK_SNAPSHOT__INIT;
	Perfetto__Protos__ClockSnapshot__Clock c[3], *cp[3];
	const struct replay_meta *m = &p->r->t->meta;
	uint64_t t0 = p->r->start_ns ? p->r->start_ns : p->lo;
	size_t n = 0;

	for (size_t i = 0; i < 3; i++) {
		perfetto__protos__clock_snapshot__clock__init(&c[i]);
		c[i].has_clock_id = c[i].has_timestamp = 1;
		cp[i] = &c[i];
	}
	c[n].clock_id = PERFETTO__PROTOS__BUILTIN_CLOCK__BUILTIN_CLOCK_MONOTONIC;
	c[n++].timestamp = t0;
	if (m->have & RM_MONO && (int64_t)t0 + m->mono_to_realtime_ns > 0) {
		c[n].clock_id = PERFETTO__PROTOS__BUILTIN_CLOCK__BUILTIN_CLOCK_REALTIME;
		c[n++].timestamp = (uint64_t)((int64_t)t0 + m->mono_to_realtime_ns);
	}
	if (m->have & RM_BOOT && m->mono_to_boottime_ns >= 0) {
		c[n].clock_id = PERFETTO__PROTOS__BUILTIN_CLOCK__BUILTIN_CLOCK_BOOTTIME;
		c[n++].timestamp = t0 + (uint64_t)m->mono_to_boottime_ns;
	}
	cs.n_clocks = n;
	cs.clocks = cp;
	cs.has_primary_trace_clock = 1;
	cs.primary_trace_clock = PERFETTO__PROTOS__BUILTIN_CLOCK__BUILTIN_CLOCK_MONOTONIC;
	pk.clock_snapshot = &cs;
	return put_packet(p, &pk);
}

static int put_track(struct pf *p, Track *td)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;

	pk.track_descriptor = td;
	p->st->tracks++;
	return put_packet(p, &pk);
}

/* Splits a NUL-separated argv into at most 64 strings (pointers into a). */
static size_t split_argv(char *a, size_t len, char **v, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		size_t l = strnlen(a + i, len - i);

		if (i + l >= len)
			break; /* the last piece is not terminated: the copy is */
		v[n++] = a + i;
		i += l + 1;
	}
	return n;
}

/* Declares pid's process track once. Returns 0 or an error. */
static int declare_process(struct pf *p, uint32_t pid)
{
	uint64_t uuid = uuid_of(TK_PROC, pid, 0);
	Track td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	Perfetto__Protos__ProcessDescriptor pd = PERFETTO__PROTOS__PROCESS_DESCRIPTOR__INIT;
	const struct replay_proc *rp = replay_procs_find(&p->r->a.procs, pid);
	char argv[KS_ARGV_MAX + 1], *args[64], name[32];
	bool added;

	if (!ks_hmap_upsert(&p->tracks, uuid, 0, &added))
		return -ENOMEM;
	if (!added)
		return 0;
	td.has_uuid = 1;
	td.uuid = uuid;
	pd.has_pid = 1;
	pd.pid = (int32_t)pid;
	snprintf(name, sizeof(name), "pid %u", pid);
	pd.process_name = rp && rp->comm[0] ? (char *)rp->comm : name;
	if (rp) {
		size_t alen = rp->argv_len < KS_ARGV_MAX ? rp->argv_len : KS_ARGV_MAX;

		while (alen && !rp->argv[alen - 1])
			alen--;
		memcpy(argv, rp->argv, alen);
		argv[alen] = 0;
		pd.n_cmdline = alen ? split_argv(argv, alen + 1, args, 64) : 0;
		pd.cmdline = args;
	}
	td.process = &pd;
	return put_track(p, &td);
}

/* The name of a thread track: the thread's own latest comm, else its process's
 * name at ts, else the process's latest name, else the tid. */
static const char *thread_name(const struct pf *p, uint32_t pid, uint32_t tid, uint64_t ts,
			       char buf[32])
{
	const char *n = thread_names_get(&p->names, pid, tid);
	const struct replay_proc *rp;

	if (n)
		return n;
	n = replay_procs_comm_at(&p->r->a.procs, pid, ts);
	if (strcmp(n, "?"))
		return n;
	rp = replay_procs_find(&p->r->a.procs, pid);
	if (rp && rp->comm[0])
		return rp->comm;
	snprintf(buf, 32, "tid %u", tid);
	return buf;
}

/* The thread entry of (pid, tid), its track declared on first use; NULL on
 * ENOMEM (or *err set by the write). */
static struct pf_thread *thread_get(struct pf *p, uint32_t pid, uint32_t tid, uint64_t ts,
				    int *err)
{
	uint64_t key = (uint64_t)pid << 32 | tid;
	Track td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	Perfetto__Protos__ThreadDescriptor thd = PERFETTO__PROTOS__THREAD_DESCRIPTOR__INIT;
	char name[32];
	uint64_t *v;
	bool added;

	v = ks_hmap_upsert(&p->thrmap, key, p->nthr, &added);
	if (!v) {
		*err = -ENOMEM;
		return NULL;
	}
	if (!added)
		return &p->thr[*v];
	if (KS_GROW(&p->thr, &p->capthr, p->nthr + 1)) {
		ks_hmap_del(&p->thrmap, key);
		*err = -ENOMEM;
		return NULL;
	}
	p->thr[p->nthr] = (struct pf_thread){ .pid = pid, .tid = tid };
	*err = declare_process(p, pid);
	if (*err)
		return NULL;
	td.has_uuid = 1;
	td.uuid = uuid_of(TK_THREAD, pid, tid);
	td.has_parent_uuid = 1;
	td.parent_uuid = uuid_of(TK_PROC, pid, 0);
	thd.has_pid = thd.has_tid = 1;
	thd.pid = (int32_t)pid;
	thd.tid = (int32_t)tid;
	thd.thread_name = (char *)thread_name(p, pid, tid, ts, name);
	td.thread = &thd;
	*err = put_track(p, &td);
	if (*err)
		return NULL;
	return &p->thr[p->nthr++];
}

/* One TrackEvent packet; name is an interned iid (non-zero) or a string. */
struct ev {
	uint64_t ts, track;
	int type;
	uint64_t name_iid;
	const char *name;
	uint64_t cat;
	Annot **annot;
	size_t nannot;
};

static int put_event(struct pf *p, const struct ev *e)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	Event te = PERFETTO__PROTOS__TRACK_EVENT__INIT;
	Perfetto__Protos__InternedData in = PERFETTO__PROTOS__INTERNED_DATA__INIT;
	Perfetto__Protos__EventName en = PERFETTO__PROTOS__EVENT_NAME__INIT, *enp = &en;
	uint64_t cat = e->cat;

	pk.has_timestamp = 1;
	pk.timestamp = e->ts;
	pk.has_sequence_flags = 1;
	pk.sequence_flags = SEQ_NEEDS_STATE;
	te.has_type = 1;
	te.type = e->type;
	te.has_track_uuid = 1;
	te.track_uuid = e->track;
	if (cat) {
		te.n_category_iids = 1;
		te.category_iids = &cat;
	}
	if (e->name_iid) {
		te.has_name_iid = 1;
		te.name_iid = e->name_iid;
		/* Interned in the packet of its first use. */
		bool *sent = NULL;

		if (e->name_iid >= NAME_BASE)
			sent = &p->fixed_sent[e->name_iid - NAME_BASE];
		if (sent ? !*sent : !p->name_sent[e->name_iid - 1]) {
			en.has_iid = 1;
			en.iid = e->name_iid;
			en.name = (char *)e->name;
			in.n_event_names = 1;
			in.event_names = &enp;
			pk.interned_data = &in;
			if (sent)
				*sent = true;
			else
				p->name_sent[e->name_iid - 1] = 1;
		}
	} else if (e->name) {
		te.name = (char *)e->name;
	}
	te.n_debug_annotations = e->nannot;
	te.debug_annotations = e->annot;
	pk.track_event = &te;
	return put_packet(p, &pk);
}

static void annot_int(Annot *a, unsigned name, int64_t v)
{
	perfetto__protos__debug_annotation__init(a);
	a->has_name_iid = 1;
	a->name_iid = name;
	a->has_int_value = 1;
	a->int_value = v;
}

static void annot_str(Annot *a, unsigned name, const char *s)
{
	perfetto__protos__debug_annotation__init(a);
	a->has_name_iid = 1;
	a->name_iid = name;
	a->string_value = (char *)s;
}

/* Syscalls: a slice each on its thread's track. */
static int syscall_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct pf *p = ctx;
	const struct ks_syscall *v = rows;
	char nb[KS_SYSCALL_NAME_MAX];
	int err = 0;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count && !err; i++) {
		const struct ks_syscall *s = &v[i];
		struct pf_thread *th;
		Annot a[3], *ap[3];
		size_t na = 0;
		struct ev e = { .type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN,
				.cat = C_SYSCALL };
		uint64_t end;
		const char *en;

		if (!selected_pid(p, s->pid) || !selected_ts(p, s->ts))
			continue;
		th = thread_get(p, s->pid, s->tid, s->ts, &err);
		if (!th)
			break;
		e.track = uuid_of(TK_THREAD, s->pid, s->tid);
		e.ts = s->ts > th->last ? s->ts : th->last;
		end = s->ts + s->dur > e.ts ? s->ts + s->dur : e.ts;
		e.name = ks_syscall_name(s->nr, nb);
		if (s->nr < p->nname)
			e.name_iid = s->nr + 1;
		if (!(s->flags & KS_SYSF_NORET)) {
			annot_int(&a[na], A_RET, s->ret);
			ap[na] = &a[na];
			na++;
			if (s->ret < 0 && s->ret >= -4095 && (en = strerrorname_np((int)-s->ret))) {
				annot_str(&a[na], A_ERRNO, en);
				ap[na] = &a[na];
				na++;
			}
		}
		if (s->flags & KS_SYSF_ARGS) {
			sysfmt_call(p->line, sizeof(p->line), s,
				    p->r->files.have_args ? &p->r->files.ix : NULL);
			annot_str(&a[na], A_CALL, p->line);
			ap[na] = &a[na];
			na++;
		}
		e.annot = ap;
		e.nannot = na;
		err = put_event(p, &e);
		e.type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END;
		e.ts = end;
		e.name_iid = 0;
		e.name = NULL;
		e.nannot = 0;
		err = err ?: put_event(p, &e);
		th->last = end;
		p->st->slices++;
		p->st->syscalls++;
	}
	return err;
}

/* Moves th's state track to state at ts: ends the open slice, begins the next. */
static int state_to(struct pf *p, struct pf_thread *th, uint64_t ts, uint8_t state)
{
	Track td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	struct ev e = { .track = uuid_of(TK_STATE, th->pid, th->tid), .cat = C_SCHED };
	int err = 0;

	if (th->state == state)
		return 0;
	if (!th->has_state_track) {
		td.has_uuid = 1;
		td.uuid = e.track;
		td.has_parent_uuid = 1;
		td.parent_uuid = uuid_of(TK_THREAD, th->pid, th->tid);
		td.name = "state";
		err = put_track(p, &td);
		if (err)
			return err;
		th->has_state_track = true;
	}
	e.ts = ts > th->state_last ? ts : th->state_last;
	th->state_last = e.ts;
	if (th->state != ST_NONE) {
		e.type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END;
		err = put_event(p, &e);
		p->st->slices++;
	}
	th->state = state;
	if (err || state == ST_NONE)
		return err;
	e.type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN;
	e.name_iid = NAME_BASE + (state == ST_RUNNING ? N_RUNNING :
				  state == ST_RUNNABLE ? N_RUNNABLE : N_BLOCKED);
	e.name = fixed_names[e.name_iid - NAME_BASE];
	return put_event(p, &e);
}

static int sched_task(struct pf *p, uint32_t pid, uint32_t tid, uint64_t ts, uint8_t state,
		      bool only_if_blocked)
{
	struct pf_thread *th;
	int err = 0;

	if (!tid || !selected_pid(p, pid))
		return 0;
	th = thread_get(p, pid, tid, ts, &err);
	if (!th)
		return err;
	if (only_if_blocked && th->state == ST_RUNNING)
		return 0;
	return state_to(p, th, ts, state);
}

/* Scheduler events: running, runnable and blocked slices per thread. */
static int sched_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct pf *p = ctx;
	const struct ks_sched *v = rows;
	int err = 0;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count && !err; i++) {
		const struct ks_sched *s = &v[i];
		uint32_t st = s->prev_state & ~KS_SCHED_PREEMPTED;
		uint8_t out;

		if (!selected_ts(p, s->ts))
			continue;
		if (s->what == KS_SCHED_SWITCH) {
			out = st & SCHED_TASK_DEAD ? ST_NONE :
			      (s->prev_state & KS_SCHED_PREEMPTED) || !st ? ST_RUNNABLE : ST_BLOCKED;
			err = sched_task(p, s->prev_pid, s->prev_tid, s->ts, out, false);
			err = err ?: sched_task(p, s->next_pid, s->next_tid, s->ts, ST_RUNNING, false);
		} else {
			err = sched_task(p, s->prev_pid, s->prev_tid, s->ts, ST_RUNNABLE, true);
		}
	}
	return err;
}

/* Process events: instants on the process track (thread ones name the tid). */
static int proc_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct pf *p = ctx;
	const struct ks_proc *v = rows;
	int err = 0;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count && !err; i++) {
		const struct ks_proc *r = &v[i];
		struct ev e = { .type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT,
				.cat = C_PROC };
		Annot a[3], *ap[3];
		char argv[KS_ARGV_MAX + 1], comm[KS_COMM_MAX + 1];
		size_t na = 0, alen = r->argv_len < KS_ARGV_MAX ? r->argv_len : KS_ARGV_MAX;
		uint64_t *last;
		unsigned n;

		if (!selected_pid(p, r->pid) || !selected_ts(p, r->ts))
			continue;
		if (r->what == KS_PROC_FORK)
			n = N_FORK;
		else if (r->what == KS_PROC_EXEC)
			n = N_EXEC;
		else if (r->what == KS_PROC_EXIT)
			n = N_EXIT;
		else
			continue;
		err = declare_process(p, r->pid);
		if (err)
			break;
		e.track = uuid_of(TK_PROC, r->pid, 0);
		e.name_iid = NAME_BASE + n;
		e.name = fixed_names[n];
		annot_int(&a[na], A_TID, r->tid);
		ap[na] = &a[na];
		na++;
		memcpy(comm, r->comm, KS_COMM_MAX);
		comm[KS_COMM_MAX] = 0;
		if (n == N_FORK) {
			annot_int(&a[na], A_PPID, r->ppid);
		} else if (n == N_EXEC) {
			memcpy(argv, r->argv, alen);
			argv[alen] = 0;
			for (size_t k = 0; k + 1 < alen; k++)
				if (!argv[k])
					argv[k] = ' ';
			annot_str(&a[na], A_ARGV, argv);
		} else {
			annot_int(&a[na], A_EXIT, replay_exit_code(r->exit_code));
		}
		ap[na] = &a[na];
		na++;
		annot_str(&a[na], A_COMM, comm);
		ap[na] = &a[na];
		na++;
		e.annot = ap;
		e.nannot = na;
		last = ks_hmap_get(&p->tracks, e.track);
		e.ts = r->ts > *last ? r->ts : *last;
		*last = e.ts;
		err = put_event(p, &e);
	}
	return err;
}

/* A counter track of pid, declared on first use; its last time in *last. */
static int counter_track(struct pf *p, unsigned kind, uint32_t pid, uint64_t **last)
{
	static const char *const names[] = {
		[TK_CPU] = "CPU %", [TK_RSS] = "RSS", [TK_FILE_R] = "file read bytes/s",
		[TK_FILE_W] = "file write bytes/s", [TK_BLOCK] = "storage I/O bytes/s",
		[TK_NET_TX] = "network sent bytes/s", [TK_NET_RX] = "network received bytes/s",
	};
	Track td = PERFETTO__PROTOS__TRACK_DESCRIPTOR__INIT;
	Perfetto__Protos__CounterDescriptor cd = PERFETTO__PROTOS__COUNTER_DESCRIPTOR__INIT;
	uint64_t uuid = uuid_of(kind, pid, 0);
	bool added;
	int err;

	err = declare_process(p, pid);
	if (err)
		return err;
	*last = ks_hmap_upsert(&p->tracks, uuid, 0, &added);
	if (!*last)
		return -ENOMEM;
	if (!added)
		return 0;
	td.has_uuid = 1;
	td.uuid = uuid;
	td.has_parent_uuid = 1;
	td.parent_uuid = uuid_of(TK_PROC, pid, 0);
	td.name = (char *)names[kind];
	if (kind == TK_RSS) {
		cd.has_unit = 1;
		cd.unit = PERFETTO__PROTOS__COUNTER_DESCRIPTOR__UNIT__UNIT_SIZE_BYTES;
	} else {
		cd.unit_name = kind == TK_CPU ? "%" : "bytes/s";
	}
	td.counter = &cd;
	err = put_track(p, &td);
	/* put_track does not touch the map: *last stays valid */
	return err;
}

static int put_counter(struct pf *p, unsigned kind, uint32_t pid, uint64_t ts, double v)
{
	Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	Event te = PERFETTO__PROTOS__TRACK_EVENT__INIT;
	uint64_t *last;
	int err = counter_track(p, kind, pid, &last);

	if (err)
		return err;
	if (ts < *last)
		ts = *last;
	*last = ts;
	pk.has_timestamp = 1;
	pk.timestamp = ts;
	te.has_type = 1;
	te.type = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_COUNTER;
	te.has_track_uuid = 1;
	te.track_uuid = uuid_of(kind, pid, 0);
	te.has_double_counter_value = 1;
	te.double_counter_value = v;
	pk.track_event = &te;
	return put_packet(p, &pk);
}

/* /proc samples: RSS, and storage bytes per second between samples. */
static int sample_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct pf *p = ctx;
	const struct ks_sample *v = rows;
	int err = 0;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count && !err; i++) {
		const struct ks_sample *s = &v[i];
		uint64_t io = s->read_bytes + s->write_bytes, *ix;
		struct pf_sample *last;
		bool added;

		if (!selected_pid(p, s->pid) || !selected_ts(p, s->ts))
			continue;
		err = put_counter(p, TK_RSS, s->pid, s->ts, (double)s->rss_kb * 1024);
		if (err)
			break;
		ix = ks_hmap_upsert(&p->smpmap, s->pid, p->nsmp, &added);
		if (!ix)
			return -ENOMEM;
		if (added) {
			if (KS_GROW(&p->smp, &p->capsmp, p->nsmp + 1))
				return -ENOMEM;
			p->smp[p->nsmp++] = (struct pf_sample){ s->pid, s->ts, io };
			continue;
		}
		last = &p->smp[*ix];
		if (s->ts > last->ts && io >= last->io)
			err = put_counter(p, TK_BLOCK, s->pid, s->ts,
					  (double)(io - last->io) * 1e9 / (double)(s->ts - last->ts));
		last->ts = s->ts;
		last->io = io;
	}
	return err;
}

static uint64_t sec_start(const struct sched_analysis *s, uint64_t sec)
{
	return sec ? sched_sec_last_ns(s, sec - 1) + 1 : 0;
}

static int cmp_bucket(const void *a, const void *b)
{
	const struct sched_bucket *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->sec < y->sec ? -1 : x->sec > y->sec;
}

static int cmp_fbucket(const void *a, const void *b)
{
	const struct file_bucket *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->sec < y->sec ? -1 : x->sec > y->sec;
}

/* CPU per second from the scheduler buckets; a zero after each idle gap. */
static int cpu_counters(struct pf *p)
{
	const struct sched_analysis *s = &p->r->a.sched;
	struct sched_bucket *b;
	int err = 0;

	if (!s->nbuckets)
		return 0;
	b = malloc(s->nbuckets * sizeof(*b));
	if (!b)
		return -ENOMEM;
	memcpy(b, s->buckets, s->nbuckets * sizeof(*b));
	ks_qsort(b, s->nbuckets, sizeof(*b), cmp_bucket);
	for (size_t i = 0; i < s->nbuckets && !err; i++) {
		if (!selected_pid(p, b[i].pid))
			continue;
		err = put_counter(p, TK_CPU, b[i].pid, sec_start(s, b[i].sec),
				  (double)b[i].cpu_ns / 1e7);
		if (!err && (i + 1 == s->nbuckets || b[i + 1].pid != b[i].pid ||
			     b[i + 1].sec != b[i].sec + 1))
			err = put_counter(p, TK_CPU, b[i].pid, sec_start(s, b[i].sec + 1), 0);
	}
	free(b);
	return err;
}

/* File bytes per second per process (from the replayed fd tables). */
static int file_counters(struct pf *p)
{
	const struct files_analysis *f = &p->r->files;
	const struct sched_analysis *s = &p->r->a.sched;
	struct file_bucket *b;
	int err = 0;

	if (!f->nbk)
		return 0;
	b = malloc(f->nbk * sizeof(*b));
	if (!b)
		return -ENOMEM;
	memcpy(b, f->bk, f->nbk * sizeof(*b));
	ks_qsort(b, f->nbk, sizeof(*b), cmp_fbucket);
	for (size_t i = 0; i < f->nbk && !err; i++) {
		bool gap = i + 1 == f->nbk || b[i + 1].pid != b[i].pid ||
			   b[i + 1].sec != b[i].sec + 1;
		uint64_t t0 = sec_start(s, b[i].sec), t1 = sec_start(s, b[i].sec + 1);

		if (!selected_pid(p, b[i].pid))
			continue;
		err = put_counter(p, TK_FILE_R, b[i].pid, t0, (double)b[i].read_bytes);
		err = err ?: put_counter(p, TK_FILE_W, b[i].pid, t0, (double)b[i].write_bytes);
		if (!err && gap) {
			err = put_counter(p, TK_FILE_R, b[i].pid, t1, 0);
			err = err ?: put_counter(p, TK_FILE_W, b[i].pid, t1, 0);
		}
	}
	free(b);
	return err;
}

/* Clears the sequence's interned state (the sample stacks' tables reached their
 * bound): the preamble again, every name sent anew on its next use. */
static int reset_state(struct pf *p)
{
	memset(p->name_sent, 0, p->nname + 1);
	memset(p->fixed_sent, 0, sizeof(p->fixed_sent));
	pf_stacks_clear(p->stk);
	return put_preamble(p);
}

/* On-CPU samples: a PerfSample each, on its thread, with its interned stack. */
static int cpu_sample_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			   const void *rows)
{
	struct pf *p = ctx;
	const struct ks_cpu_sample *v = rows;
	int err = 0;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count && !err; i++) {
		const struct ks_cpu_sample *s = &v[i];
		Packet pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
		Perfetto__Protos__PerfSample ps = PERFETTO__PROTOS__PERF_SAMPLE__INIT;
		Perfetto__Protos__InternedData in = PERFETTO__PROTOS__INTERNED_DATA__INIT;
		bool kernel;

		if (!s->tid || !selected_pid(p, s->pid) || !selected_ts(p, s->ts))
			continue;
		if (!thread_get(p, s->pid, s->tid, s->ts, &err))
			break;
		if (pf_stacks_entries(p->stk) >= PF_STACKS_MAX)
			err = reset_state(p);
		err = err ?: pf_stacks_intern(p->stk, s->stack, &in, &ps.callstack_iid, &kernel);
		if (err)
			break;
		ps.has_cpu = ps.has_pid = ps.has_tid = ps.has_callstack_iid = ps.has_cpu_mode = 1;
		ps.cpu = s->cpu;
		ps.pid = s->pid;
		ps.tid = s->tid;
		ps.cpu_mode = kernel ? PERFETTO__PROTOS__PROFILING__CPU_MODE__MODE_KERNEL :
				       PERFETTO__PROTOS__PROFILING__CPU_MODE__MODE_USER;
		pk.has_timestamp = 1;
		pk.timestamp = s->ts;
		pk.has_sequence_flags = 1;
		pk.sequence_flags = SEQ_NEEDS_STATE;
		if (in.n_callstacks)
			pk.interned_data = &in;
		pk.perf_sample = &ps;
		err = put_packet(p, &pk);
		p->st->samples++;
	}
	return err;
}

static int cmp_iobucket(const void *a, const void *b)
{
	const struct io_bucket *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->sec < y->sec ? -1 : x->sec > y->sec;
}

/* Network bytes sent and received per second per process (the net rows). */
static int net_counters(struct pf *p)
{
	const struct io_buckets *k = &p->r->a.iob;
	const struct sched_analysis *s = &p->r->a.sched;
	struct io_bucket *b;
	size_t n = 0;
	int err = 0;

	b = k->n ? malloc(k->n * sizeof(*b)) : NULL;
	if (!b)
		return k->n ? -ENOMEM : 0;
	for (size_t i = 0; i < k->n; i++)
		if ((k->v[i].net_tx || k->v[i].net_rx) && selected_pid(p, k->v[i].pid))
			b[n++] = k->v[i];
	ks_qsort(b, n, sizeof(*b), cmp_iobucket);
	for (size_t i = 0; i < n && !err; i++) {
		uint64_t t0 = sec_start(s, b[i].sec), t1 = sec_start(s, b[i].sec + 1);

		err = put_counter(p, TK_NET_TX, b[i].pid, t0, (double)b[i].net_tx);
		err = err ?: put_counter(p, TK_NET_RX, b[i].pid, t0, (double)b[i].net_rx);
		if (!err && (i + 1 == n || b[i + 1].pid != b[i].pid || b[i + 1].sec != b[i].sec + 1)) {
			err = put_counter(p, TK_NET_TX, b[i].pid, t1, 0);
			err = err ?: put_counter(p, TK_NET_RX, b[i].pid, t1, 0);
		}
	}
	free(b);
	return err;
}

/* Ends the scheduler states still open at the window's end. */
static int close_states(struct pf *p)
{
	uint64_t end = p->r->end_ns < p->hi ? p->r->end_ns : p->hi;
	int err = 0;

	for (size_t i = 0; i < p->nthr && !err; i++)
		if (p->thr[i].state != ST_NONE)
			err = state_to(p, &p->thr[i], end, ST_NONE);
	return err;
}

int export_perfetto(const struct report *r, FILE *f, struct export_stats *st)
{
	struct pf p = { .r = r, .f = f, .st = st };
	struct replay_trace *t = r->t;
	int err;

	memset(st, 0, sizeof(*st));
	p.lo = r->a.lo;
	p.hi = r->a.range > UINT64_MAX - r->a.lo ? UINT64_MAX : r->a.lo + r->a.range;
	p.nname = ks_syscall_nr_end();
	p.name_sent = calloc(p.nname + 1, 1);
	if (!p.name_sent)
		return -ENOMEM;
	err = pf_stacks_new(r->prof ? r->prof->sym : NULL, &p.stk);
	err = err ?: thread_names_load(&p.names, t);
	err = err ?: put_clocks(&p);
	err = err ?: put_preamble(&p);
	/* Process events first: the tracks then carry the names the processes got. */
	err = err ?: replay_each_segment(t, KS_KIND_PROC, proc_rows, &p);
	err = err ?: replay_each_segment(t, KS_KIND_SYSCALL, syscall_rows, &p);
	err = err ?: replay_each_segment(t, KS_KIND_SCHED, sched_rows, &p);
	err = err ?: close_states(&p);
	err = err ?: replay_each_segment(t, KS_KIND_SAMPLE, sample_rows, &p);
	err = err ?: cpu_counters(&p);
	err = err ?: file_counters(&p);
	err = err ?: net_counters(&p);
	if (!err && p.stk && r->prof && r->prof->sym)
		err = replay_each_segment(t, KS_KIND_CPU_SAMPLE, cpu_sample_rows, &p);
	if (!err && fflush(f))
		err = -EIO;
	if (err == -ENOMEM && !t->err[0])
		replay_fail(t, err, "out of memory while exporting the trace");
	free(p.buf);
	free(p.thr);
	free(p.smp);
	free(p.name_sent);
	pf_stacks_free(p.stk);
	thread_names_free(&p.names);
	ks_hmap_free(&p.tracks);
	ks_hmap_free(&p.thrmap);
	ks_hmap_free(&p.smpmap);
	return err;
}
