/* Unit tests of replay/: histogram error bound against a sorted-array oracle,
 * syscall names and categories (durations: test_util.c), the analyser on hand-made rows,
 * a trace written with the real store and codec and reported end to end (counts,
 * errors, percentiles, categories, slow list with comms, filters, JSON keys),
 * damaged traces, and the commands' exit codes. REPLAY_BENCH=1 adds a throughput
 * measurement of the aggregation and of decode + aggregation. */
#include <errno.h>
#include <fcntl.h>
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
#include "format/kserr.h"
#include "format/segment.h"
#include "cli/cli.h"
#include "replay/analyze.h"
#include "replay/behavior.h"
#include "replay/hist.h"
#include "replay/report.h"
#include "replay/syscalls.h"
#include "replay/trace.h"
#include "store/store.h"

#define NR_READ 0
#define NR_WRITE 1
#define NR_MMAP 9
#define NR_NANOSLEEP 35
#define NR_CONNECT 42
#define NR_FUTEX 202
#define NR_EXIT_GROUP 231
#define NR_OPENAT 257
#define NR_UNKNOWN 999

#define BASE 1000000000000ull /* trace start, CLOCK_MONOTONIC */
#define EPOCH_AT_BASE 1700000000000000000ll /* 2023-11-14 22:13:20 UTC */
#define MS 1000000ull
#define SEC 1000000000ull

static char tmpdir[64];

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: fixed seeds make every run the same */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array: the oracle. */
static uint64_t oracle_pct(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static void assert_within(uint64_t got, uint64_t want, double rel)
{
	double err = want ? fabs((double)got - (double)want) / (double)want : (double)got;

	if (err > rel)
		fail_msg("got %llu, want %llu (relative error %.5f > %.5f)", (unsigned long long)got,
			 (unsigned long long)want, err, rel);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_replay.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- histogram ----------------------------------------------------------- */

static void test_hist_bucket_bounds(void **state)
{
	uint64_t seed = 42, lo, hi;

	(void)state;
	for (uint64_t v = 0; v < (1u << 16); v++) {
		ks_hist_bucket_range(ks_hist_index(v), &lo, &hi);
		assert_true(lo <= v && v <= hi);
		if (v < 256)
			assert_int_equal(lo, hi);
	}
	for (int i = 0; i < 1000000; i++) {
		uint64_t v = rng_next(&seed) >> (rng_next(&seed) % 64);
		unsigned idx = ks_hist_index(v);

		assert_true(idx < KS_HIST_BUCKETS);
		ks_hist_bucket_range(idx, &lo, &hi);
		assert_true(lo <= v && v <= hi);
		/* Half a bucket, relative to its low end: the stated bound. */
		assert_true((double)(hi - lo) / 2 <= (double)lo * KS_HIST_MAX_REL_ERROR + 0.5);
	}
	assert_int_equal(ks_hist_index(UINT64_MAX), KS_HIST_BUCKETS - 1);
	/* Buckets are ordered: a larger value never lands in a smaller bucket. */
	for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1)
		assert_true(ks_hist_index(v) >= ks_hist_index(v - 1));
}

static void test_hist_percentiles_vs_oracle(void **state)
{
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof(*v)), seed = 7, sum = 0;
	struct ks_hist *h = malloc(sizeof(*h)), *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	static const double ps[] = { 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99 };

	(void)state;
	assert_non_null(v);
	assert_non_null(h);
	assert_non_null(a);
	assert_non_null(b);
	ks_hist_init(h);
	ks_hist_init(a);
	ks_hist_init(b);
	for (size_t i = 0; i < N; i++) {
		/* Log-uniform over 1 ns .. ~1 s: every magnitude is exercised. */
		double e = (double)(rng_next(&seed) % 30000) / 1000.0;

		v[i] = (uint64_t)pow(2.0, e);
		sum += v[i];
		ks_hist_add(h, v[i]);
		ks_hist_add(i % 2 ? a : b, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, N);
	assert_int_equal(h->sum, sum);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[N - 1]);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		assert_within(ks_hist_percentile(h, ps[i]), oracle_pct(v, N, ps[i]),
			      KS_HIST_MAX_REL_ERROR);
	assert_int_equal(ks_hist_percentile(h, 0), v[0]);
	assert_int_equal(ks_hist_percentile(h, 100), v[N - 1]);

	ks_hist_merge(a, b);
	assert_int_equal(a->count, h->count);
	assert_int_equal(a->sum, h->sum);
	assert_int_equal(a->min, h->min);
	assert_int_equal(a->max, h->max);
	assert_memory_equal(a->bucket, h->bucket, sizeof(h->bucket));

	ks_hist_init(b);
	assert_int_equal(ks_hist_percentile(b, 50), 0);
	ks_hist_add(b, 12345);
	assert_int_equal(ks_hist_percentile(b, 50), 12345); /* clamped to min/max */
	free(v);
	free(h);
	free(a);
	free(b);
}

static void test_log2_print_layout(void **state)
{
	uint64_t slots[KS_LOG2_SLOTS] = { 0 };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_non_null(f);
	ks_log2_print(f, slots, KS_LOG2_SLOTS, "usecs"); /* empty: nothing */
	slots[0] = 4;
	slots[2] = 8;
	ks_log2_print(f, slots, KS_LOG2_SLOTS, "usecs");
	fclose(f);
	/* Byte for byte what libbpf-tools' print_log2_hist prints for these counts. */
	assert_string_equal(out,
			    "     usecs               : count    distribution\n"
			    "         0 -> 1          : 4        |********************                    |\n"
			    "         2 -> 3          : 0        |                                        |\n"
			    "         4 -> 7          : 8        |****************************************|\n");
	free(out);
	assert_int_equal(ks_log2_slot(0), 0);
	assert_int_equal(ks_log2_slot(1), 0);
	assert_int_equal(ks_log2_slot(2), 1);
	assert_int_equal(ks_log2_slot(1023), 9);
	assert_int_equal(ks_log2_slot(1024), 10);
}

/* ---- syscalls and units -------------------------------------------------- */

