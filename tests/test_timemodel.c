/* Unit tests of the time model (replay/timemodel.c) and its classes
 * (replay/timeclass.c): hand-made scheduler and syscall sequences whose buckets are
 * worked out by hand, the wait bucket of each kind of blocking call and object,
 * lifetimes (birth, TASK_DEAD, the launched command's exec, the --time window),
 * the page-fault estimate, a random schedule whose buckets must sum to each
 * thread's life, and the classes and reasons of pipelines, fsync loops and
 * CPU-starved work. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "replay/sched.h"
#include "replay/sysfmt.h"
#include "replay/timeclass.h"
#include "replay/timemodel.h"

#define BASE 1000000000000ull
#define US 1000ull
#define MS 1000000ull
#define SLEEPING 1
#define DISK 2

static struct ks_sched sw(uint64_t t, uint32_t prev, uint32_t state, uint32_t next)
{
	return (struct ks_sched){ .ts = BASE + t, .what = KS_SCHED_SWITCH, .prev_pid = prev ? 100 : 0,
				  .prev_tid = prev, .next_pid = next ? 100 : 0, .next_tid = next,
				  .prev_state = state };
}

static struct ks_sched wk(uint64_t t, uint32_t tid, bool fresh)
{
	return (struct ks_sched){ .ts = BASE + t, .what = fresh ? KS_SCHED_WAKEUP_NEW :
							    KS_SCHED_WAKEUP,
				  .prev_pid = 100, .prev_tid = tid };
}

static struct ks_syscall sc(uint64_t t, uint64_t dur, uint32_t tid, uint32_t nr)
{
	return (struct ks_syscall){ .ts = BASE + t, .dur = dur, .pid = 100, .tid = tid, .nr = nr };
}

static void apply(struct timemodel *m, struct ks_sched e)
{
	assert_int_equal(tm_sched(m, &e), 0);
}

static const struct tm_thread *thread_of(const struct timemodel *m, uint32_t tid)
{
	for (size_t i = m->nthreads; i-- > 0;)
		if (m->threads[i].tid == tid)
			return &m->threads[i];
	fail_msg("no thread %u", tid);
	return NULL;
}

static void assert_sums(const struct tm_times *t)
{
	uint64_t sum = 0;

	for (unsigned k = 0; k < TM_NBUCKETS; k++)
		sum += t->ns[k];
	assert_int_equal(sum, t->total);
}

static void init(struct timemodel *m)
{
	tm_init(m, 0, UINT64_MAX, false, 0, BASE);
}

/* A CPU loop preempted twice: on-CPU is user time, the waits are run_queue. */
static void cpu_loop_is_user_time_and_run_queue(void **state)
{
	struct timemodel m;
	const struct tm_thread *t;

	(void)state;
	init(&m);
	apply(&m, wk(0, 7, true));
	apply(&m, sw(1 * MS, 0, 0, 7));
	apply(&m, sw(11 * MS, 7, KS_SCHED_PREEMPTED, 0));
	apply(&m, sw(14 * MS, 0, 0, 7));
	apply(&m, sw(24 * MS, 7, 0 /* still runnable */, 0));
	apply(&m, sw(25 * MS, 0, 0, 7));
	apply(&m, sw(35 * MS, 7, SCHED_TASK_DEAD, 0));
	assert_int_equal(tm_finish(&m, BASE + 100 * MS, NULL), 0);
	t = thread_of(&m, 7);
	assert_int_equal(t->t.ns[TM_CPU_USER], 30 * MS);
	assert_int_equal(t->t.ns[TM_RUN_QUEUE], 5 * MS);
	assert_int_equal(t->t.total, 35 * MS); /* born at 0, dead at 35 ms */
	assert_sums(&m.total);
	tm_free(&m);
}

