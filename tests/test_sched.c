/* Unit tests of the scheduler analysis (replay/sched.c) and what the report makes of
 * it: hand-made event sequences with figures worked out by hand, a simulated
 * two-CPU scheduler whose own bookkeeping is the oracle for every per-thread
 * figure, 1-second buckets across second boundaries, the --time and --pid
 * selections, pid reuse, /proc samples, bounded memory on hostile input, the
 * compact histogram against a sorted array, the behaviour classes with scheduler
 * figures, and a trace written with the real store and codec reported end to end
 * (processes[], sched.buckets[], execs[], the text sections). REPLAY_BENCH=1 adds
 * a throughput measurement of the scheduler aggregation. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "format/event.h"
#include "format/segment.h"
#include "replay/analyze.h"
#include "replay/behavior.h"
#include "replay/hist.h"
#include "replay/report.h"
#include "replay/sched.h"
#include "replay/trace.h"
#include "store/store.h"

#define BASE 1000000000000ull               /* trace start, CLOCK_MONOTONIC */
#define EPOCH_AT_BASE 1700000000000000000ll /* 2023-11-14 22:13:20 UTC, a whole second */
#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull
#define PREEMPT KS_SCHED_PREEMPTED
#define SLEEPING 1 /* TASK_INTERRUPTIBLE */
#define DISK 2     /* TASK_UNINTERRUPTIBLE */

static char tmpdir[64];

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sched.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct ks_sched sw(uint64_t ts, uint32_t cpu, uint32_t ppid, uint32_t ptid, uint32_t state,
			  uint32_t faults, uint32_t npid, uint32_t ntid)
{
	return (struct ks_sched){ .ts = ts, .what = KS_SCHED_SWITCH, .cpu = cpu, .prev_pid = ppid,
				  .prev_tid = ptid, .next_pid = npid, .next_tid = ntid,
				  .prev_state = state, .faults = faults };
}

static struct ks_sched wk(uint64_t ts, uint32_t cpu, uint32_t pid, uint32_t tid, bool fresh)
{
	return (struct ks_sched){ .ts = ts, .what = fresh ? KS_SCHED_WAKEUP_NEW : KS_SCHED_WAKEUP,
				  .cpu = cpu, .prev_pid = pid, .prev_tid = tid };
}

static const struct sched_thread *find_thread(const struct sched_analysis *s, uint32_t tid)
{
	const struct sched_thread *found = NULL;

	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			found = &s->threads[i];
	return found;
}

static struct sched_analysis *new_sched(uint64_t lo, uint64_t range, bool has_pid, uint32_t pid)
{
	struct sched_analysis *s = malloc(sizeof(*s));

	assert_non_null(s);
	sched_init(s, lo, range, has_pid, pid, BASE);
	s->epoch_off = EPOCH_AT_BASE - (int64_t)BASE;
	return s;
}

static void done_sched(struct sched_analysis *s)
{
	sched_free(s);
	free(s);
}

/* ---- figures worked out by hand ------------------------------------------ */

/* Process 10 (threads 10 and 11), process 20; all times from BASE. */
static const struct ks_sched hand[] = {
	/* 10 is running since before the trace: its first event is a switch-out. */
	{ .ts = BASE + 1 * MS, .what = KS_SCHED_SWITCH, .cpu = 0, .prev_pid = 10, .prev_tid = 10,
	  .prev_state = PREEMPT, .faults = 100, .next_pid = 20, .next_tid = 20 },
	{ .ts = BASE + 1 * MS + 500 * US, .what = KS_SCHED_WAKEUP_NEW, .cpu = 0, .prev_pid = 10,
	  .prev_tid = 11 },
	{ .ts = BASE + 2 * MS, .what = KS_SCHED_SWITCH, .cpu = 1, .next_pid = 10, .next_tid = 11 },
	{ .ts = BASE + 3 * MS, .what = KS_SCHED_SWITCH, .cpu = 0, .prev_pid = 20, .prev_tid = 20,
	  .prev_state = SLEEPING, .faults = 7, .next_pid = 10, .next_tid = 10 },
	{ .ts = BASE + 5 * MS, .what = KS_SCHED_SWITCH, .cpu = 1, .prev_pid = 10, .prev_tid = 11,
	  .prev_state = 0, .faults = 3 }, /* yield, nothing else to run: involuntary */
	{ .ts = BASE + 6 * MS, .what = KS_SCHED_WAKEUP, .cpu = 1, .prev_pid = 20, .prev_tid = 20 },
	{ .ts = BASE + 6 * MS + 100 * US, .what = KS_SCHED_SWITCH, .cpu = 1, .next_pid = 20,
	  .next_tid = 20 },
	{ .ts = BASE + 7 * MS, .what = KS_SCHED_SWITCH, .cpu = 1, .prev_pid = 20, .prev_tid = 20,
	  .prev_state = SCHED_TASK_DEAD, .faults = 9 },
	{ .ts = BASE + 8 * MS, .what = KS_SCHED_SWITCH, .cpu = 0, .prev_pid = 10, .prev_tid = 10,
	  .prev_state = DISK, .faults = 130, .next_pid = 10, .next_tid = 11 },
	/* 10 woken while 11 is still on a CPU: its wait runs until the trace end. */
	{ .ts = BASE + 9 * MS, .what = KS_SCHED_WAKEUP, .cpu = 0, .prev_pid = 10, .prev_tid = 10 },
};