static void test_syscall_names_and_categories(void **state)
{
	char nb[KS_SYSCALL_NAME_MAX];
	static const struct {
		const char *name;
		enum ks_cat cat;
	} spot[] = {
		{ "read", KS_CAT_FILE_IO },       { "write", KS_CAT_FILE_IO },
		{ "openat", KS_CAT_FILE_IO },     { "newfstatat", KS_CAT_FILE_IO },
		{ "pread64", KS_CAT_FILE_IO },    { "getdents64", KS_CAT_FILE_IO },
		{ "fsync", KS_CAT_FILE_IO },      { "close", KS_CAT_FILE_IO },
		{ "mmap", KS_CAT_MEMORY },        { "munmap", KS_CAT_MEMORY },
		{ "brk", KS_CAT_MEMORY },         { "mprotect", KS_CAT_MEMORY },
		{ "madvise", KS_CAT_MEMORY },     { "clone", KS_CAT_PROCESS },
		{ "clone3", KS_CAT_PROCESS },     { "fork", KS_CAT_PROCESS },
		{ "execve", KS_CAT_PROCESS },     { "exit_group", KS_CAT_PROCESS },
		{ "wait4", KS_CAT_PROCESS },      { "socket", KS_CAT_NETWORK },
		{ "connect", KS_CAT_NETWORK },    { "sendto", KS_CAT_NETWORK },
		{ "recvfrom", KS_CAT_NETWORK },   { "epoll_wait", KS_CAT_NETWORK },
		{ "poll", KS_CAT_NETWORK },       { "nanosleep", KS_CAT_TIME },
		{ "clock_gettime", KS_CAT_TIME }, { "clock_nanosleep", KS_CAT_TIME },
		{ "pipe2", KS_CAT_IPC },          { "futex", KS_CAT_IPC },
		{ "shmget", KS_CAT_IPC },         { "msgsnd", KS_CAT_IPC },
		{ "semop", KS_CAT_IPC },          { "eventfd2", KS_CAT_IPC },
		{ "chmod", KS_CAT_SECURITY },     { "chown", KS_CAT_SECURITY },
		{ "setuid", KS_CAT_SECURITY },    { "capget", KS_CAT_SECURITY },
		{ "prctl", KS_CAT_SECURITY },     { "rt_sigaction", KS_CAT_SIGNAL },
		{ "rt_sigprocmask", KS_CAT_SIGNAL }, { "kill", KS_CAT_SIGNAL },
		{ "tgkill", KS_CAT_SIGNAL },      { "sigaltstack", KS_CAT_SIGNAL },
		{ "uname", KS_CAT_SYSTEM },       { "sysinfo", KS_CAT_SYSTEM },
		{ "ioctl", KS_CAT_SYSTEM },       { "reboot", KS_CAT_SYSTEM },
		{ "tuxcall", KS_CAT_OTHER },
	};
	unsigned per_cat[KS_CAT_COUNT] = { 0 };

	(void)state;
	assert_string_equal(ks_syscall_name(NR_READ, nb), "read");
	assert_string_equal(ks_syscall_name(NR_OPENAT, nb), "openat");
	assert_string_equal(ks_syscall_name(NR_UNKNOWN, nb), "syscall_999");
	assert_string_equal(ks_syscall_name(UINT32_MAX, nb), "syscall_4294967295");
	assert_int_equal(ks_syscall_category(NR_UNKNOWN), KS_CAT_OTHER);
	assert_int_equal(ks_syscall_nr("exit_group"), NR_EXIT_GROUP);
	assert_int_equal(ks_syscall_nr("no_such_call"), -1);
	for (size_t i = 0; i < sizeof(spot) / sizeof(spot[0]); i++) {
		int nr = ks_syscall_nr(spot[i].name);

		assert_true(nr >= 0);
		if (ks_syscall_category((uint32_t)nr) != spot[i].cat)
			fail_msg("%s: category %s, want %s", spot[i].name,
				 ks_cat_name(ks_syscall_category((uint32_t)nr)), ks_cat_name(spot[i].cat));
	}
	/* Every syscall this architecture has is in the table, none by accident "other". */
	for (uint32_t nr = 0; nr < ks_syscall_nr_end(); nr++) {
		const char *n = ks_syscall_known_name(nr);

		if (!n)
			continue;
		if (!ks_syscall_listed(n))
			fail_msg("syscall %s (%u) has no category", n, nr);
		per_cat[ks_syscall_category(nr)]++;
	}
	for (unsigned c = 0; c < KS_CAT_COUNT; c++)
		assert_true(per_cat[c] > 0);
	assert_true(per_cat[KS_CAT_OTHER] < 10);
	assert_string_equal(ks_cat_name(KS_CAT_FILE_IO), "file_io");
	assert_string_equal(ks_cat_name(KS_CAT_OTHER), "other");
}

/* ---- analyser on hand-made rows ------------------------------------------ */

static struct ks_syscall sc(uint64_t ts, uint32_t pid, uint32_t tid, uint32_t nr, uint64_t dur,
			    int64_t ret)
{
	return (struct ks_syscall){ .ts = ts, .dur = dur, .ret = ret, .pid = pid, .tid = tid,
				    .nr = nr };
}

static void test_analyze_rows(void **state)
{
	struct analysis *a = malloc(sizeof(*a));
	struct analyze_opts o;
	struct ks_syscall rows[] = {
		sc(BASE + 100, 1, 1, NR_READ, 1000, 10),
		sc(BASE + 200, 1, 1, NR_READ, 3000, -2),    /* ENOENT: an error */
		sc(BASE + 300, 1, 1, NR_READ, 2000, -4096), /* not an errno: no error */
		sc(BASE + 400, 1, 1, NR_EXIT_GROUP, 0, 0),
		sc(BASE + 500, 2, 3, NR_OPENAT, 20 * MS, 3),
		sc(BASE + 600, 2, 3, 5000, 5, -1),
	};
	const struct sc_stat *s;
	char nb[KS_SYSCALL_NAME_MAX];

	(void)state;
	assert_non_null(a);
	rows[3].flags = KS_SYSF_NORET;
	analyze_opts_default(&o);
	assert_int_equal(analyze_init(a, &o, BASE), 0);
	assert_int_equal(analyze_syscalls(a, rows, sizeof(rows) / sizeof(rows[0])), 0);
	assert_int_equal(analyze_finish(a), 0);

	assert_int_equal(a->calls, 6);
	assert_int_equal(a->errors, 2);
	s = analyze_find(a, NR_READ);
	assert_non_null(s);
	assert_int_equal(s->calls, 3);
	assert_int_equal(s->errors, 1);
	assert_int_equal(s->hist.count, 3);
	assert_int_equal(s->hist.sum, 6000);
	assert_int_equal(s->hist.min, 1000);
	assert_int_equal(s->hist.max, 3000);
	assert_int_equal(s->log2us[0], 1); /* 1 us: slot "0 -> 1" */
	assert_int_equal(s->log2us[1], 2); /* 2 and 3 us: slot "2 -> 3" */
	s = analyze_find(a, NR_EXIT_GROUP);
	assert_int_equal(s->calls, 1);
	assert_int_equal(s->noret, 1);
	assert_int_equal(s->hist.count, 0);
	assert_int_equal(s->errors, 0);
	s = analyze_find(a, 5000);
	assert_non_null(s);
	assert_string_equal(ks_syscall_name(s->nr, nb), "syscall_5000");
	assert_int_equal(s->cat, KS_CAT_OTHER);
	assert_int_equal(s->errors, 1);

	/* Sorted by total time: openat (20 ms) first. */
	assert_int_equal(a->sorted[0]->nr, NR_OPENAT);
	assert_int_equal(a->cat[KS_CAT_FILE_IO].calls, 4);
	assert_int_equal(a->cat[KS_CAT_FILE_IO].ns, 6000 + 20 * MS);
	assert_int_equal(a->cat[KS_CAT_PROCESS].calls, 1);
	assert_int_equal(a->cat[KS_CAT_OTHER].calls, 1);

	assert_int_equal(a->slow_total, 1);
	assert_int_equal(a->nslow, 1);
	assert_int_equal(a->slow[0].nr, NR_OPENAT);
	assert_int_equal(a->slow[0].tid, 3);

	assert_int_equal(a->nthreads, 2);
	/* tid 1: 100 .. 3200 (the 3000 ns read ends last); tid 3: 500 .. 605 */
	assert_int_equal(a->thread_ns, (3200 - 100) + (20 * MS));
	assert_int_equal(a->first_ts, BASE + 100);
	assert_int_equal(a->last_ts, BASE + 500 + 20 * MS);
	analyze_free(a);
	free(a);
}

/* The usec log2 slots derived from the ns buckets equal a direct count. */
static void test_analyze_log2_slots_exact(void **state)
{
	enum { N = 200000 };
	struct analysis *a = malloc(sizeof(*a));
	struct ks_syscall *rows = malloc(N * sizeof(*rows));
	uint64_t want[KS_LOG2_SLOTS] = { 0 }, seed = 3;
	struct analyze_opts o;

	(void)state;
	for (size_t i = 0; i < N; i++) {
		uint64_t d = rng_next(&seed) >> (rng_next(&seed) % 64);

		/* Plenty of values right at and around the slot edges 1000 * 2^k. */
		if (i % 3 == 0)
			d = 1000ull << (rng_next(&seed) % 40);
		if (i % 3 == 1)
			d = (1000ull << (rng_next(&seed) % 40)) - 1;
		rows[i] = sc(BASE + i, 1, 1, NR_READ, d, 0);
		want[ks_log2_slot(d / 1000)]++;
	}
	analyze_opts_default(&o);
	o.slow_ns = UINT64_MAX;
	analyze_init(a, &o, BASE);
	assert_int_equal(analyze_syscalls(a, rows, N), 0);
	assert_int_equal(analyze_finish(a), 0);
	assert_memory_equal(analyze_find(a, NR_READ)->log2us, want, sizeof(want));
	assert_memory_equal(a->cat[KS_CAT_FILE_IO].log2us, want, sizeof(want));
	analyze_free(a);
	free(a);
	free(rows);
}