/* fdatasync: on a CPU in it, blocked, woken, waiting for a CPU, back on it. */
static void blocked_in_a_syscall_takes_its_bucket_but_not_its_run_queue(void **state)
{
	struct timemodel m;
	struct ks_syscall s = sc(10 * MS, 50 * MS, 7, SYS_fdatasync);
	const struct tm_thread *t;
	const struct tm_cause *c;

	(void)state;
	init(&m);
	apply(&m, wk(0, 7, true));
	apply(&m, sw(0, 0, 0, 7));
	apply(&m, sw(11 * MS, 7, DISK, 0));
	apply(&m, wk(58 * MS, 7, false));
	apply(&m, sw(59 * MS, 0, 0, 7));
	assert_int_equal(tm_syscall(&m, &s, TM_DISK, 3), 0);
	assert_int_equal(tm_finish(&m, BASE + 70 * MS, NULL), 0);
	t = thread_of(&m, 7);
	assert_int_equal(t->t.ns[TM_CPU_USER], 10 * MS + 10 * MS); /* before and after */
	assert_int_equal(t->t.ns[TM_CPU_KERNEL], 1 * MS + 1 * MS);
	assert_int_equal(t->t.ns[TM_DISK], 47 * MS);
	assert_int_equal(t->t.ns[TM_RUN_QUEUE], 1 * MS);
	assert_int_equal(t->t.total, 70 * MS);
	c = tm_top_cause(&m, TM_DISK);
	assert_non_null(c);
	assert_int_equal(c->nr, SYS_fdatasync);
	assert_int_equal(c->obj, 3);
	assert_int_equal(c->ns, 47 * MS);
	assert_null(tm_top_cause(&m, TM_NETWORK));
	assert_int_equal(tm_blocked_ns(&m, SYS_fdatasync), 47 * MS);
	assert_sums(&m.total);
	tm_free(&m);
}

/* The syscall row arrives after later scheduler events of the thread (rows come
 * at return, the merge applies every event up to it): only its span is inside. */
static void events_past_a_return_stay_outside(void **state)
{
	struct timemodel m;
	struct ks_syscall s = sc(2 * MS, 3 * MS, 7, SYS_nanosleep);
	const struct tm_thread *t;

	(void)state;
	init(&m);
	apply(&m, wk(0, 7, true));
	apply(&m, sw(0, 0, 0, 7));
	apply(&m, sw(2 * MS, 7, SLEEPING, 0));
	apply(&m, wk(5 * MS, 7, false));
	apply(&m, sw(5 * MS, 0, 0, 7));
	apply(&m, sw(8 * MS, 7, KS_SCHED_PREEMPTED, 0));
	apply(&m, sw(9 * MS, 0, 0, 7));
	assert_int_equal(tm_syscall(&m, &s, TM_SLEEP, 0), 0);
	assert_int_equal(tm_finish(&m, BASE + 10 * MS, NULL), 0);
	t = thread_of(&m, 7);
	assert_int_equal(t->t.ns[TM_SLEEP], 3 * MS);
	assert_int_equal(t->t.ns[TM_CPU_USER], 2 * MS + 3 * MS + 1 * MS);
	assert_int_equal(t->t.ns[TM_RUN_QUEUE], 1 * MS);
	assert_int_equal(t->t.total, 10 * MS);
	tm_free(&m);
}

/* A user fault estimate moves slice time to page_faults; blocking outside a
 * syscall right after a faulting slice is a major fault. */
static void page_faults_from_the_fault_counts(void **state)
{
	struct timemodel m;
	struct ks_sched out = sw(10 * MS, 7, DISK, 0);
	const struct tm_thread *t;

	(void)state;
	init(&m);
	apply(&m, wk(0, 7, true));
	apply(&m, sw(0, 0, 0, 7));
	out.faults = 1000; /* 1000 * SCHED_FAULT_NS = 4 ms of the 10 ms slice */
	apply(&m, out);
	apply(&m, wk(30 * MS, 7, false));
	apply(&m, sw(30 * MS, 0, 0, 7));
	assert_int_equal(tm_finish(&m, BASE + 40 * MS, NULL), 0);
	t = thread_of(&m, 7);
	assert_int_equal(t->t.ns[TM_PAGE_FAULTS], 1000 * SCHED_FAULT_NS + 20 * MS);
	assert_int_equal(t->t.ns[TM_CPU_USER], 20 * MS - 1000 * SCHED_FAULT_NS);
	assert_int_equal(t->t.total, 40 * MS);
	assert_int_equal(m.faults, 1000);
	tm_free(&m);
}

/* TASK_DEAD ends a life; the tid used again later is another thread. The launched
 * command's time before its exec is not counted. The --time window clips. */
