/* Unit tests of the segment walk's decode pipeline (replay/pipeline.c under
 * replay_each_segment): on traces written with the real store and codec, every
 * thread count hands the callback every segment once, in store order, with rows
 * whose contents say which segment they came from; a damaged segment stops the
 * walk there, named as the one-thread walk names it, with nothing after it
 * delivered; a callback's stop and an unreadable index are reported as before;
 * the pipeline is reused from walk to walk, early stops included; a walk
 * started from a callback runs beside the outer one without disturbing it; the
 * per-segment work runs on every segment, in order where asked, and stops the walk
 * at its error; and the syscall analysis split over the threads (per-thread
 * figures merged once, the rest in order) equals the one-pass analysis. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/event.h"
#include "format/kserr.h"
#include "format/segment.h"
#include "replay/analyze.h"
#include "replay/pipeline.h"
#include "replay/trace.h"
#include "store/store.h"

#define NSEG 48      /* syscall segments */
#define NPROC_SEG 5  /* proc segments, before them in the store */
#define ROWS 300     /* rows per syscall segment */
#define DAMAGED 17   /* index of the first damaged syscall segment */
#define DAMAGED2 30  /* a later one */

static const unsigned thread_counts[] = { 1, 2, 3, 4, 8 };

static char tmpdir[64];

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_pipeline.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void trace_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* Row r of syscall segment i: its fields name both. */
static struct ks_syscall row_of(unsigned i, unsigned r)
{
	return (struct ks_syscall){ .ts = 1000000ull * (i + 1) + r, .dur = i, .ret = r,
				    .pid = 100 + i, .tid = 100 + i, .nr = r % 300 };
}

enum damage { INTACT, FLIP_PAYLOAD, BAD_MAGIC };

/* Writes NPROC_SEG proc segments and NSEG syscall segments; with damage, syscall
 * segments DAMAGED and DAMAGED2 are spoilt that way. With bad_key, a segment
 * key of the wrong size sorts after the syscall segments. */
static void write_trace(const char *path, enum damage damage, bool bad_key)
{
	struct ks_syscall *rows = calloc(ROWS, sizeof(*rows));
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	const uint8_t *buf;
	uint8_t *copy;
	size_t len;

	assert_non_null(rows);
	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	for (unsigned i = 0; i < NPROC_SEG; i++) {
		struct ks_proc p = { .ts = 1000 + i, .what = KS_PROC_EXEC, .pid = 7 + i,
				     .tid = 7 + i, .ppid = 1 };

		strcpy(p.comm, "proc");
		assert_int_equal(ks_seg_encode(enc, KS_KIND_PROC, &p, 1, &buf, &len), 0);
		assert_int_equal(ks_store_put_segment(st, KS_KIND_PROC, buf, len), 0);
	}
	for (unsigned i = 0; i < NSEG; i++) {
		for (unsigned r = 0; r < ROWS; r++)
			rows[r] = row_of(i, r);
		assert_int_equal(ks_seg_encode(enc, KS_KIND_SYSCALL, rows, ROWS, &buf, &len), 0);
		copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, buf, len);
		if (damage != INTACT && (i == DAMAGED || i == DAMAGED2)) {
			if (damage == FLIP_PAYLOAD)
				copy[len - 3] ^= 0x10;
			else
				copy[0] ^= 0xff;
		}
		assert_int_equal(ks_store_put_segment(st, KS_KIND_SYSCALL, copy, len), 0);
		free(copy);
	}
	if (bad_key) {
		const unsigned char key[3] = { KS_KIND_SYSCALL, 0xff, 0xff };

		assert_int_equal(ks_store_put(st, KS_DB_SEGMENTS, key, sizeof(key), "x", 1), 0);
	}
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);
	free(rows);
}

struct seen {
	unsigned n;             /* segments delivered */
	unsigned nproc, nsys;
	uint64_t seq[NSEG + NPROC_SEG];
	unsigned kind[NSEG + NPROC_SEG];
	unsigned stop_after;    /* return 42 after this many (0: never) */
	int bad;                /* rows not those written */
};

