/* The one-pass syscall analyser behind `ksight report`: per-syscall counts, errors,
 * latency histograms, per-thread activity spans, the slow-syscall list and the
 * process table. Memory grows with distinct syscalls, threads and processes (and
 * the capped slow list), never with the number of events. */
#ifndef KSIGHT_REPLAY_ANALYZE_H
#define KSIGHT_REPLAY_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "format/segment.h"
#include "replay/blockio.h"
#include "replay/hist.h"
#include "replay/iobuckets.h"
#include "replay/network.h"
#include "replay/procs.h"
#include "replay/sched.h"
#include "replay/syscalls.h"

#define ANALYZE_SLOW_DEFAULT_NS (10ull * 1000 * 1000)
#define ANALYZE_SLOW_CAP_DEFAULT 100000
#define ANALYZE_NR_DIRECT 1024 /* syscall numbers below this index an array */
#define ANALYZE_NR_FAR 16      /* distinct larger numbers kept apart; the rest merge */
#define ANALYZE_NR_MERGED UINT32_MAX /* the nr of that merged entry */

struct analyze_opts {
	bool has_pid;
	uint32_t pid;     /* only this process (tgid) */
	const struct ks_hmap *pids; /* only these processes (report --cgroup); NULL: all */
	uint64_t from_ns; /* window, as offsets from the trace start: [from, to) */
	uint64_t to_ns;   /* UINT64_MAX: open */
	uint64_t slow_ns; /* slow-syscall threshold (>=) */
	size_t slow_cap;  /* slow syscalls kept (the slowest); the rest are counted */
};

/* Fills o with the defaults: no filter, 10 ms, 100000 kept. */
void analyze_opts_default(struct analyze_opts *o);

struct files_analysis;

struct sc_stat {
	uint32_t nr;
	enum ks_cat cat;
	uint64_t calls;  /* every call, also those that never returned */
	uint64_t errors; /* returned -4095..-1 */
	uint64_t noret;  /* exit, exit_group: no latency */
	uint64_t log2us[KS_LOG2_SLOTS]; /* latency in usecs, libbpf-tools slots (finish) */
	struct ks_hist hist; /* latency in ns of the calls that returned; its count is
			      * set by analyze_finish */
};

struct slow_call {
	uint64_t ts, dur;
	int64_t ret;
	uint32_t pid, tid, nr;
};

struct thread_stat {
	uint32_t tid, pid;
	uint64_t first_ts, last_ts; /* first entry, last exit of its selected syscalls */
	uint64_t calls;             /* its selected syscalls */
};

struct cat_stat {
	uint64_t calls, errors, ns;
	uint64_t log2us[KS_LOG2_SLOTS];
};

/* One thread's syscall figures when the walk spreads them (analyze_split). */
struct analyze_part {
	struct sc_stat *direct[ANALYZE_NR_DIRECT];
};

struct analysis {
	struct analyze_opts o;
	uint64_t base;         /* trace start, CLOCK_MONOTONIC */
	uint64_t lo, range;    /* selected: lo <= ts <= lo + range */

	struct sc_stat *direct[ANALYZE_NR_DIRECT];
	struct sc_stat *far[ANALYZE_NR_FAR + 1]; /* the last one: merged */
	size_t nfar;

	struct thread_stat *threads;
	size_t nthreads, capthreads;
	struct ks_hmap tidmap; /* tid -> index in threads */
	struct { uint32_t tid, pid, idx; } tcache[256];

	struct slow_call *slow; /* a min-heap on dur while adding; sorted by finish */
	size_t nslow, capslow;
	uint64_t slow_total; /* every call over the threshold, kept or not */

	struct replay_procs procs;
	struct sched_analysis sched; /* sched and sample events; see sched.h */
	struct blockio_analysis blk; /* block rows; see blockio.h */
	struct net_analysis net;     /* net rows; see network.h */
	struct io_buckets iob;       /* block and network bytes per process and second */
	struct files_analysis *files; /* fed the syscalls too when set (replay/files.h) */
	/* analyze_split: the syscall figures of numbers below ANALYZE_NR_DIRECT per
	 * thread, added up by analyze_finish; the rest in order (analyze_ordered). */
	struct analyze_part *parts;
	unsigned nparts;

	uint64_t events_read[KS_KIND_MAX]; /* decoded, before filters */
	uint64_t segments[KS_KIND_MAX];
	uint64_t first_ts, last_ts; /* first entry and last exit selected (0, 0: none) */

	/* Filled by analyze_finish. */
	uint64_t calls, errors, ns;
	struct cat_stat cat[KS_CAT_COUNT];
	struct sc_stat **sorted; /* by total time, descending */
	size_t nsorted;
	uint64_t thread_ns; /* sum of threads' spans */
	uint64_t wait_ns;   /* time in futex/wait4/waitid: waiting on other tasks */
};

/* Prepares a with options and the trace start (for the window). Returns 0. */
int analyze_init(struct analysis *a, const struct analyze_opts *o, uint64_t base_ns);

/* Adds n syscall rows. Returns 0 or -ENOMEM. */
int analyze_syscalls(struct analysis *a, const struct ks_syscall *rows, size_t n);

/* Adds n proc rows. Returns 0 or -ENOMEM. */
int analyze_procs(struct analysis *a, const struct ks_proc *rows, size_t n);

/* A replay_seg_fn: feeds one decoded segment of any kind to ctx (a struct analysis):
 * syscalls, process events, and sched and sample events to a->sched. */
int analyze_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows);

/* Has the syscall rows analysed on the segment walk's threads (replay/pipeline.h)
 * rather than by analyze_segment: what adds up in any order (counts, errors,
 * latency histograms) by analyze_each on the decoding thread, per thread; what
 * depends on the order (threads, slow calls, files) by analyze_ordered, one
 * segment after the other. threads: the walk's, the caller's included. The
 * results are the same. Returns 0 or -ENOMEM. */
int analyze_split(struct analysis *a, unsigned threads);
/* The seg_pipe_work functions of a split analysis (ctx: the struct analysis). */
int analyze_each(void *ctx, unsigned thread, const struct ks_seg_header *hdr, const void *rows);
int analyze_ordered(void *ctx, const struct ks_seg_header *hdr, const void *rows);

/* Computes totals, categories, the sorted syscall list, and orders the slow list by
 * time. The scheduler figures are finished apart, once the trace end is known:
 * sched_finish(&a->sched, end, &a->procs). Returns 0 or -ENOMEM. */
int analyze_finish(struct analysis *a);

/* Returns the stats of syscall nr after adding, or NULL when it was never seen. */
const struct sc_stat *analyze_find(const struct analysis *a, uint32_t nr);

/* Frees everything a holds (a itself is the caller's). */
void analyze_free(struct analysis *a);

#endif