static void lifetimes(void **state)
{
	struct timemodel m;
	struct ks_syscall s = sc(50 * MS, 1 * MS, 7, SYS_getpid);

	(void)state;
	init(&m);
	assert_int_equal(tm_set_start(&m, 100, BASE + 4 * MS), 0);
	/* seen first leaving a CPU: it ran since the trace start, counted from 4 ms */
	apply(&m, sw(10 * MS, 7, SCHED_TASK_DEAD, 0));
	apply(&m, wk(40 * MS, 7, true));
	apply(&m, sw(40 * MS, 0, 0, 7));
	assert_int_equal(tm_syscall(&m, &s, TM_OTHER, 0), 0);
	assert_int_equal(tm_finish(&m, BASE + 60 * MS, NULL), 0);
	assert_int_equal(m.nthreads, 2);
	assert_int_equal(m.threads[0].t.ns[TM_CPU_USER], 6 * MS);
	assert_int_equal(m.threads[0].t.total, 6 * MS);
	assert_int_equal(m.threads[1].t.ns[TM_CPU_USER], 19 * MS);
	assert_int_equal(m.threads[1].t.ns[TM_CPU_KERNEL], 1 * MS);
	assert_int_equal(m.total.total, 26 * MS);
	tm_free(&m);

	tm_init(&m, BASE + 20 * MS, 10 * MS, false, 0, BASE);
	apply(&m, wk(0, 7, true));
	apply(&m, sw(0, 0, 0, 7));
	assert_int_equal(tm_finish(&m, BASE + 60 * MS, NULL), 0);
	assert_int_equal(m.total.ns[TM_CPU_USER], 10 * MS);
	assert_int_equal(m.total.total, 10 * MS);
	tm_free(&m);
}

/* What each blocking call waits on. */
static void wait_buckets(void **state)
{
	struct timemodel m;
	struct fdtable fdt;
	struct ks_syscall s = { .pid = 100, .tid = 100, .flags = KS_SYSF_ARGS };
	uint32_t file, pipe_, inet, unix_, sock2;
	const struct fdt_object *unknown;

	(void)state;
	init(&m);
	assert_int_equal(fdt_init(&fdt), 0);
	file = fdt_object(&fdt, FDT_FILE, "/data/app.db", 12);
	pipe_ = fdt_object(&fdt, FDT_PIPE, "pipe:1", 6);
	inet = fdt_object(&fdt, FDT_SOCKET, "socket:1", 8);
	unix_ = fdt_object(&fdt, FDT_SOCKET, "socket:2", 8);
	sock2 = fdt_object(&fdt, FDT_SOCKET, "socket:3", 8);
	fdt.obj[inet].domain = AF_INET;
	fdt.obj[unix_].domain = AF_UNIX;
	fdt.obj[sock2].domain = AF_INET6;
	unknown = fdt_get(&fdt, 0);

	s.nr = SYS_read;
	assert_int_equal(tm_wait_bucket(&m, &s, fdt_get(&fdt, file)), TM_DISK);
	assert_int_equal(tm_wait_bucket(&m, &s, fdt_get(&fdt, pipe_)), TM_PIPE);
	assert_int_equal(tm_wait_bucket(&m, &s, fdt_get(&fdt, inet)), TM_NETWORK);
	assert_int_equal(tm_wait_bucket(&m, &s, fdt_get(&fdt, unix_)), TM_PIPE);
	assert_int_equal(tm_wait_bucket(&m, &s, unknown), TM_POLL);
	s.nr = SYS_openat; /* a path the trace could not resolve is still a file */
	assert_int_equal(tm_wait_bucket(&m, &s, unknown), TM_DISK);
	s.flags = 0; /* without recorded arguments: by category */
	s.nr = SYS_read;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_DISK);
	s.nr = SYS_recvfrom;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_NETWORK);
	s.nr = SYS_futex;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_LOCK);
	s.nr = SYS_wait4;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_CHILD);
	s.nr = SYS_clock_nanosleep;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_SLEEP);
	s.nr = SYS_pselect6; /* its fds are not recorded */
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_POLL);

	/* epoll: by the kinds of fds added to it */
	s.flags = KS_SYSF_ARGS;
	assert_int_equal(fdt_install(&fdt, 100, 5, pipe_, false), 0);
	assert_int_equal(fdt_install(&fdt, 100, 6, inet, false), 0);
	s.nr = SYS_epoll_wait;
	s.arg0 = 9;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_POLL);
	s.nr = SYS_epoll_ctl;
	s.arg1 = 1; /* EPOLL_CTL_ADD */
	s.arg2 = 5;
	assert_int_equal(tm_epoll_ctl(&m, &fdt, &s), 0);
	s.nr = SYS_epoll_wait;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_PIPE);
	s.nr = SYS_epoll_ctl;
	s.arg2 = 6;
	assert_int_equal(tm_epoll_ctl(&m, &fdt, &s), 0);
	s.nr = SYS_epoll_pwait;
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_NETWORK);
	s.arg0 = 10; /* another epoll fd: nothing known */
	assert_int_equal(tm_wait_bucket(&m, &s, NULL), TM_POLL);
	fdt_free(&fdt);
	tm_free(&m);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* A random schedule of 4 threads on 2 CPUs with syscalls: every thread's buckets
 * sum to its life, whatever the order of states and calls. */