static int check_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			 const void *rows)
{
	struct seen *s = ctx;

	if (s->n >= NSEG + NPROC_SEG) {
		s->bad++;
		return -1;
	}
	s->seq[s->n] = seq;
	s->kind[s->n] = hdr->kind;
	s->n++;
	if (hdr->kind == KS_KIND_SYSCALL) {
		const struct ks_syscall *r = rows;
		unsigned i = s->nsys++;

		/* Each row says which segment it is from: the order is the store's. */
		if (hdr->count != ROWS)
			s->bad++;
		for (unsigned k = 0; k < hdr->count && k < ROWS; k++) {
			struct ks_syscall want = row_of(i, k);

			if (r[k].ts != want.ts || r[k].dur != want.dur || r[k].ret != want.ret ||
			    r[k].pid != want.pid || r[k].nr != want.nr)
				s->bad++;
		}
	} else if (hdr->kind == KS_KIND_PROC) {
		const struct ks_proc *p = rows;

		if (hdr->count != 1 || p->pid != 7 + s->nproc)
			s->bad++;
		s->nproc++;
	}
	return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

static struct replay_trace *open_trace(const char *path)
{
	struct replay_trace *t;
	char msg[512];

	assert_int_equal(replay_open(path, &t, msg, sizeof(msg)), 0);
	return t;
}

/* Store order: procs (kind 2) sort after syscalls (kind 1). */
static void assert_in_order(const struct seen *s, unsigned nsys, unsigned nproc)
{
	assert_int_equal(s->bad, 0);
	assert_int_equal(s->nsys, nsys);
	assert_int_equal(s->nproc, nproc);
	for (unsigned i = 0; i < s->n; i++) {
		assert_int_equal(s->kind[i], i < nsys ? KS_KIND_SYSCALL : KS_KIND_PROC);
		if (i && s->kind[i] == s->kind[i - 1])
			assert_int_equal(s->seq[i], s->seq[i - 1] + 1);
	}
}

static void test_every_thread_count_delivers_in_order(void **state)
{
	char path[128];

	(void)state;
	trace_path(path, sizeof(path), "intact.lmdb");
	write_trace(path, INTACT, false);
	for (size_t c = 0; c < sizeof(thread_counts) / sizeof(thread_counts[0]); c++) {
		struct replay_trace *t = open_trace(path);
		struct seen *s = calloc(1, sizeof(*s));

		assert_non_null(s);
		assert_int_equal(replay_set_threads(t, thread_counts[c]), 0);
		assert_int_equal(replay_each_segment(t, 0, check_segment, s), 0);
		assert_int_equal(t->err[0], 0);
		assert_in_order(s, NSEG, NPROC_SEG);
		/* One kind alone, on the same pipeline. */
		memset(s, 0, sizeof(*s));
		assert_int_equal(replay_each_segment(t, KS_KIND_SYSCALL, check_segment, s), 0);
		assert_in_order(s, NSEG, 0);
		memset(s, 0, sizeof(*s));
		assert_int_equal(replay_each_segment(t, KS_KIND_PROC, check_segment, s), 0);
		assert_int_equal(s->bad, 0);
		assert_int_equal(s->nproc, NPROC_SEG);
		free(s);
		replay_close(t);
	}
}

/* The walk on one thread is the reference: every other thread count stops at
 * the same segment, with the same message, having delivered the same ones. */
static void check_damaged(const char *path, int want_err)
{
	char ref[512] = "";

	for (size_t c = 0; c < sizeof(thread_counts) / sizeof(thread_counts[0]); c++) {
		struct replay_trace *t = open_trace(path);
		struct seen *s = calloc(1, sizeof(*s));
		char name[64];
		int err;

		assert_non_null(s);
		assert_int_equal(replay_set_threads(t, thread_counts[c]), 0);
		err = replay_each_segment(t, 0, check_segment, s);
		assert_int_equal(err, want_err);
		assert_in_order(s, DAMAGED, 0);
		snprintf(name, sizeof(name), "segment syscall#%llu:",
			 (unsigned long long)(s->seq[DAMAGED - 1] + 1));
		assert_non_null(strstr(t->err, name));
		assert_non_null(strstr(t->err, ks_strerror(want_err)));
		if (c == 0)
			snprintf(ref, sizeof(ref), "%s", t->err);
		else
			assert_string_equal(t->err, ref);
		free(s);
		replay_close(t);
	}
}

static void test_stops_at_first_damaged_payload(void **state)
{
	char path[128];

	(void)state;
	trace_path(path, sizeof(path), "flipped.lmdb");
	write_trace(path, FLIP_PAYLOAD, false);
	check_damaged(path, -KS_ECHECKSUM);
}

static void test_stops_at_first_damaged_header(void **state)
{
	char path[128];

	(void)state;
	trace_path(path, sizeof(path), "badmagic.lmdb");
	write_trace(path, BAD_MAGIC, false);
	check_damaged(path, -KS_EMAGIC);
}

/* A damaged index entry is reported after every segment before it, and a
 * damaged segment before it wins. */
static void test_bad_index_after_segments(void **state)
{
	char path[128];

	(void)state;
	trace_path(path, sizeof(path), "badkey.lmdb");
	write_trace(path, INTACT, true);
	for (size_t c = 0; c < sizeof(thread_counts) / sizeof(thread_counts[0]); c++) {
		struct replay_trace *t = open_trace(path);
		struct seen *s = calloc(1, sizeof(*s));

		assert_non_null(s);
		assert_int_equal(replay_set_threads(t, thread_counts[c]), 0);
		assert_int_equal(replay_each_segment(t, 0, check_segment, s), -KS_ECORRUPT);
		assert_in_order(s, NSEG, 0);
		assert_non_null(strstr(t->err, "cannot read the segment index"));
		free(s);
		replay_close(t);
	}
	trace_path(path, sizeof(path), "badkey2.lmdb");
	write_trace(path, FLIP_PAYLOAD, true);
	check_damaged(path, -KS_ECHECKSUM);
}

/* A callback's non-zero value stops the walk at once; the next walk starts
 * over, on the same pipeline, and so does a change of thread count. */
static void test_callback_stop_and_reuse(void **state)
{
	char path[128];
	struct replay_trace *t;
	struct seen *s = calloc(1, sizeof(*s));

	(void)state;
	assert_non_null(s);
	trace_path(path, sizeof(path), "reuse.lmdb");
	write_trace(path, INTACT, false);
	t = open_trace(path);
	for (unsigned round = 0; round < 60; round++) {
		unsigned threads = thread_counts[round % 5];
		unsigned stop = 1 + (round * 7) % (NSEG + NPROC_SEG);

		assert_int_equal(replay_set_threads(t, threads), 0);
		memset(s, 0, sizeof(*s));
		s->stop_after = stop;
		assert_int_equal(replay_each_segment(t, 0, check_segment, s), 42);
		assert_int_equal(s->n, stop);
		assert_int_equal(s->bad, 0);
		memset(s, 0, sizeof(*s));
		assert_int_equal(replay_each_segment(t, 0, check_segment, s), 0);
		assert_in_order(s, NSEG, NPROC_SEG);
	}
	assert_int_equal(replay_set_threads(t, 0), -EINVAL);
	assert_int_equal(replay_set_threads(t, SEG_PIPE_MAX_THREADS + 1), -EINVAL);
	free(s);
	replay_close(t);
}

struct nesting {
	struct replay_trace *t;
	struct seen outer, inner;
	int inner_err, set_err;
};

/* Walks the proc segments from inside the walk of every kind. */
static int nested_walk(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
		       const void *rows)
{
	struct nesting *n = ctx;
	int err = check_segment(&n->outer, hdr, seq, rows);

	if (err || n->outer.n % 10)
		return err;
	memset(&n->inner, 0, sizeof(n->inner));
	n->inner_err |= replay_each_segment(n->t, KS_KIND_PROC, check_segment, &n->inner);
	if (n->inner.nproc != NPROC_SEG || n->inner.bad)
		n->inner_err |= 1;
	n->set_err = replay_set_threads(n->t, 2);
	/* The outer walk's rows are untouched by the inner one. */
	if (hdr->kind == KS_KIND_SYSCALL) {
		const struct ks_syscall *r = rows;

		for (unsigned k = 0; k < hdr->count; k++)
			if (r[k].ts != row_of(n->outer.nsys - 1, k).ts)
				n->outer.bad++;
	}
	return 0;
}

static void test_nested_walk(void **state)
{
	char path[128];
	struct nesting *n = calloc(1, sizeof(*n));

	(void)state;
	assert_non_null(n);
	trace_path(path, sizeof(path), "nested.lmdb");
	write_trace(path, INTACT, false);
	for (size_t c = 0; c < sizeof(thread_counts) / sizeof(thread_counts[0]); c++) {
		memset(n, 0, sizeof(*n));
		n->t = open_trace(path);
		assert_int_equal(replay_set_threads(n->t, thread_counts[c]), 0);
		assert_int_equal(replay_each_segment(n->t, 0, nested_walk, n), 0);
		assert_in_order(&n->outer, NSEG, NPROC_SEG);
		assert_int_equal(n->inner_err, 0);
		assert_int_equal(n->set_err, -EBUSY);
		/* After the walk, the thread count can change again. */
		assert_int_equal(replay_set_threads(n->t, 2), 0);
		replay_close(n->t);
	}
	free(n);
}

/* --- the work done beside the decode -------------------------------------- */

struct work_seen {
	uint64_t rows[SEG_PIPE_MAX_THREADS]; /* per thread: each's own, unshared */
	unsigned ordered;                    /* segments seen by ordered, in order */
	bool done[NSEG];                     /* ordered ran on the segment */
	int bad;
	unsigned fail_at;                    /* ordered fails on this one (0: never) */
	unsigned delivered;
};

static int work_each(void *ctx, unsigned thread, const struct ks_seg_header *hdr,
		     const void *rows)
{
	struct work_seen *w = ctx;

	(void)rows;
	if (thread >= SEG_PIPE_MAX_THREADS)
		return -EINVAL;
	w->rows[thread] += hdr->count;
	return 0;
}

static int work_ordered(void *ctx, const struct ks_seg_header *hdr, const void *rows)
{
	struct work_seen *w = ctx;
	const struct ks_syscall *r = rows;
	unsigned i = w->ordered++;

	(void)hdr;
	if (i >= NSEG || r[0].ts != row_of(i, 0).ts)
		return -EINVAL;
	w->done[i] = true;
	return w->fail_at && w->ordered == w->fail_at ? -ENOMEM : 0;
}

static int work_delivered(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			  const void *rows)
{
	struct work_seen *w = ctx;

	(void)hdr;
	(void)seq;
	(void)rows;
	/* ordered ran on this segment and on every one before it (w->ordered
	 * itself may be moving on: the ordered work runs ahead) */
	for (unsigned i = 0; i <= w->delivered && i < NSEG; i++)
		if (!w->done[i])
			w->bad++;
	w->delivered++;
	return 0;
}

static void test_work_beside_decode(void **state)
{
	char path[128];

	(void)state;
	trace_path(path, sizeof(path), "work.lmdb");
	write_trace(path, INTACT, false);
	for (size_t c = 0; c < sizeof(thread_counts) / sizeof(thread_counts[0]); c++) {
		struct replay_trace *t = open_trace(path);
		struct work_seen w;
		struct seg_pipe_work pw = { work_each, work_ordered, &w };
		uint64_t sum = 0;

		assert_int_equal(replay_set_threads(t, thread_counts[c]), 0);
		assert_int_equal(replay_set_work(t, KS_KIND_SYSCALL, &pw), 0);
		memset(&w, 0, sizeof(w));
		assert_int_equal(replay_each_segment(t, KS_KIND_SYSCALL, work_delivered, &w), 0);
		for (unsigned i = 0; i < SEG_PIPE_MAX_THREADS; i++) {
			sum += w.rows[i];
			if (i >= thread_counts[c])
				assert_int_equal(w.rows[i], 0);
		}
		assert_int_equal(sum, (uint64_t)NSEG * ROWS);
		assert_int_equal(w.ordered, NSEG);
		assert_int_equal(w.delivered, NSEG);
		assert_int_equal(w.bad, 0);
		/* The work's error stops the walk at its segment, nothing after it
		 * delivered; the next walk of that kind runs the work again. */
		memset(&w, 0, sizeof(w));
		w.fail_at = 20;
		assert_int_equal(replay_each_segment(t, KS_KIND_SYSCALL, work_delivered, &w),
				 -ENOMEM);
		assert_int_equal(w.delivered, 19);
		assert_int_equal(w.bad, 0);
		memset(&w, 0, sizeof(w));
		assert_int_equal(replay_each_segment(t, KS_KIND_SYSCALL, work_delivered, &w), 0);
		assert_int_equal(w.ordered, NSEG);
		/* Other kinds and cleared work: nothing runs. */
		memset(&w, 0, sizeof(w));
		assert_int_equal(replay_each_segment(t, KS_KIND_PROC, work_delivered, &w), 0);
		assert_int_equal(replay_set_work(t, 0, NULL), 0);
		assert_int_equal(replay_each_segment(t, KS_KIND_SYSCALL, work_delivered, &w), 0);
		assert_int_equal(w.ordered, 0);
		replay_close(t);
	}
}

/* --- the syscall analysis split over the threads --------------------------- */

#define ASEG 40   /* syscall segments of the analysis trace */
#define AROWS 700 /* rows each */

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Rows that reach every path: common and rare numbers, numbers past the direct
 * array (more than ANALYZE_NR_FAR of them: the merged entry), calls that never
 * return, errors, slow calls past the kept cap with equal durations, and tids
 * that pass from one process to another and back across segments. */
static void analysis_rows(unsigned seg, struct ks_syscall *rows)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ seg;

	for (unsigned r = 0; r < AROWS; r++) {
		uint64_t v = rnd(&x);
		struct ks_syscall *s = &rows[r];
		unsigned tid = 50 + (unsigned)(v % 23);

		memset(s, 0, sizeof(*s));
		s->ts = 1000000000ull + (uint64_t)seg * 10000000 + r * 1000 + (v >> 60);
		s->dur = v % 7 == 0 ? 20000000 + (v >> 40) % 4 * 1000000 : (v >> 20) % 200000;
		s->nr = v % 11 == 0 ? 1024 + (unsigned)((v >> 8) % 40) : (unsigned)((v >> 8) % 60);
		s->ret = v % 5 == 0 ? -(int64_t)((v >> 16) % 4200) : (int64_t)(v % 4096);
		s->tid = tid;
		/* tids 50..54 belong to process 1 in even tenths of the trace, 2 else */
		s->pid = tid < 55 ? ((seg / 4) % 2 ? 2 : 1) : tid;
		if (v % 97 == 0) {
			s->flags = KS_SYSF_NORET;
			s->dur = 0;
		}
	}
}