static void test_sched_by_hand(void **state)
{
	struct sched_analysis *s = new_sched(0, UINT64_MAX, false, 0);
	struct replay_procs procs = { 0 };
	const struct sched_thread *t;
	const struct sched_proc *p;

	(void)state;
	assert_int_equal(sched_events(s, hand, sizeof(hand) / sizeof(hand[0])), 0);
	assert_int_equal(sched_finish(s, BASE + 10 * MS, &procs), 0);
	assert_int_equal(s->nthreads, 3);
	assert_int_equal(s->nprocs, 2);

	t = find_thread(s, 10);
	/* [0, 1] ms (since the trace start) + [3, 8] ms */
	assert_int_equal(t->c.on_ns, 6 * MS);
	assert_int_equal(t->c.slices, 2);
	assert_int_equal(t->c.switches, 2);
	assert_int_equal(t->c.vol, 1);
	assert_int_equal(t->c.invol, 1);
	assert_int_equal(t->c.wakeups, 1);
	assert_int_equal(t->c.runq_n, 1); /* preempted at 1 ms, back at 3 ms */
	assert_int_equal(t->c.runq_ns, 2 * MS);
	assert_int_equal(t->c.faults, 130);
	assert_int_equal(t->c.life_ns, 10 * MS); /* alive at the end */

	t = find_thread(s, 11);
	/* [2, 5] + [8, 10 = the end] */
	assert_int_equal(t->c.on_ns, 5 * MS);
	assert_int_equal(t->c.slices, 2);
	assert_int_equal(t->c.switches, 1);
	assert_int_equal(t->c.invol, 1);
	assert_int_equal(t->c.wakeups, 1); /* wakeup_new */
	/* woken at 1.5, in at 2; yielded at 5, in at 8 */
	assert_int_equal(t->c.runq_n, 2);
	assert_int_equal(t->c.runq_ns, 500 * US + 3 * MS);
	assert_int_equal(t->c.faults, 3);
	assert_int_equal(t->c.life_ns, 10 * MS - 1500 * US);

	t = find_thread(s, 20);
	/* first seen switching in at 1 ms: [1, 3] + [6.1, 7] */
	assert_int_equal(t->c.on_ns, 2 * MS + 900 * US);
	assert_int_equal(t->c.vol, 1); /* slept, then died: its death is no switch */
	assert_int_equal(t->c.runq_ns, 100 * US);
	assert_int_equal(t->c.faults, 9);
	assert_int_equal(t->c.life_ns, 7 * MS); /* the trace start to its death */
	assert_true(t->dead);

	p = sched_find_pid(s, 10);
	assert_non_null(p);
	assert_int_equal(p->nthreads, 2);
	assert_int_equal(p->c.on_ns, 11 * MS);
	assert_int_equal(p->c.switches, 3);
	assert_int_equal(p->c.vol, 1);
	assert_int_equal(p->c.invol, 2);
	assert_int_equal(p->c.faults, 133);
	assert_int_equal(p->off_ns, (10 * MS - 6 * MS) + (8500 * US - 5 * MS));
	assert_int_equal(p->runq->count, 3);
	assert_true(p->ended == false);
	p = sched_find_pid(s, 20);
	assert_true(p->ended);
	assert_int_equal(p->rec, REPLAY_NONE); /* no process records */

	assert_int_equal(s->total.on_ns, 11 * MS + 2900 * US);
	assert_int_equal(s->total.switches, 4);
	assert_int_equal(s->runq.count, 4);
	assert_int_equal(s->runq_log2us[ks_log2_slot(500)], 1); /* 500 us */
	assert_int_equal(s->runq_log2us[ks_log2_slot(100)], 1);
	assert_int_equal(s->lost_slices, 0);

	/* Everything falls in one second: one bucket per process. */
	assert_int_equal(s->nbuckets, 2);
	assert_int_equal(s->buckets[0].sec, EPOCH_AT_BASE / (int64_t)SEC);
	assert_int_equal(s->buckets[0].pid, 10);
	assert_int_equal(s->buckets[0].cpu_ns, 11 * MS);
	assert_int_equal(s->buckets[0].switches, 3);
	assert_int_equal(s->buckets[0].faults, 133);
	assert_int_equal(s->buckets[0].wakeups, 2);
	assert_int_equal(s->buckets[1].pid, 20);
	assert_int_equal(s->buckets[1].vol, 1);
	done_sched(s);
}

/* A slice over two second boundaries is split between three buckets; a switch-in
 * without the switch-out before it is counted as a lost slice. */
static void test_sched_buckets_split(void **state)
{
	struct sched_analysis *s = new_sched(0, UINT64_MAX, false, 0);
	struct replay_procs procs = { 0 };
	const uint64_t sec0 = EPOCH_AT_BASE / (int64_t)SEC;
	struct ks_sched ev[] = {
		wk(BASE + 900 * MS, 0, 5, 5, true),
		sw(BASE + 900 * MS, 0, 0, 0, 0, 0, 5, 5),
		sw(BASE + 2 * SEC + 100 * MS, 0, 5, 5, PREEMPT, 0, 0, 0),
		sw(BASE + 2 * SEC + 200 * MS, 1, 0, 0, 0, 0, 5, 5),
		sw(BASE + 2 * SEC + 300 * MS, 1, 0, 0, 0, 0, 5, 5), /* lost a switch-out */
		sw(BASE + 2 * SEC + 400 * MS, 1, 5, 5, SLEEPING, 0, 0, 0),
	};
	uint64_t cpu = 0, sw_total = 0;

	(void)state;
	assert_int_equal(sched_events(s, ev, sizeof(ev) / sizeof(ev[0])), 0);
	assert_int_equal(sched_finish(s, BASE + 3 * SEC, &procs), 0);
	assert_int_equal(s->lost_slices, 1);
	assert_int_equal(s->nbuckets, 3);
	assert_int_equal(s->buckets[0].sec, sec0);
	assert_int_equal(s->buckets[0].cpu_ns, 100 * MS);
	assert_int_equal(s->buckets[0].wakeups, 1);
	assert_int_equal(s->buckets[1].sec, sec0 + 1);
	assert_int_equal(s->buckets[1].cpu_ns, SEC);
	assert_int_equal(s->buckets[1].switches, 0);
	assert_int_equal(s->buckets[2].sec, sec0 + 2);
	assert_int_equal(s->buckets[2].cpu_ns, 100 * MS + 100 * MS);
	assert_int_equal(s->buckets[2].switches, 2);
	assert_int_equal(s->buckets[2].slices, 2);
	for (size_t i = 0; i < s->nbuckets; i++) {
		cpu += s->buckets[i].cpu_ns;
		sw_total += s->buckets[i].switches;
	}
	assert_int_equal(cpu, s->total.on_ns);
	assert_int_equal(sw_total, s->total.switches);
	assert_int_equal(sched_sec(s, BASE + SEC - 1), sec0);
	assert_int_equal(sched_sec(s, BASE + SEC), sec0 + 1);
	assert_int_equal(sched_sec_last_ns(s, sec0), BASE + SEC - 1);
	done_sched(s);
}

