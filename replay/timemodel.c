/* The time model. Per thread, the scheduler events give a sequence of states (on
 * a CPU, runnable, blocked) and the syscall rows, which arrive as their calls
 * return, say which stretches of it were inside a syscall and what that syscall
 * waited on. Transitions are kept per thread until the next syscall of the thread
 * returns; then everything up to that return is accounted:
 *
 *   state      outside a syscall          inside syscall s
 *   on a CPU   cpu_user (page_faults:     cpu_kernel
 *              see below)
 *   runnable   run_queue                  run_queue
 *   blocked    page_faults when the slice  the wait bucket of s (tm_wait_bucket)
 *              before had a user fault
 *              (a major fault), else other
 *
 * On-CPU time in page faults is estimated per slice as sched.c does it, min(slice,
 * faults * SCHED_FAULT_NS), and moved from cpu_user to page_faults at the end.
 * A thread lives from its birth (sched_wakeup_new) or the trace start (or its
 * process's exec when the trace saw that process start without a fork) to its
 * TASK_DEAD switch-out or the trace end. A thread that makes more than
 * TM_MARKS_MAX transitions between two syscall returns (a CPU loop preempted for
 * minutes) has its oldest ones accounted as outside syscalls (counted in folded).
 * Without scheduler events, a thread is on a CPU from its first syscall to its
 * last, and its syscalls' time goes to their wait buckets. The on-CPU split is the
 * part CPU samples can refine: a sample in kernel mode outside a syscall (a fault,
 * an interrupt) or in user mode is what the per-slice estimates stand in for.
 *
 * For the classes (replay/timeclass.c), each stretch also counts for the resource
 * it used: blocked on files io, on sockets net, in a fault mem; on-CPU time the
 * resource its work served (user time cpu, page faults and kernel time in memory
 * syscalls mem, kernel time in calls on files io, on sockets net, other kernel
 * time cpu). Run-queue wait is no resource of its own: a thread waiting for a CPU
 * wanted it for the work it did once it got one, so each wait counts for the
 * resources of the next time slice, in proportion to that slice's on-CPU time by
 * resource: a CPU-starved computation stays cpu, a CPU-starved fsync loop io,
 * whatever else runs on the machine. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "format/sysargs.h"
#include "replay/sched.h"
#include "replay/syscalls.h"
#include "replay/timemodel.h"
#include "util/grow.h"

#define NONE REPLAY_NONE
#define TM_MARKS_MAX 4096
#define TM_ST_FAULTED 5 /* blocked after a slice that faulted: outside syscalls, a fault */

/* Members of an epoll set, by kind (the tm.epoll map's values). */
enum { TM_EP_NET = 1, TM_EP_PIPE = 2, TM_EP_UNKNOWN = 4, TM_EP_OTHER = 8, TM_EP_FILE = 16 };

int tm_init(struct timemodel *m, uint64_t lo, uint64_t range, bool has_pid, uint32_t pid,
	    uint64_t base)
{
	memset(m, 0, sizeof(*m));
	m->lo = lo;
	m->hi = lo > UINT64_MAX - range ? UINT64_MAX : lo + range;
	m->has_pid = has_pid;
	m->pid = pid;
	m->base = base;
	return 0;
}

const char *tm_bucket_name(enum tm_bucket b)
{
	static const char *const names[TM_NBUCKETS] = {
		[TM_CPU_USER] = "cpu_user",     [TM_CPU_KERNEL] = "cpu_kernel",
		[TM_PAGE_FAULTS] = "page_faults", [TM_RUN_QUEUE] = "run_queue",
		[TM_DISK] = "disk",             [TM_NETWORK] = "network",
		[TM_PIPE] = "pipe",             [TM_CHILD] = "child",
		[TM_LOCK] = "lock",             [TM_SLEEP] = "sleep",
		[TM_POLL] = "poll",             [TM_OTHER] = "other",
	};

	return b < TM_NBUCKETS ? names[b] : "?";
}

