/* The scheduler analyser. Events are applied in the order the ring buffer delivered
 * them: for one task that order is causal (a task leaves one CPU before another
 * switches it in, and is woken before it is switched in), while timestamps taken on
 * different CPUs may disagree by a little, so a negative span counts as zero.
 * Per event: a direct-mapped cache finds the thread, a per-process cache finds the
 * current 1-second bucket; nothing is allocated in the common case.
 *
 * Definitions (the kernel's, as /proc/PID/status counts them):
 *   voluntary    a switch-out of a task that was not preempted and whose state is
 *                not TASK_RUNNING (it blocked). The final TASK_DEAD switch-out of
 *                an exiting thread is no switch at all: the kernel folds the
 *                thread's counts into its process (getrusage) before it.
 *   involuntary  a preempted task, or one still TASK_RUNNING (yield, resched on
 *                the way back to user space)
 *   run-queue latency  wake-up (or involuntary switch-out) to the next switch-in
 *                of that thread, as libbpf-tools' runqlat measures it
 *   time slice   one switch-in to switch-out interval; avg = on-CPU time / slices
 *   off-CPU      thread lifetime (first to last event, or the trace end while it
 *                lives) minus its on-CPU time, summed over the process's threads
 *   page faults  the thread's cumulative counter carried by its switch-outs: the
 *                last value per thread, summed per process; per bucket the increase;
 *                the time they took is estimated per slice (sched_fault_ns)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/sched.h"
#include "util/grow.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define NONE REPLAY_NONE
#define TCACHE_MASK (sizeof(((struct sched_analysis *)0)->tcache) / \
		     sizeof(((struct sched_analysis *)0)->tcache[0]) - 1)
#define SEC_NS 1000000000ll

int sched_init(struct sched_analysis *s, uint64_t lo, uint64_t range, bool has_pid,
	       uint32_t pid, uint64_t base)
{
	memset(s, 0, sizeof(*s));
	s->lo = lo;
	s->range = range;
	s->has_pid = has_pid;
	s->pid = pid;
	s->base = base;
	ks_hist_init(&s->runq);
	for (size_t i = 0; i <= TCACHE_MASK; i++)
		s->tcache[i] = NONE;
	return 0;
}

static inline bool in_window(const struct sched_analysis *s, uint64_t ts)
{
	return ts - s->lo <= s->range;
}

static inline uint64_t window_hi(const struct sched_analysis *s)
{
	return s->lo > UINT64_MAX - s->range ? UINT64_MAX : s->lo + s->range;
}

uint64_t sched_sec(const struct sched_analysis *s, uint64_t ts)
{
	int64_t e;

	if (ts > INT64_MAX)
		return (uint64_t)INT64_MAX / SEC_NS;
	if (__builtin_add_overflow((int64_t)ts, s->epoch_off, &e) || e < 0)
		return 0;
	return (uint64_t)(e / SEC_NS);
}

/* The CLOCK_MONOTONIC ts at which epoch second sec ends, or UINT64_MAX. */
static uint64_t sec_end(const struct sched_analysis *s, uint64_t sec)
{
	int64_t e;

	if (sec >= (uint64_t)INT64_MAX / SEC_NS - 1 ||
	    __builtin_sub_overflow((int64_t)(sec + 1) * SEC_NS, s->epoch_off, &e) || e < 0)
		return UINT64_MAX;
	return (uint64_t)e;
}

uint64_t sched_sec_last_ns(const struct sched_analysis *s, uint64_t sec)
{
	uint64_t end = sec_end(s, sec);

	return end ? end - 1 : 0;
}

static uint32_t proc_new(struct sched_analysis *s, uint32_t pid, uint64_t ts)
{
	struct sched_proc *p;
	uint32_t idx = (uint32_t)s->nprocs;

	if (KS_GROW(&s->procs, &s->capprocs, s->nprocs + 1) ||
	    s->nprocs >= NONE - 1)
		return NONE;
	p = &s->procs[idx];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->rec = NONE;
	p->older = replay_index(&s->pidmap, pid);
	p->first_ts = p->last_ts = ts;
	p->bucket_cache = NONE;
	if (ks_hmap_put(&s->pidmap, pid, idx))
		return NONE;
	s->nprocs++;
	return idx;
}