static void test_analyze_slow_cap_keeps_slowest(void **state)
{
	struct analysis *a = malloc(sizeof(*a));
	struct analyze_opts o;
	struct ks_syscall rows[10];
	static const uint64_t durs[10] = { 15, 11, 19, 10, 12, 18, 13, 16, 14, 17 };

	(void)state;
	for (int i = 0; i < 10; i++)
		rows[i] = sc(BASE + (uint64_t)i * SEC, 7, 7, NR_READ, durs[i] * MS, 0);
	analyze_opts_default(&o);
	o.slow_cap = 3;
	analyze_init(a, &o, BASE);
	assert_int_equal(analyze_syscalls(a, rows, 10), 0);
	assert_int_equal(analyze_finish(a), 0);
	assert_int_equal(a->slow_total, 10);
	assert_int_equal(a->nslow, 3);
	/* The three slowest (19, 18, 17 ms), listed in time order. */
	assert_int_equal(a->slow[0].dur, 19 * MS);
	assert_int_equal(a->slow[1].dur, 18 * MS);
	assert_int_equal(a->slow[2].dur, 17 * MS);
	assert_true(a->slow[0].ts < a->slow[1].ts && a->slow[1].ts < a->slow[2].ts);
	analyze_free(a);

	/* A 15 ms threshold: 15..19 qualify, 10..14 do not. */
	o.slow_cap = 100;
	o.slow_ns = 15 * MS;
	analyze_init(a, &o, BASE);
	assert_int_equal(analyze_syscalls(a, rows, 10), 0);
	assert_int_equal(analyze_finish(a), 0);
	assert_int_equal(a->slow_total, 5);
	assert_int_equal(a->nslow, 5);
	analyze_free(a);
	free(a);
}

static void test_analyze_filters(void **state)
{
	struct analysis *a = malloc(sizeof(*a));
	struct analyze_opts o;
	struct ks_syscall rows[] = {
		sc(BASE - 5, 1, 1, NR_READ, 10, 0), /* before the trace start */
		sc(BASE, 1, 1, NR_READ, 10, 0),
		sc(BASE + SEC - 1, 1, 1, NR_READ, 10, 0),
		sc(BASE + SEC, 2, 2, NR_WRITE, 10, 0),
		sc(BASE + 2 * SEC - 1, 2, 2, NR_WRITE, 10, 0),
		sc(BASE + 2 * SEC, 1, 4, NR_WRITE, 10, 0),
		sc(UINT64_MAX, 1, 4, NR_WRITE, 0, 0),
	};
	const size_t n = sizeof(rows) / sizeof(rows[0]);

	(void)state;
	analyze_opts_default(&o);
	analyze_init(a, &o, BASE);
	analyze_syscalls(a, rows, n);
	analyze_finish(a);
	assert_int_equal(a->calls, n); /* no filter: everything, also before the start */
	analyze_free(a);

	o.from_ns = SEC;
	o.to_ns = 2 * SEC;
	analyze_init(a, &o, BASE);
	analyze_syscalls(a, rows, n);
	analyze_finish(a);
	assert_int_equal(a->calls, 2); /* [1s, 2s) */
	assert_int_equal(analyze_find(a, NR_WRITE)->calls, 2);
	assert_null(analyze_find(a, NR_READ));
	analyze_free(a);

	o.from_ns = 0;
	o.to_ns = SEC;
	analyze_init(a, &o, BASE);
	analyze_syscalls(a, rows, n);
	analyze_finish(a);
	assert_int_equal(a->calls, 2); /* [0, 1s): not the one before the start */
	analyze_free(a);

	o.from_ns = 2 * SEC;
	o.to_ns = UINT64_MAX;
	analyze_init(a, &o, BASE);
	analyze_syscalls(a, rows, n);
	analyze_finish(a);
	assert_int_equal(a->calls, 2); /* [2s, end] */
	analyze_free(a);

	analyze_opts_default(&o);
	o.has_pid = true;
	o.pid = 1;
	analyze_init(a, &o, BASE);
	analyze_syscalls(a, rows, n);
	analyze_finish(a);
	assert_int_equal(a->calls, 5); /* pid 1: tids 1 and 4 */
	assert_int_equal(a->nthreads, 2);
	analyze_free(a);
	free(a);
}

static void test_analyze_far_numbers_bounded(void **state)
{
	struct analysis *a = malloc(sizeof(*a));
	struct analyze_opts o;
	struct ks_syscall rows[40];

	(void)state;
	for (uint32_t i = 0; i < 40; i++)
		rows[i] = sc(BASE + i, 1, 1, 0x40000000u + i, 100, 0);
	analyze_opts_default(&o);
	analyze_init(a, &o, BASE);
	assert_int_equal(analyze_syscalls(a, rows, 40), 0);
	assert_int_equal(analyze_finish(a), 0);
	assert_int_equal(a->calls, 40);
	assert_int_equal(a->nsorted, ANALYZE_NR_FAR + 1);
	assert_non_null(analyze_find(a, 0x40000000u));
	assert_int_equal(analyze_find(a, ANALYZE_NR_MERGED)->calls, 40 - ANALYZE_NR_FAR);
	analyze_free(a);
	free(a);
}

/* ---- behaviour ----------------------------------------------------------- */

static void test_behavior_classes(void **state)
{
	struct behavior_input in;
	struct behavior b;

	(void)state;
	/* dd-like: 90% of a second in read/write. */
	memset(&in, 0, sizeof(in));
	in.wall_ns = in.thread_ns = SEC;
	in.calls = 1000000;
	in.syscall_ns = in.cat_ns[KS_CAT_FILE_IO] = 900 * MS;
	in.cat_calls[KS_CAT_FILE_IO] = in.calls;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_IO_BOUND);
	assert_true(fabs(b.io_intensity - 0.9) < 1e-9);
	assert_true(fabs(b.cpu_intensity - 0.1) < 1e-9);
	assert_true(fabs(b.syscall_rate_per_sec - 1e6) < 1e-3);

	/* Computing: 100 syscalls in 2 s, 1 ms in the kernel. */
	memset(&in, 0, sizeof(in));
	in.wall_ns = in.thread_ns = 2 * SEC;
	in.calls = 100;
	in.syscall_ns = in.cat_ns[KS_CAT_FILE_IO] = MS;
	in.cat_calls[KS_CAT_FILE_IO] = 60;
	in.cat_calls[KS_CAT_MEMORY] = 40;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_CPU_BOUND);
	assert_true(b.cpu_intensity > 0.99);
	assert_true(b.memory_intensity < 0.1); /* 20 mmaps/s is no churn */

	/* Waiting on the network (epoll, recv). */
	in.syscall_ns = in.cat_ns[KS_CAT_NETWORK] = 1500 * MS;
	in.cat_ns[KS_CAT_FILE_IO] = 0;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_NETWORK_BOUND);

	/* Allocation churn while running: 200000 mmap/munmap in 1 s. */
	memset(&in, 0, sizeof(in));
	in.wall_ns = in.thread_ns = SEC;
	in.calls = 220000;
	in.cat_calls[KS_CAT_MEMORY] = 200000;
	in.syscall_ns = in.cat_ns[KS_CAT_MEMORY] = 100 * MS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_MEMORY_BOUND);

	/* A shell waiting for its child is not "blocked": wait4 time is excluded. */
	memset(&in, 0, sizeof(in));
	in.wall_ns = SEC;
	in.thread_ns = 2 * SEC; /* parent + child */
	in.calls = 100;
	in.syscall_ns = in.wait_ns = in.cat_ns[KS_CAT_PROCESS] = SEC;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_CPU_BOUND);

	/* sleep 1: neither resource dominates. */
	memset(&in, 0, sizeof(in));
	in.wall_ns = in.thread_ns = SEC;
	in.calls = 30;
	in.syscall_ns = in.cat_ns[KS_CAT_TIME] = 999 * MS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_MIXED);

	/* Too short or too few: unknown. */
	in.wall_ns = in.thread_ns = 10 * MS;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_UNKNOWN);
	in.wall_ns = in.thread_ns = SEC;
	in.calls = 5;
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_UNKNOWN);
	memset(&in, 0, sizeof(in));
	behavior_classify(&in, &b);
	assert_int_equal(b.cls, BEHAVIOR_UNKNOWN);
	assert_string_equal(behavior_class_name(BEHAVIOR_IO_BOUND), "io_bound");
	assert_string_equal(behavior_class_name(BEHAVIOR_UNKNOWN), "unknown");
}

