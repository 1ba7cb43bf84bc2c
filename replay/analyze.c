/* The syscall analyser. syscall_rows is the hot loop of `ksight report`: per event
 * an array index for the syscall, a direct-mapped cache for the thread, and
 * histogram updates by bit tricks; no allocation and no hashing in the common case.
 * Split (analyze_split), its two halves run on the segment walk's threads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/analyze.h"
#include "replay/files.h"
#include "util/grow.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define TCACHE_MASK (sizeof(((struct analysis *)0)->tcache) / \
		     sizeof(((struct analysis *)0)->tcache[0]) - 1)

void analyze_opts_default(struct analyze_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->to_ns = UINT64_MAX;
	o->slow_ns = ANALYZE_SLOW_DEFAULT_NS;
	o->slow_cap = ANALYZE_SLOW_CAP_DEFAULT;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int analyze_init(struct analysis *a, const struct analyze_opts *o, uint64_t base_ns)
{
	uint64_t hi;
	int err;

	memset(a, 0, sizeof(*a));
	a->o = *o;
	a->base = base_ns;
	/* Without --time, everything: also events stamped before the recorded start. */
	a->lo = o->from_ns || o->to_ns != UINT64_MAX ? sat_add(base_ns, o->from_ns) : 0;
	hi = o->to_ns == UINT64_MAX ? UINT64_MAX : sat_add(base_ns, o->to_ns) - 1;
	/* Selected: lo <= ts <= hi, tested as one unsigned compare (ts - lo <= range). */
	a->range = hi >= a->lo ? hi - a->lo : 0;
	if (hi < a->lo)
		a->lo = UINT64_MAX, a->range = 0;
	for (size_t i = 0; i <= TCACHE_MASK; i++)
		a->tcache[i].idx = REPLAY_NONE;
	blockio_init(&a->blk, a->lo, a->range, o->has_pid, o->pid);
	net_init(&a->net, a->lo, a->range, o->has_pid, o->pid);
	a->blk.pids = a->net.pids = o->pids;
	io_buckets_init(&a->iob, &a->sched);
	err = sched_init(&a->sched, a->lo, a->range, o->has_pid, o->pid, base_ns);
	a->sched.pids = o->pids;
	return err;
}

static struct sc_stat *sc_alloc(uint32_t nr)
{
	struct sc_stat *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	memset(s, 0, offsetof(struct sc_stat, hist));
	ks_hist_init(&s->hist);
	s->nr = nr;
	s->cat = ks_syscall_category(nr);
	return s;
}

/* First sight of a number below ANALYZE_NR_DIRECT (in direct), or any number above
 * it. */
static __attribute__((noinline)) struct sc_stat *sc_lookup_slow(struct analysis *a,
								struct sc_stat **direct,
								uint32_t nr)
{
	size_t i;

	if (nr < ANALYZE_NR_DIRECT)
		return direct[nr] = sc_alloc(nr);
	for (i = 0; i < a->nfar; i++)
		if (a->far[i]->nr == nr)
			return a->far[i];
	/* Numbers that do not exist on x86_64 (x32, garbage): a few apart, then one
	 * merged entry, so a hostile trace cannot make memory grow without bound. */
	if (a->nfar < ANALYZE_NR_FAR) {
		if (!(a->far[a->nfar] = sc_alloc(nr)))
			return NULL;
		return a->far[a->nfar++];
	}
	if (!a->far[ANALYZE_NR_FAR])
		a->far[ANALYZE_NR_FAR] = sc_alloc(ANALYZE_NR_MERGED);
	return a->far[ANALYZE_NR_FAR];
}

static inline struct sc_stat *sc_lookup(struct analysis *a, struct sc_stat **direct,
				       uint32_t nr)
{
	if (likely(nr < ANALYZE_NR_DIRECT && direct[nr]))
		return direct[nr];
	return sc_lookup_slow(a, direct, nr);
}

static __attribute__((noinline)) struct thread_stat *thread_lookup_slow(struct analysis *a,
									uint32_t tid, uint32_t pid)
{
	uint32_t idx = replay_index(&a->tidmap, tid);
	struct thread_stat *t;

	/* A tid reused by another process starts a new thread entry. */
	if (idx == REPLAY_NONE || a->threads[idx].pid != pid) {
		if (KS_GROW(&a->threads, &a->capthreads, a->nthreads + 1))
			return NULL;
		idx = (uint32_t)a->nthreads;
		if (ks_hmap_put(&a->tidmap, tid, idx))
			return NULL;
		t = &a->threads[a->nthreads++];
		memset(t, 0, sizeof(*t));
		t->tid = tid;
		t->pid = pid;
		t->first_ts = UINT64_MAX;
	}
	a->tcache[tid & TCACHE_MASK].tid = tid;
	a->tcache[tid & TCACHE_MASK].pid = pid;
	a->tcache[tid & TCACHE_MASK].idx = idx;
	return &a->threads[idx];
}