static void write_analysis_trace(const char *path)
{
	struct ks_syscall *rows = calloc(AROWS, sizeof(*rows));
	struct ks_seg_encoder *enc;
	struct ks_store *st;
	const uint8_t *buf;
	size_t len;

	assert_non_null(rows);
	unlink(path);
	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	for (unsigned i = 0; i < ASEG; i++) {
		analysis_rows(i, rows);
		assert_int_equal(ks_seg_encode(enc, KS_KIND_SYSCALL, rows, AROWS, &buf, &len), 0);
		assert_int_equal(ks_store_put_segment(st, KS_KIND_SYSCALL, buf, len), 0);
	}
	assert_int_equal(ks_store_close(st), 0);
	ks_seg_encoder_free(enc);
	free(rows);
}

static void analysis_opts(struct analyze_opts *o)
{
	analyze_opts_default(o);
	o->slow_ns = 20000000;
	o->slow_cap = 50; /* fewer than the slow calls: ties decide which are kept */
}

static void assert_sc_equal(const struct sc_stat *a, const struct sc_stat *b)
{
	assert_int_equal(a->nr, b->nr);
	assert_int_equal(a->cat, b->cat);
	assert_int_equal(a->calls, b->calls);
	assert_int_equal(a->errors, b->errors);
	assert_int_equal(a->noret, b->noret);
	assert_memory_equal(a->log2us, b->log2us, sizeof(a->log2us));
	assert_int_equal(a->hist.count, b->hist.count);
	assert_int_equal(a->hist.sum, b->hist.sum);
	assert_int_equal(a->hist.min, b->hist.min);
	assert_int_equal(a->hist.max, b->hist.max);
	assert_memory_equal(a->hist.bucket, b->hist.bucket, sizeof(a->hist.bucket));
}