/* ---- traces written with the real store and codec ------------------------ */

#define TRACE_N 60000
#define ROWS_PER_SEG 4096

struct oracle {
	uint64_t calls[1024], errors[1024];
	uint64_t *durs[1024]; /* returned calls, sorted after generation */
	size_t ndurs[1024];
	uint64_t slow, slow_pid200_worker, slow_pid200_sh;
	uint64_t pid200_calls, window_calls;
};

static struct ks_proc proc_ev(uint64_t ts, uint32_t what, uint32_t pid, uint32_t tid,
			      uint32_t ppid, const char *comm, const char *argv, size_t argv_len,
			      int32_t code)
{
	struct ks_proc p = { .ts = ts, .what = what, .pid = pid, .tid = tid, .ppid = ppid,
			     .exit_code = code, .argv_len = (uint32_t)argv_len };

	strncpy(p.comm, comm, KS_COMM_MAX);
	memcpy(p.argv, argv, argv_len);
	return p;
}

static void put_rows(struct ks_store *st, struct ks_seg_encoder *enc, unsigned kind,
		     const void *rows, size_t n, size_t row_size)
{
	for (size_t i = 0; i < n; i += ROWS_PER_SEG) {
		size_t m = n - i < ROWS_PER_SEG ? n - i : ROWS_PER_SEG;
		const uint8_t *buf;
		size_t len;

		assert_int_equal(ks_seg_encode(enc, kind, (const char *)rows + i * row_size, m,
					       &buf, &len), 0);
		assert_int_equal(ks_store_put_segment(st, kind, buf, len), 0);
	}
}

static uint64_t gen_dur(uint64_t *seed, uint32_t nr)
{
	uint64_t r = rng_next(seed) % 1000;

	if (nr == NR_NANOSLEEP)
		return 20 * MS + rng_next(seed) % MS;
	if (r < 900)
		return 100 + rng_next(seed) % 5000;
	if (r < 990)
		return 5000 + rng_next(seed) % (2 * MS);
	return 2 * MS + rng_next(seed) % (48 * MS);
}

/* Writes a trace: processes sh (100) -> worker (200, threads 200 and 201), and
 * TRACE_N syscalls over 2 s with known counts, errors and latencies. */
static void write_trace(const char *path, struct oracle *orc, bool clean)
{
	static const uint32_t nrs[] = { NR_READ, NR_READ, NR_READ, NR_WRITE, NR_WRITE,
					NR_OPENAT, NR_MMAP, NR_FUTEX, NR_CONNECT, NR_NANOSLEEP,
					NR_UNKNOWN };
	static const char argv_sh[] = "sh\0-c\0worker --fast";
	static const char argv_w[] = "worker\0--fast";
	struct ks_proc procs[] = {
		proc_ev(BASE, KS_PROC_EXEC, 100, 100, 1, "sh", argv_sh, sizeof(argv_sh), 0),
		proc_ev(BASE + 100 * MS, KS_PROC_FORK, 200, 200, 100, "sh", "", 0, 0),
		proc_ev(BASE + 101 * MS, KS_PROC_EXEC, 200, 200, 100, "worker", argv_w,
			sizeof(argv_w), 0),
		proc_ev(BASE + 102 * MS, KS_PROC_FORK, 200, 201, 100, "worker", "", 0, 0),
		proc_ev(BASE + 1900 * MS, KS_PROC_EXIT, 200, 201, 100, "worker", "", 0, 0),
		proc_ev(BASE + 1950 * MS, KS_PROC_EXIT, 200, 200, 100, "worker", "", 0, 9),
		proc_ev(BASE + 1990 * MS, KS_PROC_EXIT, 100, 100, 1, "sh", "", 0, 137 << 8),
	};
	struct ks_syscall *rows = calloc(TRACE_N, sizeof(*rows));
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	uint64_t seed = 12345;
	char buf[64];

	assert_non_null(rows);
	memset(orc, 0, sizeof(*orc));
	for (size_t i = 0; i < 1024; i++)
		orc->durs[i] = NULL;
	for (size_t i = 0; i < TRACE_N; i++) {
		struct ks_syscall *r = &rows[i];
		uint32_t nr = nrs[rng_next(&seed) % (sizeof(nrs) / sizeof(nrs[0]))];
		uint64_t ts = BASE + 2 * SEC * i / TRACE_N;
		bool child = ts >= BASE + 100 * MS && rng_next(&seed) % 2;

		r->ts = ts;
		r->nr = nr;
		r->pid = child ? 200 : 100;
		r->tid = child ? (rng_next(&seed) % 2 ? 200 : 201) : 100;
		r->dur = gen_dur(&seed, nr);
		r->ret = rng_next(&seed) % 10 == 0 ? -(int64_t)(1 + rng_next(&seed) % 4095) :
						     (int64_t)(rng_next(&seed) % 100);
		if (i == TRACE_N - 1) { /* the last one: exit_group, no latency */
			r->nr = NR_EXIT_GROUP;
			r->flags = KS_SYSF_NORET;
			r->dur = 0;
			r->ret = 0;
		}
		orc->calls[r->nr]++;
		if (r->flags & KS_SYSF_NORET)
			continue;
		if (r->ret < 0 && r->ret >= -4095)
			orc->errors[r->nr]++;
		orc->durs[r->nr] = realloc(orc->durs[r->nr], (orc->ndurs[r->nr] + 1) * sizeof(uint64_t));
		orc->durs[r->nr][orc->ndurs[r->nr]++] = r->dur;
		if (r->dur >= 10 * MS) {
			orc->slow++;
			if (r->pid == 200 && ts >= BASE + 101 * MS)
				orc->slow_pid200_worker++;
			if (r->pid == 200 && ts < BASE + 101 * MS)
				orc->slow_pid200_sh++;
		}
		if (r->pid == 200)
			orc->pid200_calls++;
	}
	for (size_t i = 0; i < TRACE_N; i++)
		if (rows[i].ts >= BASE + 500 * MS && rows[i].ts < BASE + SEC)
			orc->window_calls++;
	for (size_t nr = 0; nr < 1024; nr++)
		if (orc->ndurs[nr])
			qsort(orc->durs[nr], orc->ndurs[nr], sizeof(uint64_t), cmp_u64);

	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	assert_int_equal(ks_store_put_meta(st, "ksight_version", "test"), 0);
	assert_int_equal(ks_store_put_meta(st, "hostname", "testhost"), 0);
	assert_int_equal(ks_store_put_meta(st, "kernel_release", "6.1.0-test"), 0);
	assert_int_equal(ks_store_put_meta(st, "command", "[\"sh\",\"-c\",\"worker --fast\"]"), 0);
	snprintf(buf, sizeof(buf), "%lld", EPOCH_AT_BASE - (long long)BASE);
	assert_int_equal(ks_store_put_meta(st, "mono_to_realtime_ns", buf), 0);
	assert_int_equal(ks_store_put_meta(st, "state", "recording"), 0);
	put_rows(st, enc, KS_KIND_PROC, procs, sizeof(procs) / sizeof(procs[0]), sizeof(procs[0]));
	put_rows(st, enc, KS_KIND_SYSCALL, rows, TRACE_N, sizeof(rows[0]));
	if (clean) {
		snprintf(buf, sizeof(buf), "%llu", BASE);
		assert_int_equal(ks_store_put_meta(st, "start_ns", buf), 0);
		snprintf(buf, sizeof(buf), "%llu", BASE + 2 * SEC);
		assert_int_equal(ks_store_put_meta(st, "end_ns", buf), 0);
		assert_int_equal(ks_store_put_meta(st, "exit_code", "137"), 0);
		assert_int_equal(ks_store_put_meta(st, "lost_syscall", "0"), 0);
		assert_int_equal(ks_store_put_meta(st, "lost_proc", "0"), 0);
		assert_int_equal(ks_store_put_meta(st, "lost_total", "0"), 0);
		assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	}
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);
	free(rows);
}