static __attribute__((noinline)) struct sched_thread *
thread_get_slow(struct sched_analysis *s, uint32_t tid, uint32_t pid, uint64_t ts, bool fresh)
{
	uint32_t idx = replay_index(&s->tidmap, tid), proc;
	bool first_of_tid = idx == NONE;
	struct sched_thread *t;

	if (idx != NONE && s->threads[idx].pid == pid && !s->threads[idx].dead)
		goto found;
	proc = replay_index(&s->pidmap, pid);
	if (proc == NONE || s->procs[proc].ended)
		proc = proc_new(s, pid, ts);
	if (proc == NONE ||
	    KS_GROW(&s->threads, &s->capthreads, s->nthreads + 1) ||
	    s->nthreads >= NONE - 1)
		return NULL;
	idx = (uint32_t)s->nthreads;
	if (ks_hmap_put(&s->tidmap, tid, idx))
		return NULL;
	s->nthreads++;
	t = &s->threads[idx];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->pid = pid;
	t->proc = proc;
	t->first_ts = t->last_ts = ts;
	/* A thread not born in the trace (no sched_wakeup_new: the command before its
	 * release, or a -p target) has lived since the trace start. */
	if (!fresh && first_of_tid && s->base && s->base < ts)
		t->first_ts = s->base;
	if (!fresh) {
		const uint64_t *floor = ks_hmap_get(&s->floors, pid);

		if (floor && *floor <= ts) {
			t->floor = *floor;
			if (t->first_ts < t->floor)
				t->first_ts = t->floor;
		}
	}
	s->procs[proc].nthreads++;
found:
	s->tcache[tid & TCACHE_MASK] = idx;
	return &s->threads[idx];
}

/* The live thread tid of process pid, made on first sight. NULL on ENOMEM. */
static inline struct sched_thread *thread_get(struct sched_analysis *s, uint32_t tid,
					      uint32_t pid, uint64_t ts, bool fresh)
{
	uint32_t idx = s->tcache[tid & TCACHE_MASK];
	struct sched_thread *t;

	if (likely(idx != NONE)) {
		t = &s->threads[idx];
		if (likely(t->tid == tid && t->pid == pid && !t->dead))
			return t;
	}
	return thread_get_slow(s, tid, pid, ts, fresh);
}

/* The map key of bucket (proc, sec). proc takes all 32 bits and a hostile clock
 * takes sec to 2^33 (sched_sec), so no packing is exact: this one is while sec <
 * 2^32 (until 2106), and the entries of a key are walked comparing both fields. */
static inline uint64_t bucket_key(uint32_t proc, uint64_t sec)
{
	return sec << 32 ^ proc;
}

static __attribute__((noinline)) struct sched_bucket *
bucket_get_slow(struct sched_analysis *s, uint32_t proc, uint64_t ts, int *err)
{
	struct sched_proc *p = &s->procs[proc];
	uint64_t sec = sched_sec(s, ts), end = sec_end(s, sec);
	struct sched_bucket *b;
	uint64_t key, *v;

	key = bucket_key(proc, sec);
	for (v = ks_hmap_get(&s->bucket_map, key); v; v = ks_hmap_next(&s->bucket_map, key, v)) {
		b = &s->buckets[*v];
		if (b->proc == proc && b->sec == sec)
			goto found;
	}
	if (s->nbuckets >= SCHED_BUCKETS_MAX) {
		s->bucket_misses++;
		return NULL;
	}
	if (KS_GROW(&s->buckets, &s->capbuckets, s->nbuckets + 1) ||
	    ks_hmap_add(&s->bucket_map, key, s->nbuckets))
		goto nomem;
	b = &s->buckets[s->nbuckets++];
	memset(b, 0, sizeof(*b));
	b->sec = sec;
	b->proc = proc;
	b->pid = p->pid;
found:
	/* Cached as the CLOCK_MONOTONIC span of that second, when it is a whole one
	 * (not the clamped edges of a hostile or offset-less clock). */
	p->bucket_cache = end != UINT64_MAX && end >= (uint64_t)SEC_NS && sched_sec(s, end - SEC_NS) == sec ?
		(uint32_t)(b - s->buckets) : NONE;
	p->sec_lo = end - (uint64_t)SEC_NS;
	return b;
nomem:
	*err = -ENOMEM;
	return NULL;
}

/* The bucket of process proc for the second of ts; NULL past the cap (counted) or
 * on ENOMEM (*err set). */