static struct tm_thread *thread_new(struct timemodel *m, uint32_t tid, uint32_t pid,
				    uint64_t first)
{
	const uint64_t *floor = ks_hmap_get(&m->starts, pid);
	struct tm_thread *t;

	if (KS_GROW(&m->threads, &m->capthreads, m->nthreads + 1) ||
	    ks_hmap_put(&m->tidmap, tid, m->nthreads))
		return NULL;
	t = &m->threads[m->nthreads++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->pid = pid;
	t->rec = NONE;
	t->first_ts = t->cut = t->in_ts = first;
	t->cut_state = TM_ST_ON;
	t->floor = floor ? *floor : 0;
	return t;
}

/* The thread tid of pid live at ts; made on first sight (fresh: born at ts). */
static struct tm_thread *thread_get(struct timemodel *m, uint32_t tid, uint32_t pid,
				    uint64_t ts, bool fresh, bool *made)
{
	uint32_t c = m->tcache[tid & 255], i;
	struct tm_thread *t;

	*made = false;
	if (c && !fresh) {
		t = &m->threads[c - 1];
		if (t->tid == tid && t->pid == pid && (!t->dead || ts <= t->end_ts))
			return t;
	}
	i = replay_index(&m->tidmap, tid);
	if (i != NONE) {
		t = &m->threads[i];
		if (t->pid == pid && (!t->dead || ts <= t->end_ts) && !fresh) {
			m->tcache[tid & 255] = i + 1;
			return t;
		}
		if (fresh && !t->dead) { /* its TASK_DEAD switch-out was lost */
			t->dead = true;
			t->end_ts = ts > t->cut ? ts : t->cut;
		}
	}
	*made = true;
	t = thread_new(m, tid, pid, fresh || !m->base || m->base > ts ? ts : m->base);
	if (t)
		m->tcache[tid & 255] = (uint32_t)(t - m->threads) + 1;
	return t;
}

static uint64_t clip_add(const struct timemodel *m, struct tm_thread *th, uint64_t a,
			 uint64_t b, enum tm_bucket k)
{
	struct tm_times *t = &th->t;

	if (a < m->lo)
		a = m->lo;
	if (a < th->floor)
		a = th->floor;
	if (b > m->hi)
		b = m->hi;
	if (b <= a)
		return 0;
	t->ns[k] += b - a;
	return b - a;
}

static struct tm_cause *cause_of(struct timemodel *m, uint32_t nr, uint32_t obj, enum tm_bucket b)
{
	/* epoll sets share one object: the bucket tells their kinds apart */
	uint64_t key = (uint64_t)b << 56 ^ (uint64_t)nr << 32 ^ obj;
	uint32_t i = replay_index(&m->causemap, key);

	/* unique while nr < 2^24: a hostile number may share another cause's entry */
	if (i != NONE)
		return &m->causes[i];
	if (KS_GROW(&m->causes, &m->capcauses, m->ncauses + 1) ||
	    ks_hmap_put(&m->causemap, key, m->ncauses))
		return NULL;
	m->causes[m->ncauses] = (struct tm_cause){ .nr = nr, .obj = obj, .bucket = b };
	return &m->causes[m->ncauses++];
}

/* What a stretch in state st is, inside a syscall of wait bucket b or outside. */
static enum tm_bucket bucket_of(uint32_t st, bool inside, enum tm_bucket b)
{
	switch (st) {
	case TM_ST_ON:
		return inside ? TM_CPU_KERNEL : TM_CPU_USER;
	case TM_ST_RUNQ:
		return TM_RUN_QUEUE;
	case TM_ST_FAULTED:
		return inside ? b : TM_PAGE_FAULTS;
	default:
		return inside ? b : TM_OTHER;
	}
}

struct span_ctx {
	bool inside;
	enum tm_bucket b;
	uint32_t nr, obj;
	enum tm_res kres; /* what kernel time in the call serves */
};

/* Ends a time slice: its on-CPU time by resource, and the run-queue wait before
 * it shared out in proportion; the wait is kept when nothing ran. */
static void window_flush(struct tm_thread *t)
{
	double on = 0;

	for (unsigned i = 0; i < TM_NRES; i++)
		on += t->win_on[i];
	if (on <= 0)
		return;
	for (unsigned i = 0; i < TM_NRES; i++) {
		t->t.res[i] += t->win_on[i] * (1 + t->win_rq / on);
		t->win_on[i] = 0;
	}
	t->win_rq = 0;
}

/* Counts d ns of bucket k (inside a call whose kernel time serves kres) at ts. */
static void resource_add(struct tm_thread *t, uint64_t d, enum tm_bucket k, enum tm_res kres)
{
	switch (k) {
	case TM_CPU_USER:
		t->win_on[TM_RES_CPU] += (double)d;
		break;
	case TM_CPU_KERNEL:
		t->win_on[kres] += (double)d;
		break;
	case TM_RUN_QUEUE:
		t->win_rq += (double)d;
		break;
	case TM_PAGE_FAULTS:
		t->t.res[TM_RES_MEM] += (double)d;
		break;
	case TM_DISK:
		t->t.res[TM_RES_IO] += (double)d;
		break;
	case TM_NETWORK:
		t->t.res[TM_RES_NET] += (double)d;
		break;
	default:
		break;
	}
}

/* A slice's estimated time in faults: from its user time to memory. */
static void fault_add(struct tm_thread *t, uint64_t ns)
{
	double moved;

	moved = (double)ns < t->win_on[TM_RES_CPU] ? (double)ns : t->win_on[TM_RES_CPU];
	t->win_on[TM_RES_CPU] -= moved;
	t->win_on[TM_RES_MEM] += moved;
}

/* Accounts [t->cut, upto) by the states it went through; consumes the marks
 * before upto. Returns 0 or -ENOMEM. */
static int account_to(struct timemodel *m, struct tm_thread *t, uint64_t upto,
		      const struct span_ctx *c)
{
	uint64_t from = t->cut, blocked = 0;
	uint32_t st = t->cut_state;
	size_t i = 0;

	if (upto <= from)
		return 0;
	if (!t->nmarks && st == TM_ST_ON && from >= m->lo && upto <= m->hi && from >= t->floor) {
		/* the common stretch: on a CPU all along, in a syscall or between two */
		t->t.ns[c->inside ? TM_CPU_KERNEL : TM_CPU_USER] += upto - from;
		t->win_on[c->inside ? c->kres : TM_RES_CPU] += (double)(upto - from);
		t->cut = upto;
		return 0;
	}
	for (;; i++) {
		uint64_t to = i < t->nmarks && t->marks[i].ts < upto ? t->marks[i].ts : upto;

		if (st != TM_ST_DEAD && to > from) {
			enum tm_bucket k = bucket_of(st, c->inside, c->b);
			uint64_t d = clip_add(m, t, from, to, k);

			if (d)
				resource_add(t, d, k, c->kres);
			if (c->inside && (st == TM_ST_BLOCKED || st == TM_ST_FAULTED))
				blocked += d;
		}
		from = to;
		if (to == upto)
			break;
		if (st == TM_ST_ON && t->marks[i].state != TM_ST_ON) { /* a switch-out */
			fault_add(t, t->marks[i].fault_ns);
			window_flush(t);
		}
		st = t->marks[i].state;
	}
	if (i)
		memmove(t->marks, t->marks + i, (t->nmarks - i) * sizeof(*t->marks));
	t->nmarks -= i;
	t->cut = upto;
	t->cut_state = st;
	if (blocked) {
		struct tm_cause *k = cause_of(m, c->nr, c->obj, c->b);

		if (!k)
			return -ENOMEM;
		k->ns += blocked;
		k->calls++;
	}
	return 0;
}

static uint32_t last_state(const struct tm_thread *t)
{
	return t->nmarks ? t->marks[t->nmarks - 1].state : t->cut_state;
}

static int mark(struct timemodel *m, struct tm_thread *t, uint64_t ts, uint32_t st,
		uint64_t fault_ns)
{
	uint64_t last = t->nmarks ? t->marks[t->nmarks - 1].ts : t->cut;

	if (last_state(t) == st)
		return 0;
	if (fault_ns > UINT32_MAX)
		fault_ns = UINT32_MAX;
	if (ts < last) /* another CPU's clock, a little behind */
		ts = last;
	if (t->nmarks >= TM_MARKS_MAX) {
		static const struct span_ctx outside = { .inside = false };
		int err = account_to(m, t, t->marks[TM_MARKS_MAX / 2].ts, &outside);

		if (err)
			return err;
		m->folded += TM_MARKS_MAX / 2;
	}
	if (KS_GROW(&t->marks, &t->capmarks, t->nmarks + 1))
		return -ENOMEM;
	t->marks[t->nmarks++] = (struct tm_mark){ .ts = ts, .state = st,
						 .fault_ns = (uint32_t)fault_ns };
	return 0;
}

/* Sets the state a thread seen first in the middle of its life had before ts. */
static void first_state(struct tm_thread *t, uint32_t st)
{
	t->cut_state = st;
	t->sched_seen = true;
}

static int switch_out(struct timemodel *m, const struct ks_sched *e)
{
	uint32_t state = e->prev_state & ~KS_SCHED_PREEMPTED;
	bool preempted = e->prev_state & KS_SCHED_PREEMPTED, made;
	struct tm_thread *t = thread_get(m, e->prev_tid, e->prev_pid, e->ts, false, &made);
	uint32_t faults, st;
	uint64_t fns = 0;

	if (!t)
		return -ENOMEM;
	if (!t->sched_seen) {
		first_state(t, TM_ST_ON);
		t->in_ts = t->first_ts;
	}
	faults = e->faults >= t->faults_last ? e->faults - t->faults_last : e->faults;
	t->faults_last = e->faults;
	if (last_state(t) == TM_ST_ON) {
		uint64_t a = t->in_ts < m->lo ? m->lo : t->in_ts, b = e->ts > m->hi ? m->hi : e->ts;
		uint64_t ran;

		if (a < t->floor)
			a = t->floor;
		ran = b > a ? b - a : 0;
		fns = (uint64_t)faults * SCHED_FAULT_NS < ran ? (uint64_t)faults * SCHED_FAULT_NS : ran;
		t->fault_ns += fns;
		if (e->ts >= m->lo && e->ts < m->hi)
			t->faults += faults;
	}
	if (state == SCHED_TASK_DEAD && !preempted) {
		t->dead = true;
		t->end_ts = e->ts;
		st = TM_ST_DEAD;
	} else if (!preempted && state) {
		st = faults ? TM_ST_FAULTED : TM_ST_BLOCKED;
	} else {
		st = TM_ST_RUNQ;
	}
	return mark(m, t, e->ts, st, fns);
}

static int switch_in(struct timemodel *m, const struct ks_sched *e)
{
	bool made;
	struct tm_thread *t = thread_get(m, e->next_tid, e->next_pid, e->ts, false, &made);

	if (!t)
		return -ENOMEM;
	if (!t->sched_seen)
		first_state(t, TM_ST_RUNQ);
	t->in_ts = e->ts;
	return mark(m, t, e->ts, TM_ST_ON, 0);
}

static int wakeup(struct timemodel *m, const struct ks_sched *e)
{
	bool fresh = e->what == KS_SCHED_WAKEUP_NEW, made;
	struct tm_thread *t = thread_get(m, e->prev_tid, e->prev_pid, e->ts, fresh, &made);
	uint32_t st;

	if (!t)
		return -ENOMEM;
	if (made && fresh) {
		t->first_ts = t->cut = t->in_ts = e->ts;
		first_state(t, TM_ST_RUNQ);
		return 0;
	}
	if (!t->sched_seen)
		first_state(t, TM_ST_BLOCKED);
	st = last_state(t);
	/* Woken before it got to sleep, it never left the CPU. */
	if (st == TM_ST_BLOCKED || st == TM_ST_FAULTED)
		return mark(m, t, e->ts, TM_ST_RUNQ, 0);
	return 0;
}

static bool selected(const struct timemodel *m, uint32_t pid)
{
	return !m->has_pid || pid == m->pid;
}

int tm_sched(struct timemodel *m, const struct ks_sched *e)
{
	int err = 0;

	m->has_sched = true;
	switch (e->what) {
	case KS_SCHED_SWITCH:
		if (e->prev_tid && selected(m, e->prev_pid))
			err = switch_out(m, e);
		if (!err && e->next_tid && selected(m, e->next_pid))
			err = switch_in(m, e);
		break;
	case KS_SCHED_WAKEUP:
	case KS_SCHED_WAKEUP_NEW:
		if (e->prev_tid && selected(m, e->prev_pid))
			err = wakeup(m, e);
		break;
	default:
		break;
	}
	return err;
}

int tm_syscall(struct timemodel *m, const struct ks_syscall *s, enum tm_bucket b, uint32_t obj)
{
	uint64_t end = s->flags & KS_SYSF_NORET ? s->ts : s->ts + s->dur;
	struct span_ctx in = { .inside = true, .b = b, .nr = s->nr, .obj = obj,
			       .kres = ks_syscall_category(s->nr) == KS_CAT_MEMORY ? TM_RES_MEM :
				       b == TM_DISK ? TM_RES_IO : b == TM_NETWORK ? TM_RES_NET :
				       TM_RES_CPU };
	static const struct span_ctx outside = { .inside = false };
	struct tm_thread *t;
	bool made;
	int err;

	if (!selected(m, s->pid))
		return 0;
	t = thread_get(m, s->tid, s->pid, s->ts, false, &made);
	if (!t)
		return -ENOMEM;
	if (made && !m->has_sched)
		t->first_ts = t->cut = s->ts;
	if (t->dead && end > t->end_ts)
		end = t->end_ts;
	if (s->ts > t->cut)
		err = account_to(m, t, s->ts, &outside);
	else
		err = 0;
	if (!m->has_sched) /* no states known: the call's time is its wait's */
		t->cut_state = TM_ST_BLOCKED;
	if (!err && end > t->cut)
		err = account_to(m, t, end, &in);
	if (!m->has_sched)
		t->cut_state = TM_ST_ON;
	return err;
}

int tm_epoll_ctl(struct timemodel *m, struct fdtable *fdt, const struct ks_syscall *s)
{
	const struct fdt_object *o;
	uint64_t *v;
	unsigned bit;
	bool added;

	/* epoll_ctl(epfd, op, fd, event): only additions are followed */
	if (!(s->flags & KS_SYSF_ARGS) || s->ret != 0 || s->arg1 != 1 /* EPOLL_CTL_ADD */ ||
	    s->arg0 < 0 || s->arg0 >= FDT_FD_MAX)
		return 0;
	o = fdt_get(fdt, fdt_lookup(fdt, s->pid, s->arg2));
	switch (o->kind) {
	case FDT_SOCKET:
		bit = o->domain == 1 /* AF_UNIX */ ? TM_EP_PIPE : TM_EP_NET;
		break;
	case FDT_PIPE:
		bit = TM_EP_PIPE;
		break;
	case FDT_FILE:
		bit = TM_EP_FILE;
		break;
	case FDT_OTHER:
		bit = TM_EP_OTHER;
		break;
	default:
		bit = TM_EP_UNKNOWN;
	}
	v = ks_hmap_upsert(&m->epoll, (uint64_t)s->pid << 32 | (uint32_t)s->arg0, 0, &added);
	if (!v)
		return -ENOMEM;
	*v |= bit;
	return 0;
}

/* A blocked read, write or wait on an object of this kind. */
static enum tm_bucket object_bucket(const struct fdt_object *o)
{
	switch (o->kind) {
	case FDT_FILE:
		/* terminals wait on a person, not on a disk */
		if (o->name_len >= 8 && o->name[5] == 't' && o->name[6] == 't' && o->name[7] == 'y' &&
		    !memcmp(o->name, "/dev/", 5))
			return TM_OTHER;
		if (o->name_len >= 9 && o->name[5] == 'p' && !memcmp(o->name, "/dev/pts/", 9))
			return TM_OTHER;
		return TM_DISK;
	case FDT_SOCKET:
		return o->domain == 1 /* AF_UNIX */ ? TM_PIPE : TM_NETWORK;
	case FDT_PIPE:
		return TM_PIPE;
	case FDT_OTHER:
		return TM_OTHER;
	default:
		return TM_POLL;
	}
}

enum tm_bucket tm_wait_bucket(const struct timemodel *m, const struct ks_syscall *s,
			      const struct fdt_object *o)
{
	switch (s->nr) {
	case SYS_wait4:
	case SYS_waitid:
		return TM_CHILD;
	case SYS_futex:
#ifdef SYS_futex_waitv
	case SYS_futex_waitv:
#endif
	case SYS_flock:
		return TM_LOCK;
	case SYS_nanosleep:
	case SYS_clock_nanosleep:
	case SYS_rt_sigsuspend:
	case SYS_rt_sigtimedwait:
#ifdef SYS_pause
	case SYS_pause:
#endif
		return TM_SLEEP;
#ifdef SYS_poll
	case SYS_poll:
	case SYS_select:
#endif
	case SYS_ppoll:
	case SYS_pselect6:
		return TM_POLL; /* their fds are not recorded */
#ifdef SYS_epoll_wait
	case SYS_epoll_wait:
#endif
	case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
	case SYS_epoll_pwait2:
#endif
	{
		const uint64_t *v = s->flags & KS_SYSF_ARGS ?
			ks_hmap_get(&m->epoll, (uint64_t)s->pid << 32 | (uint32_t)s->arg0) : NULL;

		if (!v || !*v)
			return TM_POLL;
		if (*v & TM_EP_NET)
			return TM_NETWORK;
		if (*v & TM_EP_PIPE)
			return TM_PIPE;
		if (*v & TM_EP_FILE)
			return TM_DISK;
		return TM_POLL;
	}
	default:
		break;
	}
	if (o && (s->flags & KS_SYSF_ARGS)) {
		const struct ks_sysargs *sa;

		if (o->kind != FDT_UNKNOWN)
			return object_bucket(o);
		sa = ks_sysargs_get(s->nr);
		/* a path names a file even when the trace does not know it */
		return sa && (sa->role == KS_R_PATH || sa->role == KS_R_OPEN) ? TM_DISK : TM_POLL;
	}
	switch (ks_syscall_category(s->nr)) {
	case KS_CAT_FILE_IO:
		return TM_DISK;
	case KS_CAT_NETWORK:
		return TM_NETWORK;
	case KS_CAT_PROCESS:
		return s->nr == SYS_execve || s->nr == SYS_execveat ? TM_DISK : TM_OTHER;
	default:
		return TM_OTHER;
	}
}

int tm_set_start(struct timemodel *m, uint32_t pid, uint64_t ts)
{
	return ks_hmap_put(&m->starts, pid, ts);
}

const struct fdt_object *tm_object(const struct timemodel *m, uint32_t obj)
{
	static const struct fdt_object unknown = { .kind = FDT_UNKNOWN };

	return m->have_fr ? fdt_get(&m->fr.fdt, obj) : &unknown;
}

static void times_add(struct tm_times *d, const struct tm_times *s)
{
	for (unsigned k = 0; k < TM_NBUCKETS; k++)
		d->ns[k] += s->ns[k];
	d->total += s->total;
	for (unsigned i = 0; i < TM_NRES; i++)
		d->res[i] += s->res[i];
}

int tm_finish(struct timemodel *m, uint64_t end_ts, const struct replay_procs *p)
{
	static const struct span_ctx outside = { .inside = false };

	m->nrec = p ? p->n : 0;
	m->rec = calloc(m->nrec ? m->nrec : 1, sizeof(*m->rec));
	if (!m->rec)
		return -ENOMEM;
	memset(m->tcache, 0, sizeof(m->tcache)); /* no thread is looked up after this */
	for (size_t i = 0; i < m->nthreads; i++) {
		struct tm_thread *t = &m->threads[i];
		const struct replay_proc *r;
		uint64_t end = t->dead ? t->end_ts : m->has_sched ? end_ts : t->cut, pf;
		int err;

		if (end < t->cut)
			end = t->cut;
		/* A slice still running at the end: its faults are in no switch-out. */
		err = account_to(m, t, end, &outside);
		if (err)
			return err;
		window_flush(t);
		t->t.res[TM_RES_CPU] += t->win_rq; /* waited for a CPU and never got one */
		pf = t->fault_ns < t->t.ns[TM_CPU_USER] ? t->fault_ns : t->t.ns[TM_CPU_USER];
		t->t.ns[TM_CPU_USER] -= pf;
		t->t.ns[TM_PAGE_FAULTS] += pf;
		t->t.total = 0;
		for (unsigned k = 0; k < TM_NBUCKETS; k++)
			t->t.total += t->t.ns[k];
		m->faults += t->faults;
		times_add(&m->total, &t->t);
		r = p ? replay_procs_at(p, t->pid, t->first_ts > m->base ? t->first_ts : t->cut) : NULL;
		if (r) {
			t->rec = (uint32_t)(r - p->v);
			times_add(&m->rec[t->rec], &t->t);
		}
		free(t->marks);
		t->marks = NULL;
		t->nmarks = t->capmarks = 0;
	}
	return 0;
}

const struct tm_times *tm_record(const struct timemodel *m, uint32_t rec)
{
	return rec < m->nrec ? &m->rec[rec] : NULL;
}

const struct tm_cause *tm_top_cause(const struct timemodel *m, enum tm_bucket b)
{
	const struct tm_cause *best = NULL;

	for (size_t i = 0; i < m->ncauses; i++)
		if (m->causes[i].bucket == b && (!best || m->causes[i].ns > best->ns))
			best = &m->causes[i];
	return best;
}

uint64_t tm_blocked_ns(const struct timemodel *m, uint32_t nr)
{
	uint64_t ns = 0;

	for (size_t i = 0; i < m->ncauses; i++)
		if (m->causes[i].nr == nr)
			ns += m->causes[i].ns;
	return ns;
}

void tm_free(struct timemodel *m)
{
	for (size_t i = 0; i < m->nthreads; i++)
		free(m->threads[i].marks);
	free(m->threads);
	free(m->causes);
	free(m->rec);
	ks_hmap_free(&m->tidmap);
	ks_hmap_free(&m->causemap);
	ks_hmap_free(&m->epoll);
	ks_hmap_free(&m->starts);
	if (m->have_fr)
		fdreplay_free(&m->fr);
	memset(m, 0, sizeof(*m));
}