static void oracle_free(struct oracle *orc)
{
	for (size_t i = 0; i < 1024; i++)
		free(orc->durs[i]);
}

static void trace_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static struct report *report_of(const char *path, const struct analyze_opts *o,
				struct replay_trace **t)
{
	struct report *r = malloc(sizeof(*r));
	char msg[512];

	assert_non_null(r);
	if (replay_open(path, t, msg, sizeof(msg)))
		fail_msg("replay_open: %s", msg);
	if (report_compute(r, *t, o))
		fail_msg("report_compute: %s", (*t)->err);
	return r;
}

static void report_done(struct report *r, struct replay_trace *t)
{
	report_free(r);
	free(r);
	replay_close(t);
}

static void test_trace_report_matches_oracle(void **state)
{
	struct oracle *orc = malloc(sizeof(*orc));
	struct replay_trace *t;
	struct report *r;
	struct analyze_opts o;
	char path[128];
	uint64_t total = 0, slow_worker = 0, slow_sh = 0;

	(void)state;
	trace_path(path, sizeof(path), "clean.lmdb");
	write_trace(path, orc, true);
	analyze_opts_default(&o);
	r = report_of(path, &o, &t);

	assert_int_equal(r->a.events_read[KS_KIND_SYSCALL], TRACE_N);
	assert_int_equal(r->a.events_read[KS_KIND_PROC], 7);
	assert_int_equal(r->a.segments[KS_KIND_SYSCALL], (TRACE_N + ROWS_PER_SEG - 1) / ROWS_PER_SEG);
	assert_true(r->complete);
	assert_true(r->clean);
	assert_int_equal(r->lost, 0);
	assert_int_equal(r->start_ns, BASE);
	assert_int_equal(r->wall_ns, 2 * SEC);
	assert_int_equal(r->a.calls, TRACE_N);
	for (uint32_t nr = 0; nr < 1024; nr++) {
		const struct sc_stat *s = analyze_find(&r->a, nr);
		const uint64_t *d = orc->durs[nr];
		size_t n = orc->ndurs[nr];

		if (!orc->calls[nr]) {
			assert_null(s);
			continue;
		}
		assert_non_null(s);
		assert_int_equal(s->calls, orc->calls[nr]);
		assert_int_equal(s->errors, orc->errors[nr]);
		assert_int_equal(s->hist.count, n);
		total += s->calls;
		if (!n)
			continue;
		assert_int_equal(s->hist.max, d[n - 1]);
		assert_int_equal(s->hist.min, d[0]);
		assert_within(ks_hist_percentile(&s->hist, 50), oracle_pct(d, n, 50), 0.01);
		assert_within(ks_hist_percentile(&s->hist, 90), oracle_pct(d, n, 90), 0.01);
		assert_within(ks_hist_percentile(&s->hist, 99), oracle_pct(d, n, 99), 0.01);
	}
	assert_int_equal(total, TRACE_N);
	assert_int_equal(r->a.cat[KS_CAT_FILE_IO].calls,
			 orc->calls[NR_READ] + orc->calls[NR_WRITE] + orc->calls[NR_OPENAT]);
	assert_int_equal(r->a.cat[KS_CAT_MEMORY].calls, orc->calls[NR_MMAP]);
	assert_int_equal(r->a.cat[KS_CAT_IPC].calls, orc->calls[NR_FUTEX]);
	assert_int_equal(r->a.cat[KS_CAT_NETWORK].calls, orc->calls[NR_CONNECT]);
	assert_int_equal(r->a.cat[KS_CAT_TIME].calls, orc->calls[NR_NANOSLEEP]);
	assert_int_equal(r->a.cat[KS_CAT_OTHER].calls, orc->calls[NR_UNKNOWN]);
	assert_int_equal(r->a.cat[KS_CAT_PROCESS].calls, 1);

	/* Slow syscalls, with the comm each pid had at the time. */
	assert_int_equal(r->a.slow_total, orc->slow);
	assert_int_equal(r->a.nslow, orc->slow);
	for (size_t i = 0; i < r->a.nslow; i++) {
		const struct slow_call *c = &r->a.slow[i];
		const char *comm = replay_procs_comm_at(&r->a.procs, c->pid, c->ts);

		assert_true(c->dur >= 10 * MS);
		assert_true(i == 0 || r->a.slow[i - 1].ts <= c->ts);
		if (c->pid == 100)
			assert_string_equal(comm, "sh");
		else if (c->ts >= BASE + 101 * MS)
			slow_worker += !strcmp(comm, "worker");
		else
			slow_sh += !strcmp(comm, "sh");
	}
	assert_int_equal(slow_worker, orc->slow_pid200_worker);
	assert_int_equal(slow_sh, orc->slow_pid200_sh);
	assert_true(slow_worker > 0);
	assert_string_equal(replay_procs_comm_at(&r->a.procs, 4242, BASE), "?");
	assert_string_equal(replay_procs_comm_at(&r->a.procs, 200, BASE), "?");

	/* Processes: sh and worker; threads are not processes. */
	assert_int_equal(r->a.procs.n, 2);
	assert_int_equal(r->a.procs.v[0].pid, 100);
	assert_string_equal(r->a.procs.v[1].comm, "worker");
	assert_int_equal(r->a.procs.v[1].ppid, 100);
	assert_true(r->a.procs.v[1].exited);
	assert_int_equal(replay_exit_code(r->a.procs.v[0].wstatus), 137);
	assert_int_equal(replay_exit_code(r->a.procs.v[1].wstatus), 128 + 9);
	assert_int_equal(r->a.nthreads, 3);
	report_done(r, t);

	/* --pid 200 */
	o.has_pid = true;
	o.pid = 200;
	r = report_of(path, &o, &t);
	assert_int_equal(r->a.calls, orc->pid200_calls);
	assert_int_equal(r->a.slow_total, orc->slow_pid200_worker + orc->slow_pid200_sh);
	/* Its lifetime, fork to exit. */
	assert_int_equal(r->wall_ns, 1850 * MS);
	report_done(r, t);

	/* --time 500ms,1s */
	analyze_opts_default(&o);
	o.from_ns = 500 * MS;
	o.to_ns = SEC;
	r = report_of(path, &o, &t);
	assert_int_equal(r->a.calls, orc->window_calls);
	assert_int_equal(r->wall_ns, 500 * MS);
	report_done(r, t);
	oracle_free(orc);
	free(orc);
}

static json_t *jpath(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	return b ? json_object_get(v, b) : v;
}