static inline struct sched_bucket *bucket_get(struct sched_analysis *s, uint32_t proc,
					      uint64_t ts, int *err)
{
	const struct sched_proc *p = &s->procs[proc];

	if (likely(p->bucket_cache != NONE && ts - p->sec_lo < (uint64_t)SEC_NS))
		return &s->buckets[p->bucket_cache];
	return bucket_get_slow(s, proc, ts, err);
}

/* Adds the part of [from, to) inside the window to t's on-CPU time and to the
 * buckets of the seconds it spans. Returns the time added. */
static uint64_t account_cpu(struct sched_analysis *s, struct sched_thread *t, uint64_t from,
			    uint64_t to, int *err)
{
	uint64_t hi = window_hi(s), d;
	const struct sched_proc *p;
	/* Seconds worth visiting: no more than could still get a bucket, so a hostile
	 * span of years costs at most the cap once. */
	size_t steps = 0, max_steps = SCHED_BUCKETS_MAX - s->nbuckets + 2;

	if (from < s->lo)
		from = s->lo;
	if (from < t->floor)
		from = t->floor;
	if (to > hi)
		to = hi;
	if (to <= from)
		return 0;
	d = to - from;
	t->c.on_ns += d;
	p = &s->procs[t->proc];
	/* Most slices fall inside the second of the process's last event. */
	if (likely(p->bucket_cache != NONE && from - p->sec_lo < (uint64_t)SEC_NS &&
		   to - p->sec_lo <= (uint64_t)SEC_NS)) {
		s->buckets[p->bucket_cache].cpu_ns += d;
		return d;
	}
	while (from < to) {
		uint64_t sec = sched_sec(s, from), end = sec_end(s, sec), upto;
		struct sched_bucket *b;

		upto = end > from && end < to ? end : to;
		if (++steps > max_steps) {
			s->bucket_misses++;
			break;
		}
		b = bucket_get(s, t->proc, from, err);
		if (b)
			b->cpu_ns += upto - from;
		from = upto;
	}
	return d;
}

static int add_runq(struct sched_analysis *s, struct sched_thread *t, uint64_t lat)
{
	struct sched_proc *p = &s->procs[t->proc];

	t->c.runq_ns += lat;
	t->c.runq_n++;
	ks_hist_add(&s->runq, lat);
	s->runq_log2us[ks_log2_slot(lat / 1000)]++;
	if (unlikely(!p->runq)) {
		p->runq = malloc(sizeof(*p->runq));
		if (!p->runq)
			return -ENOMEM;
		ks_chist_init(p->runq);
	}
	ks_chist_add(p->runq, lat);
	return 0;
}

static int switch_out(struct sched_analysis *s, const struct ks_sched *e)
{
	uint32_t state = e->prev_state & ~KS_SCHED_PREEMPTED;
	bool preempted = e->prev_state & KS_SCHED_PREEMPTED;
	bool dead = state == SCHED_TASK_DEAD && !preempted, vol = !preempted && state && !dead;
	struct sched_thread *t = thread_get(s, e->prev_tid, e->prev_pid, e->ts, false);
	uint64_t ts = e->ts, ran = 0, faults;
	bool was_on;
	int err = 0;

	if (unlikely(!t))
		return -ENOMEM;
	if (unlikely(!t->seen) && t->first_ts < ts) {
		/* Its first event: it was on a CPU when the trace began. */
		t->on_cpu = true;
		t->in_ts = t->first_ts;
	}
	t->seen = true;
	was_on = t->on_cpu;
	if (likely(was_on)) {
		ran = account_cpu(s, t, t->in_ts, ts, &err);
		t->on_cpu = false;
	}
	faults = e->faults >= t->faults_last ? e->faults - t->faults_last : e->faults;
	t->faults_last = e->faults;
	if (ts > t->last_ts)
		t->last_ts = ts;
	/* Blocked: off the run queue until woken. Still runnable: queued from now. */
	t->wake_ts = vol ? 0 : ts;
	if (dead) {
		t->dead = true;
		if (t->tid == t->pid)
			s->procs[t->proc].ended = true;
	}
	if (in_window(s, ts)) {
		struct sched_bucket *b = bucket_get(s, t->proc, ts, &err);

		t->c.switches += !dead;
		t->c.slices += was_on;
		t->c.vol += vol;
		t->c.invol += !vol && !dead;
		t->c.faults += faults;
		t->c.fault_ns += sched_fault_ns(ran, faults);
		if (b) {
			b->switches += !dead;
			b->slices += was_on;
			b->vol += vol;
			b->invol += !vol && !dead;
			b->faults += faults;
		}
	} else if (ran) {
		t->c.slices++; /* a slice that began in the window */
		t->c.fault_ns += sched_fault_ns(ran, faults);
	}
	return err;
}