/* ---- a simulated scheduler as the oracle --------------------------------- */

enum { SIM_THREADS = 40, SIM_CPUS = 2, SIM_STEPS = 200000 };

struct sim_thread {
	uint32_t tid, pid;
	int state; /* 0 unborn, 1 runnable, 2 running, 3 sleeping, 4 dead */
	int cpu;
	uint64_t since, queued, born, died;
	uint32_t faults;
	struct sched_counts want;
};

struct sim {
	struct sim_thread t[SIM_THREADS];
	int on[SIM_CPUS]; /* thread index, or -1 idle / untraced */
	struct ks_sched *ev;
	size_t n, cap;
	uint64_t now, seed;
};

static void emit(struct sim *m, struct ks_sched e)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 4096;
		m->ev = realloc(m->ev, m->cap * sizeof(*m->ev));
		assert_non_null(m->ev);
	}
	m->ev[m->n++] = e;
}

/* Switches cpu from whatever runs there to thread in (-1: idle or untraced). */
static void sim_switch(struct sim *m, int cpu, int in, uint32_t state)
{
	int out = m->on[cpu];
	struct ks_sched e = sw(m->now, (uint32_t)cpu, 0, 0, state, 0, 0, 0);

	if (out >= 0) {
		struct sim_thread *t = &m->t[out];
		bool dead = (state & ~PREEMPT) == SCHED_TASK_DEAD && !(state & PREEMPT);
		bool vol = !(state & PREEMPT) && (state & ~PREEMPT) && !dead;

		t->want.on_ns += m->now - t->since;
		t->want.slices++;
		/* the last switch-out of a dead thread is no switch (getrusage) */
		t->want.switches += !dead;
		t->want.vol += vol;
		t->want.invol += !vol && !dead;
		t->faults += (uint32_t)(rng_next(&m->seed) % 50);
		t->want.faults = t->faults;
		e.prev_pid = t->pid;
		e.prev_tid = t->tid;
		e.faults = t->faults;
		if ((state & ~PREEMPT) == SCHED_TASK_DEAD) {
			t->state = 4;
			t->died = m->now;
		} else if (vol) {
			t->state = 3;
		} else {
			t->state = 1;
			t->queued = m->now;
		}
	}
	if (in >= 0) {
		struct sim_thread *t = &m->t[in];

		e.next_pid = t->pid;
		e.next_tid = t->tid;
		t->want.runq_ns += m->now - t->queued;
		t->want.runq_n++;
		t->state = 2;
		t->cpu = cpu;
		t->since = m->now;
	}
	m->on[cpu] = in;
	if (e.prev_tid || e.next_tid)
		emit(m, e);
}

static int sim_pick(struct sim *m, int state)
{
	int start = (int)(rng_next(&m->seed) % SIM_THREADS);

	for (int k = 0; k < SIM_THREADS; k++) {
		int i = (start + k) % SIM_THREADS;

		if (m->t[i].state == state)
			return i;
	}
	return -1;
}

static void simulate(struct sim *m)
{
	memset(m, 0, sizeof(*m));
	m->seed = 2024;
	m->now = BASE;
	for (int c = 0; c < SIM_CPUS; c++)
		m->on[c] = -1;
	for (int i = 0; i < SIM_THREADS; i++) {
		m->t[i].tid = 1000 + (uint32_t)i;
		m->t[i].pid = 1000 + (uint32_t)(i / 4) * 4; /* 4 threads per process */
	}
	for (int step = 0; step < SIM_STEPS; step++) {
		uint64_t r = rng_next(&m->seed);
		int cpu = (int)(r % SIM_CPUS), i;

		m->now += 1 + (r >> 8) % (200 * US);
		switch ((r >> 40) % 8) {
		case 0: /* a thread is born */
			if ((i = sim_pick(m, 0)) >= 0) {
				m->t[i].state = 1;
				m->t[i].born = m->t[i].queued = m->now;
				m->t[i].want.wakeups++;
				emit(m, wk(m->now, (uint32_t)cpu, m->t[i].pid, m->t[i].tid, true));
			}
			break;
		case 1: /* a sleeper is woken */
			if ((i = sim_pick(m, 3)) >= 0) {
				m->t[i].state = 1;
				m->t[i].queued = m->now;
				m->t[i].want.wakeups++;
				emit(m, wk(m->now, (uint32_t)cpu, m->t[i].pid, m->t[i].tid, false));
			}
			break;
		case 2: /* the running one blocks */
		case 3: /* ... or is preempted, or yields */
			i = sim_pick(m, 1);
			sim_switch(m, cpu, i, (r >> 40) % 8 == 2 ? (r & 1 ? SLEEPING : DISK) :
					      (r & 1 ? PREEMPT : 0));
			break;
		case 4: /* an idle CPU takes a runnable thread */
			if (m->on[cpu] < 0 && (i = sim_pick(m, 1)) >= 0)
				sim_switch(m, cpu, i, 0);
			break;
		case 5: /* an untraced task takes the CPU */
			if (m->on[cpu] >= 0)
				sim_switch(m, cpu, -1, r & 1 ? PREEMPT : 0);
			break;
		case 6: /* the running thread exits, rarely */
			if (m->on[cpu] >= 0 && r % 64 == 0)
				sim_switch(m, cpu, sim_pick(m, 1), SCHED_TASK_DEAD);
			break;
		default:
			break;
		}
	}
	m->now += MS;
}