static void assert_analysis_equal(const struct analysis *a, const struct analysis *b)
{
	assert_int_equal(a->calls, b->calls);
	assert_int_equal(a->errors, b->errors);
	assert_int_equal(a->ns, b->ns);
	assert_memory_equal(a->cat, b->cat, sizeof(a->cat));
	assert_int_equal(a->nsorted, b->nsorted);
	for (size_t i = 0; i < a->nsorted; i++)
		assert_sc_equal(a->sorted[i], b->sorted[i]);
	assert_int_equal(a->nthreads, b->nthreads);
	for (size_t i = 0; i < a->nthreads; i++) {
		assert_int_equal(a->threads[i].tid, b->threads[i].tid);
		assert_int_equal(a->threads[i].pid, b->threads[i].pid);
		assert_int_equal(a->threads[i].first_ts, b->threads[i].first_ts);
		assert_int_equal(a->threads[i].last_ts, b->threads[i].last_ts);
		assert_int_equal(a->threads[i].calls, b->threads[i].calls);
	}
	assert_int_equal(a->slow_total, b->slow_total);
	assert_int_equal(a->nslow, b->nslow);
	for (size_t i = 0; i < a->nslow; i++) { /* field by field: the struct has padding */
		assert_int_equal(a->slow[i].ts, b->slow[i].ts);
		assert_int_equal(a->slow[i].dur, b->slow[i].dur);
		assert_int_equal(a->slow[i].ret, b->slow[i].ret);
		assert_int_equal(a->slow[i].pid, b->slow[i].pid);
		assert_int_equal(a->slow[i].tid, b->slow[i].tid);
		assert_int_equal(a->slow[i].nr, b->slow[i].nr);
	}
	assert_int_equal(a->first_ts, b->first_ts);
	assert_int_equal(a->last_ts, b->last_ts);
	assert_int_equal(a->thread_ns, b->thread_ns);
	assert_int_equal(a->wait_ns, b->wait_ns);
	assert_memory_equal(a->events_read, b->events_read, sizeof(a->events_read));
	assert_memory_equal(a->segments, b->segments, sizeof(a->segments));
}