static int switch_in(struct sched_analysis *s, const struct ks_sched *e)
{
	struct sched_thread *t = thread_get(s, e->next_tid, e->next_pid, e->ts, false);
	uint64_t ts = e->ts;

	if (unlikely(!t))
		return -ENOMEM;
	if (unlikely(t->on_cpu))
		s->lost_slices++; /* its switch-out is missing: that slice's end is unknown */
	t->seen = true;
	t->on_cpu = true;
	t->in_ts = ts;
	t->cpu = e->cpu;
	if (ts > t->last_ts)
		t->last_ts = ts;
	if (t->wake_ts) {
		uint64_t lat = ts > t->wake_ts ? ts - t->wake_ts : 0;

		t->wake_ts = 0;
		if (in_window(s, ts))
			return add_runq(s, t, lat);
	}
	return 0;
}

static int wakeup(struct sched_analysis *s, const struct ks_sched *e)
{
	struct sched_thread *t = thread_get(s, e->prev_tid, e->prev_pid, e->ts,
					    e->what == KS_SCHED_WAKEUP_NEW);
	int err = 0;

	if (unlikely(!t))
		return -ENOMEM;
	t->seen = true;
	/* Woken before it got to sleep, it never left the CPU: no queueing. */
	if (!t->on_cpu)
		t->wake_ts = e->ts;
	if (e->ts > t->last_ts)
		t->last_ts = e->ts;
	if (in_window(s, e->ts)) {
		struct sched_bucket *b = bucket_get(s, t->proc, e->ts, &err);

		t->c.wakeups++;
		if (b)
			b->wakeups++;
	}
	return err;
}

int sched_set_floor(struct sched_analysis *s, uint32_t pid, uint64_t ts)
{
	return ks_hmap_put(&s->floors, pid, ts);
}

int sched_events(struct sched_analysis *s, const struct ks_sched *e, size_t n)
{
	const bool has_pid = s->has_pid || s->pids;
	const uint32_t want = s->pid;
	int err = 0;
#define WANTED(pid) (!has_pid || replay_pid_wanted(true, want, s->pids, (pid)))

	s->events += n;
	for (const struct ks_sched *end = e + n; e < end && !err; e++) {
		switch (e->what) {
		case KS_SCHED_SWITCH:
			if (e->prev_tid && WANTED(e->prev_pid))
				err = switch_out(s, e);
			if (!err && e->next_tid && WANTED(e->next_pid))
				err = switch_in(s, e);
			break;
		case KS_SCHED_WAKEUP:
		case KS_SCHED_WAKEUP_NEW:
			if (e->prev_tid && WANTED(e->prev_pid))
				err = wakeup(s, e);
			break;
		default:
			break;
		}
	}
	return err;
#undef WANTED
}

/* The process entry pid had at ts (made when there is none). */
static uint32_t proc_at(struct sched_analysis *s, uint32_t pid, uint64_t ts)
{
	uint32_t i = replay_index(&s->pidmap, pid);

	if (i == NONE)
		return proc_new(s, pid, ts);
	while (s->procs[i].first_ts > ts && s->procs[i].older != NONE)
		i = s->procs[i].older;
	return i;
}

static void cum_add(struct sched_cum *c, uint64_t v, bool before)
{
	if (before)
		c->before = v;
	else if (v > c->max)
		c->max = v;
}

int sched_samples(struct sched_analysis *s, const struct ks_sample *r, size_t n)
{
	s->samples += n;
	for (const struct ks_sample *end = r + n; r < end; r++) {
		struct sched_proc *p;
		uint32_t i;
		bool before;

		if (!replay_pid_wanted(s->has_pid, s->pid, s->pids, r->pid))
			continue;
		if (!in_window(s, r->ts) && r->ts > s->lo)
			continue; /* after the window */
		i = proc_at(s, r->pid, r->ts);
		if (i == NONE)
			return -ENOMEM;
		p = &s->procs[i];
		before = r->ts < s->lo;
		cum_add(&p->read_bytes, r->read_bytes, before);
		cum_add(&p->write_bytes, r->write_bytes, before);
		cum_add(&p->rchar, r->rchar, before);
		cum_add(&p->wchar, r->wchar, before);
		cum_add(&p->minflt, r->minflt, before);
		cum_add(&p->majflt, r->majflt, before);
		if (before)
			continue;
		if (!p->samples++)
			p->first_rss_kb = r->rss_kb;
		if (r->rss_kb > p->peak_rss_kb)
			p->peak_rss_kb = r->rss_kb;
		if (r->vsz_kb > p->peak_vsz_kb)
			p->peak_vsz_kb = r->vsz_kb;
		if (r->threads > p->max_threads)
			p->max_threads = r->threads;
		if (r->cpu_ns > p->cpu_ns)
			p->cpu_ns = r->cpu_ns;
	}
	return 0;
}