static void test_sched_simulated_oracle(void **state)
{
	struct sim *m = malloc(sizeof(*m));
	struct sched_analysis *s = new_sched(0, UINT64_MAX, false, 0);
	struct replay_procs procs = { 0 };
	struct sched_counts total = { 0 };
	uint64_t bucket_cpu = 0, bucket_sw = 0, bucket_wk = 0, bucket_faults = 0;

	(void)state;
	assert_non_null(m);
	simulate(m);
	/* Segments as the recorder cuts them: up to 4096 rows. */
	for (size_t i = 0; i < m->n; i += 4096)
		assert_int_equal(sched_events(s, m->ev + i, m->n - i < 4096 ? m->n - i : 4096), 0);
	assert_int_equal(sched_finish(s, m->now, &procs), 0);
	assert_int_equal(s->lost_slices, 0);
	for (int i = 0; i < SIM_THREADS; i++) {
		struct sim_thread *w = &m->t[i];
		const struct sched_thread *t = find_thread(s, w->tid);

		if (!w->state)
			continue;
		if (w->state == 2) { /* running at the end */
			w->want.on_ns += m->now - w->since;
			w->want.slices++;
		}
		w->want.life_ns = (w->state == 4 ? w->died : m->now) - w->born;
		assert_non_null(t);
		assert_int_equal(t->pid, w->pid);
		assert_int_equal(t->c.on_ns, w->want.on_ns);
		assert_int_equal(t->c.slices, w->want.slices);
		assert_int_equal(t->c.switches, w->want.switches);
		assert_int_equal(t->c.vol, w->want.vol);
		assert_int_equal(t->c.invol, w->want.invol);
		assert_int_equal(t->c.wakeups, w->want.wakeups);
		assert_int_equal(t->c.runq_n, w->want.runq_n);
		assert_int_equal(t->c.runq_ns, w->want.runq_ns);
		assert_int_equal(t->c.faults, w->want.faults);
		assert_int_equal(t->c.life_ns, w->want.life_ns);
		total.on_ns += w->want.on_ns;
		total.switches += w->want.switches;
		total.wakeups += w->want.wakeups;
		total.faults += w->want.faults;
		total.runq_n += w->want.runq_n;
	}
	assert_int_equal(s->total.on_ns, total.on_ns);
	assert_int_equal(s->total.switches, total.switches);
	assert_int_equal(s->runq.count, total.runq_n);
	/* The buckets hold the same figures, cut by second. */
	for (size_t i = 0; i < s->nbuckets; i++) {
		bucket_cpu += s->buckets[i].cpu_ns;
		bucket_sw += s->buckets[i].switches;
		bucket_wk += s->buckets[i].wakeups;
		bucket_faults += s->buckets[i].faults;
		assert_true(s->buckets[i].cpu_ns <= SIM_CPUS * SEC);
		assert_true(i == 0 || s->buckets[i - 1].sec < s->buckets[i].sec ||
			    (s->buckets[i - 1].sec == s->buckets[i].sec &&
			     s->buckets[i - 1].pid < s->buckets[i].pid));
	}
	assert_int_equal(bucket_cpu, total.on_ns);
	assert_int_equal(bucket_sw, total.switches);
	assert_int_equal(bucket_wk, total.wakeups);
	assert_int_equal(bucket_faults, total.faults);
	/* Processes are the sums of their threads (a process whose main thread died
	 * before others were born has two entries: add them up). */
	for (int k = 0; k < SIM_THREADS; k += 4) {
		uint64_t want = 0, got = 0, want_sw = 0, got_sw = 0;

		for (int j = k; j < k + 4; j++) {
			want += m->t[j].want.on_ns;
			want_sw += m->t[j].want.switches;
		}
		for (size_t i = 0; i < s->nprocs; i++)
			if (s->procs[i].pid == m->t[k].pid) {
				got += s->procs[i].c.on_ns;
				got_sw += s->procs[i].c.switches;
			}
		assert_int_equal(got, want);
		assert_int_equal(got_sw, want_sw);
	}
	done_sched(s);
	free(m->ev);
	free(m);
}

/* ---- selections ----------------------------------------------------------- */

static void test_sched_window_and_pid(void **state)
{
	struct sched_analysis *s;
	struct replay_procs procs = { 0 };
	const struct sched_thread *t;

	(void)state;
	/* --time 2ms,6ms: [2, 6) ms after the start */
	s = new_sched(BASE + 2 * MS, 4 * MS - 1, false, 0);
	assert_int_equal(sched_events(s, hand, sizeof(hand) / sizeof(hand[0])), 0);
	assert_int_equal(sched_finish(s, BASE + 10 * MS, &procs), 0);
	t = find_thread(s, 10);
	assert_int_equal(t->c.on_ns, 4 * MS - 1 - 1 * MS); /* [3, 6) */
	assert_int_equal(t->c.switches, 0);
	assert_int_equal(t->c.life_ns, 4 * MS - 1);
	t = find_thread(s, 11);
	assert_int_equal(t->c.on_ns, 3 * MS); /* [2, 5] */
	assert_int_equal(t->c.switches, 1);
	assert_int_equal(t->c.wakeups, 0); /* at 1.5 ms: outside */
	assert_int_equal(t->c.runq_n, 1); /* switched in at 2 ms: inside */
	t = find_thread(s, 20);
	assert_int_equal(t->c.on_ns, 1 * MS); /* [2, 3] */
	assert_int_equal(t->c.vol, 1);
	assert_int_equal(t->c.wakeups, 0); /* at 6 ms: just outside */
	done_sched(s);

	/* --pid 20: only its halves of the switches. */
	s = new_sched(0, UINT64_MAX, true, 20);
	assert_int_equal(sched_events(s, hand, sizeof(hand) / sizeof(hand[0])), 0);
	assert_int_equal(sched_finish(s, BASE + 10 * MS, &procs), 0);
	assert_int_equal(s->nthreads, 1);
	assert_int_equal(s->nprocs, 1);
	assert_int_equal(s->total.on_ns, 2 * MS + 900 * US);
	assert_int_equal(s->total.switches, 1); /* it slept; its death is no switch */
	done_sched(s);
}

/* ---- pid reuse, records, samples ----------------------------------------- */

static struct ks_proc pev(uint64_t ts, uint32_t what, uint32_t pid, uint32_t tid, uint32_t ppid,
			  const char *comm, int32_t code)
{
	struct ks_proc p = { .ts = ts, .what = what, .pid = pid, .tid = tid, .ppid = ppid,
			     .exit_code = code };

	memcpy(p.comm, comm, strnlen(comm, KS_COMM_MAX));
	if (what == KS_PROC_EXEC) {
		p.argv_len = (uint32_t)strlen(comm) + 1;
		memcpy(p.argv, comm, p.argv_len);
	}
	return p;
}