static void test_split_analysis_equals_one_pass(void **state)
{
	struct ks_syscall *rows = calloc(AROWS, sizeof(*rows));
	struct analysis *ref = calloc(1, sizeof(*ref)), *a = calloc(1, sizeof(*a));
	struct ks_seg_header hdr = { .kind = KS_KIND_SYSCALL, .count = AROWS };
	struct analyze_opts o;
	char path[128];

	(void)state;
	assert_non_null(rows);
	assert_non_null(ref);
	assert_non_null(a);
	trace_path(path, sizeof(path), "analysis.lmdb");
	write_analysis_trace(path);
	analysis_opts(&o);
	/* The reference: every row in store order, in one pass, on this thread. */
	assert_int_equal(analyze_init(ref, &o, 0), 0);
	for (unsigned i = 0; i < ASEG; i++) {
		analysis_rows(i, rows);
		assert_int_equal(analyze_segment(ref, &hdr, i, rows), 0);
	}
	assert_int_equal(analyze_finish(ref), 0);
	assert_true(ref->nthreads > 23); /* the tids that changed process */
	assert_true(ref->slow_total > o.slow_cap);
	assert_non_null(analyze_find(ref, ANALYZE_NR_MERGED));

	for (size_t c = 0; c < sizeof(thread_counts) / sizeof(thread_counts[0]); c++) {
		struct replay_trace *t = open_trace(path);
		struct seg_pipe_work w = { analyze_each, analyze_ordered, a };

		assert_int_equal(replay_set_threads(t, thread_counts[c]), 0);
		assert_int_equal(analyze_init(a, &o, 0), 0);
		assert_int_equal(analyze_split(a, thread_counts[c]), 0);
		assert_int_equal(replay_set_work(t, KS_KIND_SYSCALL, &w), 0);
		assert_int_equal(replay_each_segment(t, KS_KIND_SYSCALL, analyze_segment, a), 0);
		assert_int_equal(analyze_finish(a), 0);
		assert_analysis_equal(a, ref);
		analyze_free(a);
		replay_close(t);
	}
	analyze_free(ref);
	free(ref);
	free(a);
	free(rows);
}