static inline struct thread_stat *thread_lookup(struct analysis *a, uint32_t tid, uint32_t pid)
{
	typeof(a->tcache[0]) *c = &a->tcache[tid & TCACHE_MASK];

	if (likely(c->tid == tid && c->pid == pid && c->idx != REPLAY_NONE))
		return &a->threads[c->idx];
	return thread_lookup_slow(a, tid, pid);
}

static void heap_down(struct slow_call *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct slow_call tmp;

		if (l < n && h[l].dur < h[m].dur)
			m = l;
		if (l + 1 < n && h[l + 1].dur < h[m].dur)
			m = l + 1;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

/* Keeps the slow_cap slowest calls in a min-heap on duration. */
static __attribute__((noinline)) int slow_add(struct analysis *a, const struct ks_syscall *r)
{
	struct slow_call c = { r->ts, r->dur, r->ret, r->pid, r->tid, r->nr };
	size_t i;

	a->slow_total++;
	if (!a->o.slow_cap)
		return 0;
	if (a->nslow == a->o.slow_cap) {
		if (c.dur <= a->slow[0].dur)
			return 0;
		a->slow[0] = c;
		heap_down(a->slow, a->nslow, 0);
		return 0;
	}
	/* below slow_cap: the array stays under twice that */
	if (KS_GROW(&a->slow, &a->capslow, a->nslow + 1))
		return -ENOMEM;
	for (i = a->nslow++; i > 0 && a->slow[(i - 1) / 2].dur > c.dur; i = (i - 1) / 2)
		a->slow[i] = a->slow[(i - 1) / 2];
	a->slow[i] = c;
	return 0;
}

/* ks_hist_add without the count, which analyze_finish derives (calls - noret):
 * one read-modify-write less per event. */
static inline void hist_add_nocount(struct ks_hist *h, uint64_t v)
{
	h->sum += v;
	h->min = v < h->min ? v : h->min;
	h->max = v > h->max ? v : h->max;
	h->bucket[ks_hist_index(v)]++;
}

/* The rows' figures: with stats, those of numbers below ANALYZE_NR_DIRECT, into
 * direct; with order, the rest (threads, slow calls, larger numbers into a->far),
 * which depend on the order of the rows. Both: everything, as one pass. */
static inline __attribute__((always_inline)) int syscall_rows(struct analysis *a,
							       struct sc_stat **direct,
							       const struct ks_syscall *r,
							       size_t n, const bool stats,
							       const bool order)
{
	const uint64_t lo = a->lo, range = a->range, slow = a->o.slow_ns;
	const uint32_t want_pid = a->o.pid;
	const bool has_pid = a->o.has_pid || a->o.pids;
	const struct ks_hmap *pids = a->o.pids;

	for (const struct ks_syscall *end = r + n; r < end; r++) {
		struct sc_stat *s = NULL;
		struct thread_stat *t = NULL;
		uint64_t d, ts = r->ts;
		bool st;

		if (has_pid && !replay_pid_wanted(true, want_pid, pids, r->pid))
			continue;
		if (ts - lo > range)
			continue;
		st = stats && order ? true : likely(r->nr < ANALYZE_NR_DIRECT) ? stats : order;
		if (st && unlikely(!(s = sc_lookup(a, direct, r->nr))))
			return -ENOMEM;
		if (order && unlikely(!(t = thread_lookup(a, r->tid, r->pid))))
			return -ENOMEM;
		if (st)
			s->calls++;
		if (order) {
			t->calls++;
			if (unlikely(ts < t->first_ts))
				t->first_ts = ts;
		}
		if (unlikely(r->flags & KS_SYSF_NORET)) {
			if (st)
				s->noret++;
			if (order && ts > t->last_ts)
				t->last_ts = ts;
			continue;
		}
		d = r->dur;
		if (order)
			t->last_ts = ts + d > t->last_ts ? ts + d : t->last_ts;
		if (st) {
			s->errors += (uint64_t)r->ret + 4095 < 4095; /* -4095 <= ret <= -1 */
			hist_add_nocount(&s->hist, d);
		}
		if (order && unlikely(d >= slow) && slow_add(a, r))
			return -ENOMEM;
	}
	return 0;
}

int analyze_syscalls(struct analysis *a, const struct ks_syscall *r, size_t n)
{
	return syscall_rows(a, a->direct, r, n, true, true);
}

int analyze_split(struct analysis *a, unsigned threads)
{
	if (!threads)
		return -EINVAL;
	if (a->parts)
		return 0;
	a->parts = calloc(threads, sizeof(*a->parts));
	if (!a->parts)
		return -ENOMEM;
	a->nparts = threads;
	return 0;
}

int analyze_each(void *ctx, unsigned thread, const struct ks_seg_header *hdr, const void *rows)
{
	struct analysis *a = ctx;

	if (hdr->kind != KS_KIND_SYSCALL)
		return 0;
	if (thread >= a->nparts)
		return -EINVAL;
	return syscall_rows(a, a->parts[thread].direct, rows, hdr->count, true, false);
}

int analyze_ordered(void *ctx, const struct ks_seg_header *hdr, const void *rows)
{
	struct analysis *a = ctx;
	int err;

	if (hdr->kind != KS_KIND_SYSCALL)
		return 0;
	err = syscall_rows(a, a->direct, rows, hdr->count, false, true);
	return err || !a->files ? err : files_syscalls(a->files, rows, hdr->count);
}

/* Adds the threads' figures into a's (analyze_split). */
static void merge_parts(struct analysis *a)
{
	for (unsigned i = 0; i < a->nparts; i++) {
		for (size_t nr = 0; nr < ANALYZE_NR_DIRECT; nr++) {
			struct sc_stat *p = a->parts[i].direct[nr], *s = a->direct[nr];

			if (!p)
				continue;
			a->parts[i].direct[nr] = NULL;
			if (!s) {
				a->direct[nr] = p;
				continue;
			}
			s->calls += p->calls;
			s->errors += p->errors;
			s->noret += p->noret;
			p->hist.count = p->calls - p->noret; /* as ks_hist_merge wants it */
			ks_hist_merge(&s->hist, &p->hist);
			free(p);
		}
	}
}

int analyze_procs(struct analysis *a, const struct ks_proc *rows, size_t n)
{
	return replay_procs_add(&a->procs, rows, n);
}

int analyze_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct analysis *a = ctx;

	(void)seq;
	if (hdr->kind < KS_KIND_MAX) {
		a->events_read[hdr->kind] += hdr->count;
		a->segments[hdr->kind]++;
	}
	switch (hdr->kind) {
	case KS_KIND_SYSCALL: {
		int err;

		if (a->parts)
			return 0; /* analyze_each and analyze_ordered saw them */
		err = analyze_syscalls(a, rows, hdr->count);

		return err || !a->files ? err : files_syscalls(a->files, rows, hdr->count);
	}
	case KS_KIND_PROC:
		return analyze_procs(a, rows, hdr->count);
	case KS_KIND_SCHED:
		return sched_events(&a->sched, rows, hdr->count);
	case KS_KIND_SAMPLE:
		return sched_samples(&a->sched, rows, hdr->count);
	case KS_KIND_BLOCK:
		return blockio_rows(&a->blk, rows, hdr->count, &a->iob);
	case KS_KIND_NET:
		return net_rows(&a->net, rows, hdr->count, &a->iob);
	default:
		return 0;
	}
}