static struct ks_sample smp(uint64_t ts, uint32_t pid, uint64_t rss, uint64_t rb, uint64_t wb)
{
	return (struct ks_sample){ .ts = ts, .pid = pid, .threads = 1, .rss_kb = rss,
				   .vsz_kb = 2 * rss, .read_bytes = rb, .write_bytes = wb,
				   .rchar = rb, .wchar = wb, .cpu_ns = 10 * MS, .minflt = 5 };
}

static void test_sched_pid_reuse_and_samples(void **state)
{
	/* pid 50 runs "first", exits; later a new pid 50 runs "second". */
	const struct ks_proc pe[] = {
		pev(BASE + 1 * MS, KS_PROC_FORK, 50, 50, 1, "sh", 0),
		pev(BASE + 2 * MS, KS_PROC_EXEC, 50, 50, 1, "first", 0),
		pev(BASE + 10 * MS, KS_PROC_EXIT, 50, 50, 1, "first", 3 << 8),
		pev(BASE + 20 * MS, KS_PROC_FORK, 50, 50, 1, "sh", 0),
		pev(BASE + 21 * MS, KS_PROC_EXEC, 50, 50, 1, "second", 0),
		pev(BASE + 30 * MS, KS_PROC_EXIT, 50, 50, 1, "second", 9),
	};
	const struct ks_sched ev[] = {
		wk(BASE + 1 * MS, 0, 50, 50, true),
		sw(BASE + 1 * MS, 0, 0, 0, 0, 0, 50, 50),
		sw(BASE + 11 * MS, 0, 50, 50, SCHED_TASK_DEAD, 40, 0, 0),
		wk(BASE + 20 * MS, 0, 50, 50, true),
		sw(BASE + 20 * MS, 0, 0, 0, 0, 0, 50, 50),
		sw(BASE + 23 * MS, 0, 50, 50, SCHED_TASK_DEAD, 7, 0, 0),
	};
	const struct ks_sample sa[] = {
		smp(BASE + 5 * MS, 50, 1000, 4096, 0),
		smp(BASE + 8 * MS, 50, 3000, 8192, 100),
		smp(BASE + 22 * MS, 50, 700, 0, 50),
	};
	struct sched_analysis *s = new_sched(0, UINT64_MAX, false, 0);
	struct replay_procs procs = { 0 };
	const struct sched_proc *a, *b;

	(void)state;
	assert_int_equal(replay_procs_add(&procs, pe, sizeof(pe) / sizeof(pe[0])), 0);
	assert_int_equal(replay_procs_finish(&procs), 0);
	assert_int_equal(procs.n, 2);
	assert_int_equal(procs.nexecs, 2);
	assert_int_equal(sched_events(s, ev, sizeof(ev) / sizeof(ev[0])), 0);
	assert_int_equal(sched_samples(s, sa, sizeof(sa) / sizeof(sa[0])), 0);
	assert_int_equal(sched_finish(s, BASE + 40 * MS, &procs), 0);
	assert_int_equal(s->nprocs, 2);
	a = sched_find_record(s, 0);
	b = sched_find_record(s, 1);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a != b);
	assert_int_equal(a->c.on_ns, 10 * MS);
	assert_int_equal(a->c.faults, 40);
	assert_int_equal(b->c.on_ns, 3 * MS);
	assert_int_equal(b->c.faults, 7);
	/* The samples went to the process alive at their time. */
	assert_int_equal(a->samples, 2);
	assert_int_equal(a->peak_rss_kb, 3000);
	assert_int_equal(a->first_rss_kb, 1000);
	assert_int_equal(a->read_bytes.max, 8192);
	assert_int_equal(a->write_bytes.max, 100);
	assert_int_equal(b->samples, 1);
	assert_int_equal(b->peak_rss_kb, 700);
	assert_int_equal(s->rss_growth_kb, 2000);
	assert_int_equal(s->peak_rss_kb, 3700);
	assert_ptr_equal(sched_find_pid(s, 50), b);
	assert_ptr_equal(replay_procs_at(&procs, 50, BASE + 5 * MS), &procs.v[0]);
	assert_ptr_equal(replay_procs_at(&procs, 50, BASE + 25 * MS), &procs.v[1]);
	assert_ptr_equal(replay_procs_at(&procs, 50, BASE), &procs.v[0]);
	assert_null(replay_procs_at(&procs, 51, BASE));
	done_sched(s);

	/* --time 6ms,: the I/O counters count from the last sample before it. */
	s = new_sched(BASE + 6 * MS, UINT64_MAX - BASE - 6 * MS, false, 0);
	assert_int_equal(sched_samples(s, sa, sizeof(sa) / sizeof(sa[0])), 0);
	assert_int_equal(sched_finish(s, BASE + 40 * MS, &procs), 0);
	a = sched_find_record(s, 0);
	/* Without scheduler events a reused pid is one process to the samples. */
	assert_int_equal(a->samples, 2);
	assert_int_equal(a->read_bytes.before, 4096);
	assert_int_equal(a->read_bytes.max, 8192);
	done_sched(s);
	replay_procs_free(&procs);
}

/* A forked child that does not exec runs its parent's program. */
static void test_procs_argv_inherited(void **state)
{
	const struct ks_proc pe[] = {
		pev(BASE, KS_PROC_EXEC, 60, 60, 1, "make", 0),
		pev(BASE + 1, KS_PROC_FORK, 61, 61, 60, "make", 0),
		pev(BASE + 2, KS_PROC_FORK, 62, 62, 60, "make", 0),
		pev(BASE + 3, KS_PROC_EXEC, 62, 62, 60, "cc", 0),
		pev(BASE + 4, KS_PROC_FORK, 60, 63, 60, "make", 0), /* a thread */
	};
	struct replay_procs procs = { 0 };

	(void)state;
	assert_int_equal(replay_procs_add(&procs, pe, sizeof(pe) / sizeof(pe[0])), 0);
	assert_int_equal(procs.n, 3);
	assert_true(procs.v[1].argv_inherited);
	assert_string_equal(procs.v[1].argv, "make");
	assert_false(procs.v[2].argv_inherited);
	assert_string_equal(procs.v[2].argv, "cc");
	assert_int_equal(procs.nexecs, 2);
	assert_int_equal(procs.execs[1].pid, 62);
	assert_int_equal(procs.execs[1].ppid, 60);
	assert_int_equal(procs.execs[1].rec, 2);
	replay_procs_free(&procs);
}