static void counts_add(struct sched_counts *d, const struct sched_counts *c)
{
	d->on_ns += c->on_ns;
	d->slices += c->slices;
	d->switches += c->switches;
	d->vol += c->vol;
	d->invol += c->invol;
	d->wakeups += c->wakeups;
	d->runq_ns += c->runq_ns;
	d->runq_n += c->runq_n;
	d->faults += c->faults;
	d->fault_ns += c->fault_ns;
	d->life_ns += c->life_ns;
}

static void cum_merge(struct sched_cum *d, const struct sched_cum *c)
{
	if (c->max > d->max)
		d->max = c->max;
	if (c->before > d->before)
		d->before = c->before;
}

/* Adds process entry src into dst (two entries of one record). */
static int proc_merge(struct sched_proc *d, struct sched_proc *src)
{
	counts_add(&d->c, &src->c);
	d->off_ns += src->off_ns;
	d->nthreads += src->nthreads;
	if (src->first_ts < d->first_ts)
		d->first_ts = src->first_ts;
	if (src->last_ts > d->last_ts)
		d->last_ts = src->last_ts;
	if (src->runq) {
		if (!d->runq) {
			d->runq = src->runq;
			src->runq = NULL;
		} else {
			ks_chist_merge(d->runq, src->runq);
		}
	}
	if (src->samples) {
		if (!d->samples || src->first_ts < d->first_ts)
			d->first_rss_kb = src->first_rss_kb;
		d->samples += src->samples;
		if (src->peak_rss_kb > d->peak_rss_kb)
			d->peak_rss_kb = src->peak_rss_kb;
		if (src->peak_vsz_kb > d->peak_vsz_kb)
			d->peak_vsz_kb = src->peak_vsz_kb;
		if (src->max_threads > d->max_threads)
			d->max_threads = src->max_threads;
		if (src->cpu_ns > d->cpu_ns)
			d->cpu_ns = src->cpu_ns;
	}
	cum_merge(&d->read_bytes, &src->read_bytes);
	cum_merge(&d->write_bytes, &src->write_bytes);
	cum_merge(&d->rchar, &src->rchar);
	cum_merge(&d->wchar, &src->wchar);
	cum_merge(&d->minflt, &src->minflt);
	cum_merge(&d->majflt, &src->majflt);
	src->merged = true;
	return 0;
}

/* Matches every process entry with the record of its pid that had started by its
 * first event (the latest such), else the pid's earliest record (a command's first
 * events come before its exec, the event its record starts at). */
static int match_records(struct sched_analysis *s, const struct replay_procs *rp)
{
	uint32_t *prev = NULL;
	struct ks_hmap last = { 0 };
	int err = 0;

	s->nrec = rp->n;
	s->rec_proc = calloc(rp->n ? rp->n : 1, sizeof(*s->rec_proc));
	prev = calloc(rp->n ? rp->n : 1, sizeof(*prev));
	if (!s->rec_proc || !prev) {
		err = -ENOMEM;
		goto out;
	}
	memset(s->rec_proc, 0xff, (rp->n ? rp->n : 1) * sizeof(*s->rec_proc));
	for (size_t i = 0; i < rp->n; i++) {
		prev[i] = replay_index(&last, rp->v[i].pid);
		if ((err = ks_hmap_put(&last, rp->v[i].pid, (uint32_t)i)))
			goto out;
	}
	for (size_t i = 0; i < s->nprocs; i++) {
		struct sched_proc *p = &s->procs[i];
		uint32_t r = replay_index(&last, p->pid), pick = NONE;

		for (; r != NONE; r = prev[r]) {
			pick = r;
			if (rp->v[r].start_ts <= p->first_ts)
				break;
		}
		if (pick == NONE)
			continue;
		p->rec = pick;
		if (s->rec_proc[pick] == NONE)
			s->rec_proc[pick] = (uint32_t)i;
		else
			proc_merge(&s->procs[s->rec_proc[pick]], p);
	}
out:
	free(prev);
	ks_hmap_free(&last);
	return err;
}