static void test_trace_json_shape(void **state)
{
	static const char *const cats[] = { "file_io", "memory", "process", "network", "time",
					    "ipc", "security", "signal", "system", "other" };
	static const char *const sc_keys[] = { "name", "nr", "category", "count", "errors",
					       "total_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns" };
	static const char *const an_keys[] = { "behavior_classification", "syscall_rate_per_sec",
					       "io_intensity", "memory_intensity",
					       "cpu_intensity", "network_intensity" };
	static const char *const slow_keys[] = { "timestamp", "time_str", "pid", "tid", "syscall",
						 "syscall_name", "latency_ms", "comm" };
	static const char *const proc_keys[] = { "pid", "ppid", "comm", "argv", "exit_code",
						 "cpu_time_ms", "voluntary_switches",
						 "involuntary_switches", "wakeups",
						 "avg_timeslice_us", "off_cpu_ms", "runq_p50_us",
						 "runq_p99_us", "page_faults", "peak_rss_kb",
						 "read_bytes", "write_bytes", "lifetime_ms",
						 "start_timestamp", "exit_signal" };
	struct oracle *orc = malloc(sizeof(*orc));
	struct replay_trace *t;
	struct report *r;
	struct analyze_opts o;
	json_t *doc, *v, *first;
	char path[128];
	size_t i;

	(void)state;
	trace_path(path, sizeof(path), "json.lmdb");
	write_trace(path, orc, true);
	analyze_opts_default(&o);
	r = report_of(path, &o, &t);
	doc = report_json(r);
	assert_non_null(doc);

	assert_int_equal(json_integer_value(jpath(doc, "syscalls", "total")), TRACE_N);
	v = jpath(doc, "syscalls", "by_syscall");
	assert_true(json_is_array(v) && json_array_size(v) == r->a.nsorted);
	first = json_array_get(v, 0);
	for (i = 0; i < sizeof(sc_keys) / sizeof(sc_keys[0]); i++)
		if (!json_object_get(first, sc_keys[i]))
			fail_msg("by_syscall[0] has no %s", sc_keys[i]);
	v = jpath(doc, "syscalls", "by_category");
	assert_int_equal(json_object_size(v), 10);
	for (i = 0; i < 10; i++)
		assert_true(json_is_integer(json_object_get(v, cats[i])));
	assert_int_equal(json_integer_value(json_object_get(v, "security")), 0);
	assert_int_equal(json_integer_value(json_object_get(v, "memory")), orc->calls[NR_MMAP]);
	v = jpath(doc, "syscalls", "top_syscalls");
	assert_true(json_array_size(v) > 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "name")), "read");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "count")),
			 orc->calls[NR_READ]);
	for (i = 0; i < sizeof(an_keys) / sizeof(an_keys[0]); i++) {
		assert_non_null(jpath(doc, "analysis", an_keys[i]));
		assert_non_null(json_object_get(jpath(doc, "syscalls", "analysis"), an_keys[i]));
	}
	v = json_object_get(doc, "slow_syscalls");
	assert_int_equal(json_array_size(v), orc->slow);
	first = json_array_get(v, 0);
	for (i = 0; i < sizeof(slow_keys) / sizeof(slow_keys[0]); i++)
		if (!json_object_get(first, slow_keys[i]))
			fail_msg("slow_syscalls[0] has no %s", slow_keys[i]);
	assert_true(json_integer_value(json_object_get(first, "timestamp")) >= EPOCH_AT_BASE);
	assert_int_equal(strncmp(json_string_value(json_object_get(first, "time_str")),
				 "2023-11-14 22:13:2", 18), 0);
	v = json_object_get(doc, "processes");
	assert_int_equal(json_array_size(v), 2);
	first = json_array_get(v, 1);
	for (i = 0; i < sizeof(proc_keys) / sizeof(proc_keys[0]); i++)
		if (!json_object_get(first, proc_keys[i]))
			fail_msg("processes[1] has no %s", proc_keys[i]);
	assert_string_equal(json_string_value(json_array_get(json_object_get(first, "argv"), 1)),
			    "--fast");
	assert_int_equal(json_integer_value(json_object_get(first, "exit_code")), 137);
	assert_true(json_is_array(jpath(doc, "sched", "buckets")));
	/* No scheduler events in this trace: said so, and no figures made up. */
	assert_true(json_is_false(jpath(doc, "sched", "available")));
	assert_int_equal(json_array_size(jpath(doc, "sched", "buckets")), 0);
	assert_true(json_is_null(json_object_get(first, "peak_rss_kb")));
	assert_int_equal(json_integer_value(json_object_get(first, "exit_signal")), 9);
	assert_int_equal(json_array_size(json_object_get(doc, "execs")), 2);
	assert_int_equal(json_integer_value(json_object_get(doc, "lost_events")), 0);
	assert_true(json_is_true(json_object_get(doc, "complete")));
	assert_string_equal(json_string_value(json_array_get(jpath(doc, "trace", "command"), 2)),
			    "worker --fast");
	assert_int_equal(json_integer_value(jpath(doc, "trace", "exit_code")), 137);
	assert_int_equal(json_integer_value(jpath(doc, "trace", "duration_ns")), 2 * SEC);
	json_decref(doc);
	report_done(r, t);
	oracle_free(orc);
	free(orc);
}

static void test_unclean_trace_is_incomplete(void **state)
{
	struct oracle *orc = malloc(sizeof(*orc));
	struct replay_trace *t;
	struct report *r;
	struct analyze_opts o;
	char path[128], *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	trace_path(path, sizeof(path), "unclean.lmdb");
	write_trace(path, orc, false);
	analyze_opts_default(&o);
	r = report_of(path, &o, &t);
	assert_false(r->complete);
	assert_false(r->clean);
	assert_false(r->lost_known);
	assert_int_equal(r->a.calls, TRACE_N);
	/* Without start_ns/end_ns the segments give the time range. */
	assert_int_equal(r->start_ns, BASE);
	assert_true(r->end_ns >= BASE + 2 * SEC - 2 * SEC / TRACE_N);
	f = open_memstream(&out, &len);
	report_text(f, r);
	fclose(f);
	assert_non_null(strstr(out, "INCOMPLETE: trace not closed cleanly"));
	free(out);
	report_done(r, t);
	oracle_free(orc);
	free(orc);
}

/* A process attached with -p has no fork/exec events: still listed, comm "?". */
static void test_attached_process_listed(void **state)
{
	struct ks_syscall rows[50];
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	struct replay_trace *t;
	struct report *r;
	struct analyze_opts o;
	const uint8_t *buf;
	size_t len;
	char path[128];
	json_t *doc, *p;

	(void)state;
	for (int i = 0; i < 50; i++)
		rows[i] = sc(BASE + (uint64_t)i * MS, i < 40 ? 77 : 78, i < 40 ? 77 : 79, NR_READ,
			     1000, 1);
	trace_path(path, sizeof(path), "attached.lmdb");
	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	assert_int_equal(ks_seg_encode(enc, KS_KIND_SYSCALL, rows, 50, &buf, &len), 0);
	assert_int_equal(ks_store_put_segment(st, KS_KIND_SYSCALL, buf, len), 0);
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);
	analyze_opts_default(&o);
	r = report_of(path, &o, &t);
	doc = report_json(r);
	p = json_object_get(doc, "processes");
	assert_int_equal(json_array_size(p), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(p, 0), "pid")), 77);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(p, 1), "pid")), 78);
	assert_string_equal(json_string_value(json_object_get(json_array_get(p, 1), "comm")), "?");
	assert_true(json_is_null(json_object_get(json_array_get(p, 1), "exit_code")));
	/* No meta at all: not complete, and every warning says why. */
	assert_true(json_is_false(json_object_get(doc, "complete")));
	assert_true(json_array_size(json_object_get(doc, "warnings")) >= 3);
	json_decref(doc);
	report_done(r, t);
}

/* ---- damaged traces and the commands ------------------------------------- */

struct captured {
	int rc;
	char out[4 << 20], err[4096];
	size_t outlen;
};

static void read_file(const char *path, char *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

	buf[n] = 0;
	if (len)
		*len = n;
	if (f)
		fclose(f);
}