/* ---- hostile input --------------------------------------------------------- */

static void test_sched_hostile_bounded(void **state)
{
	enum { N = 300000 };
	struct ks_sched *ev = malloc(N * sizeof(*ev));
	struct sched_analysis *s = new_sched(0, UINT64_MAX, false, 0);
	struct replay_procs procs = { 0 };
	uint64_t seed = 77;

	(void)state;
	assert_non_null(ev);
	/* Random everything; then a thread with one slice per second for 200000 s. */
	for (size_t i = 0; i < N / 2; i++) {
		uint64_t r = rng_next(&seed);

		ev[i] = (struct ks_sched){ .ts = rng_next(&seed), .what = (uint32_t)(r % 5),
					   .cpu = (uint32_t)(r >> 8), .prev_pid = (uint32_t)(r >> 16) % 64,
					   .prev_tid = (uint32_t)(r >> 24) % 256,
					   .next_pid = (uint32_t)(r >> 32) % 64,
					   .next_tid = (uint32_t)(r >> 40) % 256,
					   .prev_state = (uint32_t)rng_next(&seed),
					   .faults = (uint32_t)rng_next(&seed) };
	}
	for (size_t i = N / 2; i < N; i++)
		ev[i] = sw(BASE + (i - N / 2) * SEC, 0, i % 2 ? 9 : 0, i % 2 ? 9 : 0, PREEMPT, 0,
			   i % 2 ? 0 : 9, i % 2 ? 0 : 9);
	assert_int_equal(sched_events(s, ev, N), 0);
	assert_int_equal(sched_finish(s, UINT64_MAX, &procs), 0);
	assert_true(s->nbuckets <= SCHED_BUCKETS_MAX);
	assert_true(s->bucket_misses > 0);
	done_sched(s);
	free(ev);
}

/* ---- the compact histogram ------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_chist_vs_oracle(void **state)
{
	enum { N = 100000 };
	uint64_t *v = malloc(N * sizeof(*v)), seed = 5;
	struct ks_chist *h = malloc(sizeof(*h)), *a = malloc(sizeof(*a));
	static const double ps[] = { 1, 25, 50, 90, 99, 99.9 };

	(void)state;
	ks_chist_init(h);
	ks_chist_init(a);
	assert_int_equal(ks_chist_percentile(h, 50), 0);
	for (size_t i = 0; i < N; i++) {
		v[i] = (uint64_t)pow(2.0, (double)(rng_next(&seed) % 34000) / 1000.0);
		ks_chist_add(i % 2 ? h : a, v[i]);
	}
	ks_chist_merge(h, a);
	qsort(v, N, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, N);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[N - 1]);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		size_t rank = (size_t)ceil(ps[i] / 100.0 * N);
		uint64_t want = v[rank - 1], got = ks_chist_percentile(h, ps[i]);

		if (fabs((double)got - (double)want) > (double)want * KS_CHIST_MAX_REL_ERROR)
			fail_msg("p%.1f: got %llu want %llu", ps[i], (unsigned long long)got,
				 (unsigned long long)want);
	}
	for (uint64_t x = 0; x < (1u << 20); x = x * 2 + 1)
		assert_true(ks_chist_index(x) < KS_CHIST_BUCKETS);
	assert_int_equal(ks_chist_index(UINT64_MAX), KS_CHIST_BUCKETS - 1);
	free(v);
	free(h);
	free(a);
}

/* ---- behaviour with scheduler figures ------------------------------------- */

static void test_behavior_with_sched(void **state)
{
	struct behavior_input in;
	struct behavior b;

	(void)state;
	/* A CPU loop on a busy machine: half on the CPU, half waiting for one; few
	 * syscalls (no longer "too few to judge" with scheduler figures). */
	memset(&in, 0, sizeof(in));
	in.wall_ns = in.thread_ns = in.life_ns = SEC;
	in.calls = 15;
	in.syscall_ns = 100 * US;
	in.has_sched = true;
	in.on_cpu_ns = 470 * MS;
	in.runq_ns = 530 * MS;
	in.faults = 26;
	in.fault_ns = 26 * SCHED_FAULT_NS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_CPU_BOUND);
	assert_true(b.cpu_intensity > 0.99);
	assert_true(fabs(b.runq_wait_ratio - 0.53) < 1e-9);
	assert_true(fabs(b.on_cpu_ratio - 0.47) < 1e-9);

	/* Five calls that waited 80 ms for a CPU beside a CPU hog: too little done. */
	in.wall_ns = in.life_ns = 82 * MS;
	in.calls = 5;
	in.syscall_ns = 50 * US;
	in.on_cpu_ns = 2 * MS;
	in.runq_ns = 80 * MS;
	in.faults = 60;
	in.fault_ns = 60 * SCHED_FAULT_NS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_UNKNOWN);
	/* ... while a CPU loop that got 30 ms of CPU in 1.5 s still wanted a CPU */
	in.wall_ns = in.life_ns = 1500 * MS;
	in.on_cpu_ns = 30 * MS;
	in.runq_ns = 1470 * MS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_CPU_BOUND);
	in.runq_ns = 530 * MS;

	/* Touching fresh pages: 262144 faults in 0.69 s of CPU, munmap 137 ms. */
	in.calls = 18;
	in.wall_ns = in.life_ns = 1100 * MS;
	in.syscall_ns = in.cat_ns[KS_CAT_MEMORY] = 137 * MS;
	in.cat_calls[KS_CAT_MEMORY] = 6;
	in.on_cpu_ns = 692 * MS;
	in.faults = 262144;
	in.fault_ns = 540 * MS; /* every slice but munmap's is all faults */
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_MEMORY_BOUND);
	assert_true(b.memory_intensity > 0.7);
	assert_true(b.cpu_intensity < 0.3);
	assert_true(b.fault_cpu_share > 0.7);

	/* The same, without scheduler events: too few syscalls to judge. */
	in.has_sched = false;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_UNKNOWN);

	/* ... but the samples saw RSS grow by 950 MiB in 1.1 s. */
	in.has_samples = true;
	in.rss_growth_kb = 950 * 1024;
	in.calls = 100;
	behavior_classify(&in, &b);
	assert_true(b.memory_intensity >= 0.4);
	assert_true(b.rss_growth_kb_per_sec > 800 * 1024);

	/* An even mix: a third each of computing, synchronous writes, page touching. */
	memset(&in, 0, sizeof(in));
	in.has_sched = true;
	in.wall_ns = in.life_ns = 1150 * MS;
	in.calls = 150;
	in.cat_ns[KS_CAT_FILE_IO] = 370 * MS;
	in.cat_ns[KS_CAT_MEMORY] = 30 * MS;
	in.syscall_ns = 400 * MS;
	in.on_cpu_ns = 494 * MS;
	in.runq_ns = 640 * MS;
	in.faults = 94000;
	in.fault_ns = 160 * MS; /* the touching third of the on-CPU time */
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_MIXED);
	assert_true(b.io_intensity > 0.25 && b.memory_intensity > 0.2 && b.cpu_intensity > 0.25);

	/* Two large shares close to each other: mixed, not the larger one. */
	memset(&in, 0, sizeof(in));
	in.wall_ns = in.thread_ns = SEC;
	in.calls = 1000;
	in.cat_ns[KS_CAT_FILE_IO] = 450 * MS;
	in.cat_ns[KS_CAT_NETWORK] = 400 * MS;
	in.syscall_ns = 850 * MS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_MIXED);
	in.cat_ns[KS_CAT_FILE_IO] = 500 * MS;
	in.cat_ns[KS_CAT_NETWORK] = 200 * MS;
	in.syscall_ns = 700 * MS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_IO_BOUND);

	/* Too short, whatever the figures. */
	in.wall_ns = in.thread_ns = 20 * MS;
	in.has_sched = true;
	in.life_ns = 20 * MS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_UNKNOWN);
}