static int by_sec_pid(const void *x, const void *y)
{
	const struct sched_bucket *a = x, *b = y;

	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return a->proc < b->proc ? -1 : a->proc > b->proc;
}

/* Sorts the buckets by (second, pid) and joins the rows of one pid in one second
 * (two entries of one process, or a pid reused within a second). */
static void sort_buckets(struct sched_analysis *s)
{
	size_t n = 0;

	ks_hmap_free(&s->bucket_map);
	if (s->nbuckets > 1)
		ks_qsort(s->buckets, s->nbuckets, sizeof(*s->buckets), by_sec_pid);
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct sched_bucket *b = &s->buckets[i], *d;

		if (n && (d = &s->buckets[n - 1])->sec == b->sec && d->pid == b->pid) {
			d->switches += b->switches;
			d->vol += b->vol;
			d->invol += b->invol;
			d->wakeups += b->wakeups;
			d->cpu_ns += b->cpu_ns;
			d->slices += b->slices;
			d->faults += b->faults;
			continue;
		}
		s->buckets[n++] = *b;
	}
	s->nbuckets = n;
	for (size_t i = 0; i < s->nprocs; i++)
		s->procs[i].bucket_cache = NONE;
}

int sched_finish(struct sched_analysis *s, uint64_t end_ts, const struct replay_procs *rp)
{
	uint64_t hi = window_hi(s);
	int err = 0;

	s->end_ts = end_ts;
	for (size_t i = 0; i < s->nthreads; i++) {
		struct sched_thread *t = &s->threads[i];
		uint64_t first = t->first_ts, last = t->dead ? t->last_ts : end_ts;

		if (t->on_cpu && end_ts > t->in_ts) {
			if (account_cpu(s, t, t->in_ts, end_ts, &err))
				t->c.slices++;
			t->on_cpu = false;
		}
		if (last < t->last_ts)
			last = t->last_ts;
		first = first < s->lo ? s->lo : first;
		last = last > hi ? hi : last;
		t->c.life_ns = last > first ? last - first : 0;
		counts_add(&s->procs[t->proc].c, &t->c);
		s->procs[t->proc].off_ns += t->c.life_ns > t->c.on_ns ? t->c.life_ns - t->c.on_ns : 0;
		if (t->first_ts < s->procs[t->proc].first_ts)
			s->procs[t->proc].first_ts = t->first_ts;
		if (t->last_ts > s->procs[t->proc].last_ts)
			s->procs[t->proc].last_ts = t->last_ts;
	}
	if (err)
		return err;
	if ((err = match_records(s, rp)))
		return err;
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct sched_proc *p = &s->procs[i];

		if (p->merged)
			continue;
		counts_add(&s->total, &p->c);
		s->off_ns += p->off_ns;
		s->peak_rss_kb += p->peak_rss_kb;
		if (p->peak_rss_kb > p->first_rss_kb)
			s->rss_growth_kb += p->peak_rss_kb - p->first_rss_kb;
	}
	sort_buckets(s);
	return 0;
}

const struct sched_proc *sched_find_record(const struct sched_analysis *s, uint32_t rec)
{
	if (rec >= s->nrec || s->rec_proc[rec] == NONE)
		return NULL;
	return &s->procs[s->rec_proc[rec]];
}

const struct sched_proc *sched_find_pid(const struct sched_analysis *s, uint32_t pid)
{
	uint32_t i = replay_index(&s->pidmap, pid);

	if (i == NONE)
		return NULL;
	/* Merged into its record's first entry. */
	if (s->procs[i].merged && s->procs[i].rec != NONE)
		return sched_find_record(s, s->procs[i].rec);
	return &s->procs[i];
}

void sched_free(struct sched_analysis *s)
{
	for (size_t i = 0; i < s->nprocs; i++)
		free(s->procs[i].runq);
	free(s->threads);
	free(s->procs);
	free(s->buckets);
	ks_hmap_free(&s->bucket_map);
	free(s->rec_proc);
	ks_hmap_free(&s->tidmap);
	ks_hmap_free(&s->pidmap);
	ks_hmap_free(&s->floors);
	memset(s, 0, sizeof(*s));
}