/* Runs a command with stdout and stderr sent to files. */
static void run_cmd(struct captured *c, int (*cmd)(int, char **), int argc, char **argv)
{
	char po[128], pe[128];
	int so = dup(1), se = dup(2), fo, fe;

	snprintf(po, sizeof(po), "%s/stdout", tmpdir);
	snprintf(pe, sizeof(pe), "%s/stderr", tmpdir);
	fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stdout);
	fflush(stderr);
	dup2(fo, 1);
	dup2(fe, 2);
	c->rc = cmd(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	read_file(po, c->out, sizeof(c->out), &c->outlen);
	read_file(pe, c->err, sizeof(c->err), NULL);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void write_damaged_trace(const char *path)
{
	struct ks_syscall rows[100];
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	const uint8_t *buf;
	uint8_t *copy;
	size_t len;

	for (int i = 0; i < 100; i++)
		rows[i] = sc(BASE + (uint64_t)i, 1, 1, NR_READ, 100, 0);
	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	assert_int_equal(ks_seg_encode(enc, KS_KIND_SYSCALL, rows, 100, &buf, &len), 0);
	assert_int_equal(ks_store_put_segment(st, KS_KIND_SYSCALL, buf, len), 0);
	/* The second segment has one payload bit flipped. */
	copy = malloc(len);
	memcpy(copy, buf, len);
	copy[len - 3] ^= 0x10;
	assert_int_equal(ks_store_put_segment(st, KS_KIND_SYSCALL, copy, len), 0);
	free(copy);
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);
}

static void test_damaged_trace_fails_whole(void **state)
{
	struct captured *c = malloc(sizeof(*c));
	struct replay_trace *t;
	struct report *r = malloc(sizeof(*r));
	struct analyze_opts o;
	char path[128], msg[512];
	char *argv_report[] = { "report", path, NULL };
	char *argv_json[] = { "report", "--json", path, NULL };
	char *argv_info[] = { "info", path, NULL };
	char *argv_dump[] = { "dump", path, NULL };

	(void)state;
	trace_path(path, sizeof(path), "damaged.lmdb");
	write_damaged_trace(path);
	assert_int_equal(replay_open(path, &t, msg, sizeof(msg)), 0);
	analyze_opts_default(&o);
	assert_true(report_compute(r, t, &o) < 0);
	assert_non_null(strstr(t->err, "segment syscall#"));
	assert_non_null(strstr(t->err, path));
	assert_non_null(strstr(t->err, ks_strerror(-KS_ECHECKSUM)));
	report_free(r);
	free(r);
	replay_close(t);

	/* Every command: exit 1, nothing on stdout, one line on stderr. */
	run_cmd(c, cmd_report, 2, argv_report);
	assert_int_equal(c->rc, KS_EXIT_FAIL);
	assert_int_equal(c->outlen, 0);
	assert_int_equal(count_lines(c->err), 1);
	assert_non_null(strstr(c->err, "segment syscall#"));
	run_cmd(c, cmd_report, 3, argv_json);
	assert_int_equal(c->rc, KS_EXIT_FAIL);
	assert_int_equal(c->outlen, 0);
	run_cmd(c, cmd_info, 2, argv_info);
	assert_int_equal(c->rc, KS_EXIT_FAIL);
	assert_int_equal(c->outlen, 0);
	assert_int_equal(count_lines(c->err), 1);
	run_cmd(c, cmd_dump, 2, argv_dump);
	assert_int_equal(c->rc, KS_EXIT_FAIL);
	assert_int_equal(c->outlen, 0);
	assert_int_equal(count_lines(c->err), 1);
	free(c);
}

static void test_commands_exit_codes(void **state)
{
	struct captured *c = malloc(sizeof(*c));
	struct oracle *orc = malloc(sizeof(*orc));
	char path[128], missing[128];
	char *bad_flag[] = { "report", "--bogus", path, NULL };
	char *bad_slow[] = { "report", "--slow", "10", path, NULL };
	char *bad_time[] = { "report", "--time", "2s,1s", path, NULL };
	char *bad_pid[] = { "report", "--pid", "abc", path, NULL };
	char *no_file[] = { "report", NULL };
	char *two_files[] = { "report", path, path, NULL };
	char *no_such[] = { "report", missing, NULL };
	char *help[] = { "report", "--help", NULL };
	char *text[] = { "report", path, "--hist", "--slow", "15ms", NULL };
	char *json[] = { "report", path, "--json", "--time", ",1s", "--pid", "200", NULL };
	char *info[] = { "info", path, NULL };
	char *info_json[] = { "info", "--json", path, NULL };
	char *dump[] = { "dump", path, NULL };
	char *info_bad[] = { "info", "-x", path, NULL };
	json_t *doc;

	(void)state;
	trace_path(path, sizeof(path), "cmds.lmdb");
	trace_path(missing, sizeof(missing), "missing.lmdb");
	write_trace(path, orc, true);

	run_cmd(c, cmd_report, 3, bad_flag);
	assert_int_equal(c->rc, KS_EXIT_USAGE);
	assert_int_equal(count_lines(c->err), 1);
	assert_non_null(strstr(c->err, "--bogus"));
	run_cmd(c, cmd_report, 4, bad_slow);
	assert_int_equal(c->rc, KS_EXIT_USAGE);
	assert_int_equal(count_lines(c->err), 1);
	run_cmd(c, cmd_report, 4, bad_time);
	assert_int_equal(c->rc, KS_EXIT_USAGE);
	run_cmd(c, cmd_report, 4, bad_pid);
	assert_int_equal(c->rc, KS_EXIT_USAGE);
	run_cmd(c, cmd_report, 1, no_file);
	assert_int_equal(c->rc, KS_EXIT_USAGE);
	run_cmd(c, cmd_report, 3, two_files);
	assert_int_equal(c->rc, KS_EXIT_USAGE);
	run_cmd(c, cmd_info, 3, info_bad);
	assert_int_equal(c->rc, KS_EXIT_USAGE);
	run_cmd(c, cmd_report, 2, no_such);
	assert_int_equal(c->rc, KS_EXIT_FAIL);
	assert_int_equal(count_lines(c->err), 1);
	assert_non_null(strstr(c->err, missing));
	run_cmd(c, cmd_report, 2, help);
	assert_int_equal(c->rc, KS_EXIT_OK);
	assert_non_null(strstr(c->out, "examples:"));
	assert_non_null(strstr(c->out, "0.4%"));

	run_cmd(c, cmd_report, 5, text);
	assert_int_equal(c->rc, KS_EXIT_OK);
	assert_int_equal(c->err[0], 0);
	assert_non_null(strstr(c->out, "SYSCALLS"));
	assert_non_null(strstr(c->out, "     usecs               : count    distribution"));
	assert_non_null(strstr(c->out, "LATENCY per syscall"));
	assert_non_null(strstr(c->out, "worker"));
	assert_null(strstr(c->out, "INCOMPLETE"));

	run_cmd(c, cmd_report, 7, json);
	assert_int_equal(c->rc, KS_EXIT_OK);
	doc = json_loads(c->out, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(jpath(doc, "filter", "pid")), 200);
	assert_true(json_integer_value(jpath(doc, "syscalls", "total")) > 0);
	assert_true(json_integer_value(jpath(doc, "syscalls", "total")) < (json_int_t)orc->pid200_calls);
	json_decref(doc);

	run_cmd(c, cmd_info, 2, info);
	assert_int_equal(c->rc, KS_EXIT_OK);
	assert_non_null(strstr(c->out, "syscall"));
	run_cmd(c, cmd_info, 3, info_json);
	assert_int_equal(c->rc, KS_EXIT_OK);
	doc = json_loads(c->out, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "events")), TRACE_N + 7);
	assert_string_equal(json_string_value(jpath(doc, "meta", "hostname")), "testhost");
	assert_true(json_is_true(json_object_get(doc, "complete")));
	json_decref(doc);

	run_cmd(c, cmd_dump, 2, dump);
	assert_int_equal(c->rc, KS_EXIT_OK);
	/* The capture holds the first 4 MiB: the proc segment comes first in store order
	 * (kind 1 = syscall sorts before kind 2 = proc, so check a syscall line). */
	assert_non_null(strstr(c->out, "0.000000000 100/100 "));
	assert_non_null(strstr(c->out, " <0.0000"));
	oracle_free(orc);
	free(orc);
	free(c);
}