/* ---- a whole trace, reported ---------------------------------------------- */

static void put(struct ks_store *st, struct ks_seg_encoder *enc, unsigned kind, const void *rows,
		size_t n)
{
	const uint8_t *buf;
	size_t len;

	assert_int_equal(ks_seg_encode(enc, kind, rows, n, &buf, &len), 0);
	assert_int_equal(ks_store_put_segment(st, kind, buf, len), 0);
}

static json_t *jget(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	return b ? json_object_get(v, b) : v;
}

static json_t *proc_by_pid(json_t *doc, json_int_t pid)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(doc, "processes"), i, p)
		if (json_integer_value(json_object_get(p, "pid")) == pid)
			return p;
	fail_msg("no process %lld", (long long)pid);
	return NULL;
}

static void write_sched_trace(const char *path)
{
	static const char argv_sh[] = "sh\0-c\0work";
	struct ks_proc pe[] = {
		pev(BASE, KS_PROC_EXEC, 10, 10, 1, "sh", 0),
		pev(BASE + 1 * MS, KS_PROC_FORK, 20, 20, 10, "sh", 0),
		pev(BASE + 1 * MS + 1, KS_PROC_EXIT, 20, 20, 10, "sh", 7 << 8),
		pev(BASE + 9 * MS, KS_PROC_EXIT, 10, 10, 1, "sh", 0),
	};
	struct ks_sample sa[] = { smp(BASE + 4 * MS, 10, 1500, 0, 4096) };
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	char buf[64];

	pe[0].argv_len = sizeof(argv_sh);
	memcpy(pe[0].argv, argv_sh, sizeof(argv_sh));
	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	snprintf(buf, sizeof(buf), "%lld", EPOCH_AT_BASE - (long long)BASE);
	assert_int_equal(ks_store_put_meta(st, "mono_to_realtime_ns", buf), 0);
	snprintf(buf, sizeof(buf), "%llu", BASE);
	assert_int_equal(ks_store_put_meta(st, "start_ns", buf), 0);
	snprintf(buf, sizeof(buf), "%llu", BASE + 10 * MS);
	assert_int_equal(ks_store_put_meta(st, "end_ns", buf), 0);
	assert_int_equal(ks_store_put_meta(st, "lost_total", "0"), 0);
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	put(st, enc, KS_KIND_PROC, pe, sizeof(pe) / sizeof(pe[0]));
	/* Two sched segments: state carries over between them. */
	put(st, enc, KS_KIND_SCHED, hand, 4);
	put(st, enc, KS_KIND_SCHED, hand + 4, sizeof(hand) / sizeof(hand[0]) - 4);
	put(st, enc, KS_KIND_SAMPLE, sa, 1);
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);
}

/* Fault time per slice whatever a fault costs: the slices of a page-touching loop on
 * a VM whose host must back the pages too (13 us a fault) count in full, as do
 * those where it already does (4 us); a computing slice with a few faults barely. */
static void test_sched_fault_time(void **state)
{
	(void)state;
	assert_int_equal(sched_fault_ns(4 * MS, 4 * MS / (13 * US)), 4 * MS);
	assert_int_equal(sched_fault_ns(4 * MS, 1000), 4 * MS);
	assert_int_equal(sched_fault_ns(4 * MS, 100), 100 * SCHED_FAULT_NS);
	assert_int_equal(sched_fault_ns(4 * MS, 0), 0);
	/* too few faults to say the slice was all faults: 4 us each */
	assert_int_equal(sched_fault_ns(200 * US, 20), 20 * SCHED_FAULT_NS);
	assert_int_equal(sched_fault_ns(10 * US, 20), 10 * US);
}

