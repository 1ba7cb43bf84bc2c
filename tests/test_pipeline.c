/* Unit tests of the segment walk's decode pipeline (replay/pipeline.c under
 * replay_each_segment): on traces written with the real store and codec, every
 * thread count hands the callback every segment once, in store order, with rows
 * whose contents say which segment they came from; a damaged segment stops the
 * walk there, named as the one-thread walk names it, with nothing after it
 * delivered; a callback's stop and an unreadable index are reported as before;
 * the pipeline is reused from walk to walk, early stops included; and a walk
 * started from a callback runs beside the outer one without disturbing it. */
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
		cmocka_unit_test(test_default_threads),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