static void random_schedules_sum_to_life(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int round = 0; round < 50; round++) {
		struct timemodel m;
		enum { RUN, READY, BLOCKED } st[4] = { READY, READY, READY, READY };
		uint64_t sc_start[4] = { 0 }, t = 0, end;
		bool in_sc[4] = { false };
		uint32_t cpu[2] = { 0, 0 };

		init(&m);
		for (uint32_t i = 0; i < 4; i++)
			apply(&m, wk(0, 10 + i, true));
		for (int step = 0; step < 400; step++) {
			uint32_t i = rng_next(&seed) % 4, tid = 10 + i, c = rng_next(&seed) % 2;

			t += 1 + rng_next(&seed) % (3 * MS);
			if (st[i] == RUN) {
				uint32_t r = rng_next(&seed) % 4;

				if (r == 0 && !in_sc[i]) {
					in_sc[i] = true;
					sc_start[i] = t;
				} else if (r == 1 && in_sc[i]) {
					struct ks_syscall s = sc(sc_start[i], t - sc_start[i], tid, SYS_read);

					assert_int_equal(tm_syscall(&m, &s, TM_DISK, 0), 0);
					in_sc[i] = false;
				} else {
					bool block = r == 2;
					uint32_t on = cpu[0] == tid ? 0 : 1;

					apply(&m, sw(t, tid, block ? DISK :
								       KS_SCHED_PREEMPTED, 0));
					cpu[on] = 0;
					st[i] = block ? BLOCKED : READY;
				}
			} else if (st[i] == BLOCKED) {
				apply(&m, wk(t, tid, false));
				st[i] = READY;
			} else if (!cpu[c]) {
				apply(&m, sw(t, 0, 0, tid));
				cpu[c] = tid;
				st[i] = RUN;
			}
		}
		end = BASE + t + MS;
		assert_int_equal(tm_finish(&m, end, NULL), 0);
		assert_int_equal(m.nthreads, 4);
		for (size_t i = 0; i < m.nthreads; i++) {
			assert_sums(&m.threads[i].t);
			assert_int_equal(m.threads[i].t.total, end - BASE);
		}
		assert_sums(&m.total);
		assert_int_equal(m.total.total, 4 * (end - BASE));
		tm_free(&m);
	}
}

/* Builds a model from bucket totals directly (one thread each). */
static void model_of(struct timemodel *m, const uint64_t *ns, const double *res)
{
	init(m);
	for (unsigned k = 0; k < TM_NBUCKETS; k++) {
		m->total.ns[k] = ns[k];
		m->total.total += ns[k];
	}
	for (unsigned i = 0; i < TM_NRES; i++)
		m->total.res[i] = res[i];
	m->has_sched = true;
}

/* A pipeline: the CPU stage limits it, the others wait on pipes. */
static void classes_and_reasons(void **state)
{
	struct timemodel m;
	struct behavior b = { 0 };
	char why[400];

	(void)state;
	{
		uint64_t ns[TM_NBUCKETS] = { [TM_CPU_USER] = 800 * MS, [TM_PIPE] = 1600 * MS,
					     [TM_CHILD] = 800 * MS };
		double res[TM_NRES] = { [TM_RES_CPU] = 800 * MS };

		model_of(&m, ns, res);
		tm_classify(&m, 800 * MS, &b, why, sizeof(why));
		assert_int_equal(b.cls, BEHAVIOR_CPU_BOUND);
		assert_non_null(strstr(why, "100% of thread time on a CPU"));
		assert_non_null(strstr(why, "waiting on other traced tasks"));
		tm_free(&m);
	}
	{	/* a writer blocked on a full pipe while its reader sleeps: no io */
		uint64_t ns[TM_NBUCKETS] = { [TM_PIPE] = 1200 * MS, [TM_SLEEP] = 1200 * MS };
		double res[TM_NRES] = { 0 };

		model_of(&m, ns, res);
		tm_classify(&m, 1200 * MS, &b, why, sizeof(why));
		assert_int_equal(b.cls, BEHAVIOR_MIXED);
		assert_true(b.io_intensity == 0);
		tm_free(&m);
	}
	{	/* an fsync loop, CPU-starved: the run-queue wait served the disk */
		uint64_t ns[TM_NBUCKETS] = { [TM_CPU_KERNEL] = 20 * MS, [TM_RUN_QUEUE] = 700 * MS,
					     [TM_DISK] = 600 * MS };
		double res[TM_NRES] = { [TM_RES_IO] = 1320 * MS };
		struct tm_cause *c;

		model_of(&m, ns, res);
		m.causes = c = calloc(1, sizeof(*c));
		m.ncauses = m.capcauses = 1;
		*c = (struct tm_cause){ .nr = SYS_fdatasync, .bucket = TM_DISK, .ns = 600 * MS };
		tm_classify(&m, 1320 * MS, &b, why, sizeof(why));
		assert_int_equal(b.cls, BEHAVIOR_IO_BOUND);
		assert_non_null(strstr(why, "fdatasync"));
		tm_free(&m);
	}
	{
		uint64_t ns[TM_NBUCKETS] = { [TM_CPU_USER] = 10 * MS };
		double res[TM_NRES] = { [TM_RES_CPU] = 10 * MS };

		model_of(&m, ns, res);
		tm_classify(&m, 10 * MS, &b, why, sizeof(why));
		assert_int_equal(b.cls, BEHAVIOR_UNKNOWN);
		assert_non_null(strstr(why, "too short"));
		tm_free(&m);
	}
}