static void test_sched_report_end_to_end(void **state)
{
	static const char *const bucket_keys[] = { "time_bucket", "pid", "comm", "context_switches",
						   "voluntary_switches", "involuntary_switches",
						   "wakeups", "cpu_time_ms", "avg_timeslice_us" };
	struct replay_trace *t;
	struct report *r = malloc(sizeof(*r));
	struct analyze_opts o;
	char path[128], msg[512], *out = NULL;
	json_t *doc, *p, *v;
	size_t len = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/sched.lmdb", tmpdir);
	write_sched_trace(path);
	assert_int_equal(replay_open(path, &t, msg, sizeof(msg)), 0);
	analyze_opts_default(&o);
	if (report_compute(r, t, &o))
		fail_msg("report_compute: %s", t->err);
	doc = report_json(r);
	assert_non_null(doc);

	p = proc_by_pid(doc, 10);
	assert_true(fabs(json_real_value(json_object_get(p, "cpu_time_ms")) - 11.0) < 1e-9);
	assert_int_equal(json_integer_value(json_object_get(p, "voluntary_switches")), 1);
	assert_int_equal(json_integer_value(json_object_get(p, "involuntary_switches")), 2);
	assert_int_equal(json_integer_value(json_object_get(p, "wakeups")), 2);
	assert_int_equal(json_integer_value(json_object_get(p, "threads")), 2);
	assert_int_equal(json_integer_value(json_object_get(p, "page_faults")), 133);
	/* 11 ms over 4 slices */
	assert_true(fabs(json_real_value(json_object_get(p, "avg_timeslice_us")) - 2750.0) < 1e-6);
	assert_int_equal(json_integer_value(json_object_get(p, "peak_rss_kb")), 1500);
	assert_int_equal(json_integer_value(json_object_get(p, "write_bytes")), 4096);
	assert_int_equal(json_integer_value(json_object_get(p, "exit_code")), 0);
	assert_true(json_real_value(json_object_get(p, "runq_p99_us")) > 2900);
	assert_true(json_is_real(json_object_get(p, "off_cpu_ms")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "argv"), 2)), "work");
	p = proc_by_pid(doc, 20);
	assert_int_equal(json_integer_value(json_object_get(p, "exit_code")), 7);
	assert_true(json_is_true(json_object_get(p, "argv_inherited")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "argv"), 0)), "sh");
	assert_true(fabs(json_real_value(json_object_get(p, "cpu_time_ms")) - 2.9) < 1e-9);
	assert_true(json_is_null(json_object_get(p, "peak_rss_kb")));

	v = jget(doc, "sched", "buckets");
	assert_int_equal(json_array_size(v), 2);
	for (size_t i = 0; i < sizeof(bucket_keys) / sizeof(bucket_keys[0]); i++)
		if (!json_object_get(json_array_get(v, 0), bucket_keys[i]))
			fail_msg("sched.buckets[0] has no %s", bucket_keys[i]);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "time_bucket")),
			 EPOCH_AT_BASE / (int64_t)SEC);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "comm")), "sh");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0),
							   "context_switches")), 3);
	assert_true(json_is_true(jget(doc, "sched", "available")));
	assert_int_equal(json_integer_value(json_object_get(jget(doc, "sched", "runq_latency"),
							   "count")), 4);
	assert_true(json_array_size(json_object_get(jget(doc, "sched", "runq_latency"),
						    "log2_us")) > 0);
	assert_int_equal(json_array_size(jget(doc, "sched", "threads")), 3);
	v = json_object_get(doc, "execs");
	assert_int_equal(json_array_size(v), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "pid")), 10);
	assert_non_null(json_object_get(jget(doc, "analysis", NULL), "on_cpu_ratio"));
	json_decref(doc);

	f = open_memstream(&out, &len);
	report_text(f, r);
	fclose(f);
	assert_non_null(strstr(out, "PROCESSES (tree"));
	assert_non_null(strstr(out, "  `-20 "));
	assert_non_null(strstr(out, "EXECS (execsnoop)"));
	assert_non_null(strstr(out, "RUN-QUEUE LATENCY"));
	assert_non_null(strstr(out, "     usecs               : count    distribution"));
	assert_non_null(strstr(out, "PER SECOND"));
	assert_non_null(strstr(out, "2023-11-14 22:13:20"));
	free(out);
	report_free(r);
	free(r);
	replay_close(t);
}

/* ---- throughput (REPLAY_BENCH=1) ----------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_sched_bench(void **state)
{
	const size_t n = getenv("REPLAY_BENCH") ? 20u << 20 : 1u << 18;
	struct ks_sched *ev = malloc(n * sizeof(*ev));
	struct sched_analysis *s = new_sched(0, UINT64_MAX, false, 0);
	struct replay_procs procs = { 0 };
	uint64_t seed = 1, ts = BASE;
	uint32_t on[2] = { 0, 0 };
	double t0, dt;

	(void)state;
	/* Two CPUs, 64 threads in 16 processes bouncing on and off, with wake-ups. */
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng_next(&seed);
		uint32_t cpu = (uint32_t)(r & 1), tid = 100 + (uint32_t)(r >> 8) % 64;

		ts += 1 + (r >> 32) % 5000;
		if (r & 2) {
			ev[i] = wk(ts, cpu, 100 + (tid - 100) / 4 * 4, tid, false);
			continue;
		}
		ev[i] = sw(ts, cpu, on[cpu] ? 100 + (on[cpu] - 100) / 4 * 4 : 0, on[cpu],
			   r & 4 ? SLEEPING : PREEMPT, (uint32_t)(i / 64), 100 + (tid - 100) / 4 * 4, tid);
		on[cpu] = tid;
	}
	t0 = now_s();
	for (size_t i = 0; i < n; i += 65536)
		assert_int_equal(sched_events(s, ev + i, n - i < 65536 ? n - i : 65536), 0);
	dt = now_s() - t0;
	assert_int_equal(sched_finish(s, ts, &procs), 0);
	assert_true(s->total.switches > 0);
	print_message("sched aggregation, %zu events: %.1f M events/s\n", n, (double)n / dt / 1e6);
	done_sched(s);
	free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched_by_hand),
		cmocka_unit_test(test_sched_buckets_split),
		cmocka_unit_test(test_sched_simulated_oracle),
		cmocka_unit_test(test_sched_window_and_pid),
		cmocka_unit_test(test_sched_pid_reuse_and_samples),
		cmocka_unit_test(test_procs_argv_inherited),
		cmocka_unit_test(test_sched_hostile_bounded),
		cmocka_unit_test(test_chist_vs_oracle),
		cmocka_unit_test(test_behavior_with_sched),
		cmocka_unit_test(test_sched_fault_time),
		cmocka_unit_test(test_sched_report_end_to_end),
		cmocka_unit_test(test_sched_bench),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