static void test_dump_lines(void **state)
{
	struct ks_syscall rows[] = {
		sc(BASE + 1500, 5, 6, NR_OPENAT, 2500, -2),
		sc(BASE + 2000, 5, 6, NR_MMAP, 900, 0x7f0000001000ll),
		sc(BASE + 3000, 5, 6, NR_EXIT_GROUP, 0, 0),
	};
	struct ks_proc p = proc_ev(BASE, KS_PROC_EXEC, 5, 5, 1, "cat", "cat\0f", 6, 0);
	struct ks_proc e = proc_ev(BASE + 4000, KS_PROC_EXIT, 5, 5, 1, "cat", "", 0, 9);
	struct ks_sched sd[] = {
		{ .ts = BASE + 5000, .what = KS_SCHED_WAKEUP, .cpu = 1, .prev_pid = 5, .prev_tid = 6 },
		{ .ts = BASE + 6000, .what = KS_SCHED_SWITCH, .cpu = 1, .prev_pid = 5, .prev_tid = 6,
		  .prev_state = 1, .faults = 12, .next_pid = 7, .next_tid = 7 },
		{ .ts = BASE + 7000, .what = KS_SCHED_SWITCH, .cpu = 0, .prev_pid = 7, .prev_tid = 7,
		  .prev_state = KS_SCHED_PREEMPTED, .faults = 3 },
	};
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	struct captured *c = malloc(sizeof(*c));
	const uint8_t *buf;
	size_t len;
	char path[128], meta[32];
	char *dump[] = { "dump", path, NULL };
	char *dump_json[] = { "dump", "--json", path, NULL };
	json_t *doc;

	(void)state;
	rows[2].flags = KS_SYSF_NORET;
	trace_path(path, sizeof(path), "dump.lmdb");
	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	snprintf(meta, sizeof(meta), "%llu", BASE);
	assert_int_equal(ks_store_put_meta(st, "start_ns", meta), 0);
	assert_int_equal(ks_seg_encode(enc, KS_KIND_SYSCALL, rows, 3, &buf, &len), 0);
	assert_int_equal(ks_store_put_segment(st, KS_KIND_SYSCALL, buf, len), 0);
	assert_int_equal(ks_seg_encode(enc, KS_KIND_PROC, &p, 1, &buf, &len), 0);
	assert_int_equal(ks_store_put_segment(st, KS_KIND_PROC, buf, len), 0);
	assert_int_equal(ks_seg_encode(enc, KS_KIND_PROC, &e, 1, &buf, &len), 0);
	assert_int_equal(ks_store_put_segment(st, KS_KIND_PROC, buf, len), 0);
	assert_int_equal(ks_seg_encode(enc, KS_KIND_SCHED, sd, 3, &buf, &len), 0);
	assert_int_equal(ks_store_put_segment(st, KS_KIND_SCHED, buf, len), 0);
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);

	run_cmd(c, cmd_dump, 2, dump);
	assert_int_equal(c->rc, KS_EXIT_OK);
	assert_string_equal(c->out,
			    "0.000001500 5/6 openat(257) = -1 ENOENT <0.000002500>\n"
			    "0.000002000 5/6 mmap(9) = 0x7f0000001000 <0.000000900>\n"
			    "0.000003000 5/6 exit_group(231) = ?\n"
			    "0.000000000 5/5 exec comm=cat argv=cat f\n"
			    "0.000004000 5/5 exit code=137 (killed by SIGKILL)\n"
			    "0.000005000 cpu=1 wakeup 5/6\n"
			    "0.000006000 cpu=1 switch 5/6 (S, faults=12) => 7/7\n"
			    "0.000007000 cpu=0 switch 7/7 (R, preempted, faults=3) => -\n");
	run_cmd(c, cmd_dump, 3, dump_json);
	assert_int_equal(c->rc, KS_EXIT_OK);
	assert_int_equal(count_lines(c->out), 8);
	doc = json_loads(c->out, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "name")), "openat");
	assert_int_equal(json_integer_value(json_object_get(doc, "ret")), -2);
	json_decref(doc);
	doc = json_loads(strstr(c->out, "{\"kind\":\"proc\""), JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "event")), "exec");
	assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "argv"), 1)), "f");
	json_decref(doc);
	doc = json_loads(strstr(c->out, "{\"kind\":\"sched\",\"ts\":1000000006000"),
			 JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "event")), "switch");
	assert_string_equal(json_string_value(json_object_get(doc, "state")), "S");
	assert_true(json_is_false(json_object_get(doc, "preempted")));
	assert_int_equal(json_integer_value(json_object_get(doc, "next_tid")), 7);
	json_decref(doc);
	free(c);
}

/* ---- throughput (REPLAY_BENCH=1) ----------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A dd-like storm: read/write alternating on one thread, a few others mixed in. */
static void gen_storm(struct ks_syscall *rows, size_t n, uint64_t *seed)
{
	uint64_t ts = BASE;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng_next(seed);

		ts += 300 + r % 200;
		rows[i] = sc(ts, 1000, 1000 + (uint32_t)(r >> 60 == 0), i & 1 ? NR_WRITE : NR_READ,
			     150 + (r >> 20) % 400, 1);
		if ((r & 0xff) == 0)
			rows[i].nr = NR_MMAP;
	}
}

static void test_bench(void **state)
{
	const size_t n = getenv("REPLAY_BENCH") ? 20u << 20 : 1u << 20;
	struct ks_syscall *rows = malloc(n * sizeof(*rows));
	struct analysis *a = malloc(sizeof(*a));
	struct analyze_opts o;
	struct oracle dummy;
	struct replay_trace *t;
	struct report *r;
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	const uint8_t *buf;
	uint64_t seed = 99;
	char path[128];
	double t0, agg, e2e;
	size_t seg = 65536;

	(void)state;
	(void)dummy;
	gen_storm(rows, n, &seed);
	analyze_opts_default(&o);
	analyze_init(a, &o, BASE);
	t0 = now_s();
	assert_int_equal(analyze_syscalls(a, rows, n), 0);
	agg = now_s() - t0;
	assert_int_equal(analyze_finish(a), 0);
	assert_int_equal(a->calls, n);
	analyze_free(a);
	free(a);

	trace_path(path, sizeof(path), "bench.lmdb");
	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(1, &enc), 0);
	for (size_t i = 0; i < n; i += seg) {
		size_t m = n - i < seg ? n - i : seg, len;

		assert_int_equal(ks_seg_encode(enc, KS_KIND_SYSCALL, rows + i, m, &buf, &len), 0);
		assert_int_equal(ks_store_put_segment(st, KS_KIND_SYSCALL, buf, len), 0);
	}
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);
	free(rows);

	t0 = now_s();
	r = report_of(path, &o, &t);
	e2e = now_s() - t0;
	assert_int_equal(r->a.calls, n);
	report_done(r, t);
	unlink(path);
	print_message("replay throughput, %zu events: aggregation %.1f M events/s, "
		      "open + decode + aggregate %.1f M events/s\n",
		      n, (double)n / agg / 1e6, (double)n / e2e / 1e6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_bucket_bounds),
		cmocka_unit_test(test_hist_percentiles_vs_oracle),
		cmocka_unit_test(test_log2_print_layout),
		cmocka_unit_test(test_syscall_names_and_categories),
		cmocka_unit_test(test_analyze_rows),
		cmocka_unit_test(test_analyze_log2_slots_exact),
		cmocka_unit_test(test_analyze_slow_cap_keeps_slowest),
		cmocka_unit_test(test_analyze_filters),
		cmocka_unit_test(test_analyze_far_numbers_bounded),
		cmocka_unit_test(test_behavior_classes),
		cmocka_unit_test(test_trace_report_matches_oracle),
		cmocka_unit_test(test_trace_json_shape),
		cmocka_unit_test(test_unclean_trace_is_incomplete),
		cmocka_unit_test(test_attached_process_listed),
		cmocka_unit_test(test_damaged_trace_fails_whole),
		cmocka_unit_test(test_commands_exit_codes),
		cmocka_unit_test(test_dump_lines),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