const struct sc_stat *analyze_find(const struct analysis *a, uint32_t nr)
{
	if (nr < ANALYZE_NR_DIRECT)
		return a->direct[nr];
	for (size_t i = 0; i <= ANALYZE_NR_FAR; i++)
		if (a->far[i] && a->far[i]->nr == nr)
			return a->far[i];
	return NULL;
}

static int by_total_time(const void *x, const void *y)
{
	const struct sc_stat *a = *(struct sc_stat *const *)x, *b = *(struct sc_stat *const *)y;

	if (a->hist.sum != b->hist.sum)
		return a->hist.sum > b->hist.sum ? -1 : 1;
	if (a->calls != b->calls)
		return a->calls > b->calls ? -1 : 1;
	return a->nr < b->nr ? -1 : a->nr > b->nr;
}

static int by_time(const void *x, const void *y)
{
	const struct slow_call *a = x, *b = y;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

/* Waiting on another traced task (a lock holder, a child; a shell's `wait` is a
 * sigsuspend until SIGCHLD): time the behaviour classifier does not charge to the
 * waiting thread. */
static bool waits_on_tasks(uint32_t nr)
{
	static const char *const names[] = { "futex", "futex_waitv", "futex_wait",
					     "wait4", "waitid", "rt_sigsuspend", "pause" };
	const char *n = ks_syscall_known_name(nr);

	for (size_t i = 0; n && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(n, names[i]))
			return true;
	return false;
}

/* The usec log2 slots, exactly, from the ns buckets: every slot boundary
 * (1000 * 2^k ns) is a bucket boundary, as 1000 * 2^k = 125 * 2^(k+3) is a multiple
 * of the 2^(k+2)-ns width of the buckets at that magnitude. */
static void derive_log2us(struct sc_stat *s)
{
	uint64_t lo, hi;

	memset(s->log2us, 0, sizeof(s->log2us));
	if (!s->hist.count)
		return;
	for (unsigned i = ks_hist_index(s->hist.min); i <= ks_hist_index(s->hist.max); i++) {
		if (!s->hist.bucket[i])
			continue;
		ks_hist_bucket_range(i, &lo, &hi);
		s->log2us[ks_log2_slot(lo / 1000)] += s->hist.bucket[i];
	}
}

static void add_sc(struct analysis *a, struct sc_stat *s)
{
	struct cat_stat *c = &a->cat[s->nr == ANALYZE_NR_MERGED ? KS_CAT_OTHER : s->cat];

	s->hist.count = s->calls - s->noret;
	derive_log2us(s);

	a->sorted[a->nsorted++] = s;
	a->calls += s->calls;
	a->errors += s->errors;
	a->ns += s->hist.sum;
	c->calls += s->calls;
	c->errors += s->errors;
	c->ns += s->hist.sum;
	for (unsigned i = 0; i < KS_LOG2_SLOTS; i++)
		c->log2us[i] += s->log2us[i];
	if (waits_on_tasks(s->nr))
		a->wait_ns += s->hist.sum;
}

int analyze_finish(struct analysis *a)
{
	int err;

	a->sorted = calloc(ANALYZE_NR_DIRECT + ANALYZE_NR_FAR + 1, sizeof(*a->sorted));
	if (!a->sorted)
		return -ENOMEM;
	merge_parts(a);
	for (size_t nr = 0; nr < ANALYZE_NR_DIRECT; nr++)
		if (a->direct[nr])
			add_sc(a, a->direct[nr]);
	for (size_t i = 0; i <= ANALYZE_NR_FAR; i++)
		if (a->far[i])
			add_sc(a, a->far[i]);
	ks_qsort(a->sorted, a->nsorted, sizeof(*a->sorted), by_total_time);

	a->first_ts = a->last_ts = 0;
	for (size_t i = 0; i < a->nthreads; i++) {
		const struct thread_stat *t = &a->threads[i];

		if (t->first_ts == UINT64_MAX)
			continue;
		if (!a->first_ts || t->first_ts < a->first_ts)
			a->first_ts = t->first_ts;
		if (t->last_ts > a->last_ts)
			a->last_ts = t->last_ts;
		if (t->last_ts > t->first_ts)
			a->thread_ns += t->last_ts - t->first_ts;
	}
	if (a->nslow > 1)
		ks_qsort(a->slow, a->nslow, sizeof(*a->slow), by_time);
	err = replay_procs_finish(&a->procs);
	return err;
}

void analyze_free(struct analysis *a)
{
	for (size_t nr = 0; nr < ANALYZE_NR_DIRECT; nr++)
		free(a->direct[nr]);
	for (size_t i = 0; i <= ANALYZE_NR_FAR; i++)
		free(a->far[i]);
	free(a->threads);
	ks_hmap_free(&a->tidmap);
	free(a->slow);
	free(a->sorted);
	for (unsigned i = 0; i < a->nparts; i++)
		for (size_t nr = 0; nr < ANALYZE_NR_DIRECT; nr++)
			free(a->parts[i].direct[nr]);
	free(a->parts);
	replay_procs_free(&a->procs);
	sched_free(&a->sched);
	blockio_free(&a->blk);
	net_free(&a->net);
	io_buckets_free(&a->iob);
	memset(a, 0, sizeof(*a));
}