static void test_default_threads(void **state)
{
	(void)state;
	setenv("KSIGHT_THREADS", "3", 1);
	assert_int_equal(seg_pipe_default_threads(), 3);
	setenv("KSIGHT_THREADS", "0", 1);
	assert_true(seg_pipe_default_threads() >= 1);
	setenv("KSIGHT_THREADS", "lots", 1);
	assert_true(seg_pipe_default_threads() >= 1);
	setenv("KSIGHT_THREADS", "64", 1);
	assert_int_equal(seg_pipe_default_threads(), 64);
	setenv("KSIGHT_THREADS", "65", 1);
	assert_true(seg_pipe_default_threads() <= SEG_PIPE_DEFAULT_THREADS);
	unsetenv("KSIGHT_THREADS");
	assert_true(seg_pipe_default_threads() >= 1);
	assert_true(seg_pipe_default_threads() <= SEG_PIPE_DEFAULT_THREADS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_thread_count_delivers_in_order),
		cmocka_unit_test(test_stops_at_first_damaged_payload),
		cmocka_unit_test(test_stops_at_first_damaged_header),
		cmocka_unit_test(test_bad_index_after_segments),
		cmocka_unit_test(test_callback_stop_and_reuse),
		cmocka_unit_test(test_nested_walk),
		cmocka_unit_test(test_work_beside_decode),
		cmocka_unit_test(test_split_analysis_equals_one_pass),
		cmocka_unit_test(test_default_threads),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