/* The run-queue wait counts for the resource of the slice it led to. */
static void run_queue_serves_the_next_slice(void **state)
{
	struct timemodel m;
	struct ks_syscall s = sc(10 * MS, 30 * MS, 7, SYS_fdatasync);

	(void)state;
	init(&m);
	apply(&m, wk(0, 7, true));
	apply(&m, sw(0, 0, 0, 7));
	apply(&m, sw(10 * MS, 7, DISK, 0));  /* 10 ms user */
	apply(&m, wk(20 * MS, 7, false));     /* 10 ms disk */
	apply(&m, sw(38 * MS, 0, 0, 7));      /* 18 ms run queue */
	apply(&m, sw(40 * MS, 7, SLEEPING, 0)); /* 2 ms kernel: io */
	assert_int_equal(tm_syscall(&m, &s, TM_DISK, 0), 0);
	assert_int_equal(tm_finish(&m, BASE + 40 * MS, NULL), 0);
	assert_true(m.total.res[TM_RES_IO] == (double)(10 + 18 + 2) * MS);
	assert_true(m.total.res[TM_RES_CPU] == (double)10 * MS);
	tm_free(&m);
}

/* Without scheduler events: a thread lives from its first call to its last
 * return, its calls' time is their wait's, the rest is on a CPU. */
static void without_scheduler_events(void **state)
{
	struct timemodel m;
	struct ks_syscall a = sc(10 * MS, 10 * MS, 7, SYS_fdatasync);
	struct ks_syscall b = sc(30 * MS, 5 * MS, 7, SYS_nanosleep);

	(void)state;
	init(&m);
	assert_int_equal(tm_syscall(&m, &a, TM_DISK, 0), 0);
	assert_int_equal(tm_syscall(&m, &b, TM_SLEEP, 0), 0);
	assert_int_equal(tm_finish(&m, BASE + 100 * MS, NULL), 0);
	assert_false(m.has_sched);
	assert_int_equal(m.total.ns[TM_DISK], 10 * MS);
	assert_int_equal(m.total.ns[TM_SLEEP], 5 * MS);
	assert_int_equal(m.total.ns[TM_CPU_USER], 10 * MS);
	assert_int_equal(m.total.total, 25 * MS);
	tm_free(&m);
}

/* Slow calls interrupted by a signal print as strace prints them. */
static void errno_names(void **state)
{
	(void)state;
	assert_string_equal(sysfmt_errno_name(-514), "ERESTARTNOHAND");
	assert_string_equal(sysfmt_errno_name(-512), "ERESTARTSYS");
	assert_string_equal(sysfmt_errno_name(-516), "ERESTART_RESTARTBLOCK");
	assert_string_equal(sysfmt_errno_name(-ENOENT), "ENOENT");
	assert_null(sysfmt_errno_name(0));
	assert_null(sysfmt_errno_name(-5000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cpu_loop_is_user_time_and_run_queue),
		cmocka_unit_test(blocked_in_a_syscall_takes_its_bucket_but_not_its_run_queue),
		cmocka_unit_test(events_past_a_return_stay_outside),
		cmocka_unit_test(page_faults_from_the_fault_counts),
		cmocka_unit_test(lifetimes),
		cmocka_unit_test(wait_buckets),
		cmocka_unit_test(random_schedules_sum_to_life),
		cmocka_unit_test(classes_and_reasons),
		cmocka_unit_test(run_queue_serves_the_next_slice),
		cmocka_unit_test(without_scheduler_events),
		cmocka_unit_test(errno_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
