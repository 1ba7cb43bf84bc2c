/* The segment walk's decode pipeline: the caller's thread reads segment pointers from
 * the store in order, worker threads decode up to a fixed number of them ahead (and
 * run the walk's per-segment work on them), and the caller takes the results back
 * strictly in store order. */
#ifndef KSIGHT_REPLAY_PIPELINE_H
#define KSIGHT_REPLAY_PIPELINE_H

#include <stdint.h>

#include "format/segment.h"
#include "store/store.h"

/* Threads at most, the caller's included. */
#define SEG_PIPE_MAX_THREADS 64
/* Threads by default at most (see seg_pipe_default_threads). */
#define SEG_PIPE_DEFAULT_THREADS 4

/* What became of one segment. */
enum seg_status {
	SEG_DECODED,  /* rows holds hdr.count rows */
	SEG_BAD_HDR,  /* the header is damaged: err */
	SEG_BAD_KIND, /* the header names hdr.kind, the key kind */
	SEG_UNKNOWN,  /* a kind this build has no schema for: not decoded */
	SEG_BAD_DATA, /* the payload is damaged: err */
};

struct seg_result {
	unsigned kind; /* from the key */
	uint64_t seq;
	enum seg_status status;
	int err;
	int work_err; /* SEG_DECODED: the first non-zero value of the work's functions */
	struct ks_seg_header hdr;
	const void *rows;
};

struct seg_pipe;

/* Work on each decoded segment done off the caller's thread, by whichever thread
 * decoded it or is free, before the caller takes the segment back. */
struct seg_pipe_work {
	/* Called on any thread, on several segments at once, in any order: thread
	 * is the index of the thread running it (0: the caller's; below
	 * seg_pipe_threads), for state kept per thread and merged at the end. NULL:
	 * none. A non-zero value becomes the segment's work_err. */
	int (*each)(void *ctx, unsigned thread, const struct ks_seg_header *hdr,
		    const void *rows);
	/* Called on one thread at a time, segment after segment in store order,
	 * after each: for state that depends on the order. NULL: none. The
	 * segment's rows are only read: the caller may be reading them too. */
	int (*ordered)(void *ctx, const struct ks_seg_header *hdr, const void *rows);
	void *ctx;
};

/* Creates a pipeline for threads threads (the caller's included; 1 decodes on the
 * caller's thread alone) holding threads + 1 decoded segments at most (1 for one
 * thread, 16 at most), whatever the trace's size. Workers start with the first walk.
 * Returns 0, -EINVAL (threads 0 or over SEG_PIPE_MAX_THREADS), -ENOMEM. */
int seg_pipe_new(unsigned threads, struct seg_pipe **out);
/* Stops and joins the workers and frees p (NULL is fine). */
void seg_pipe_free(struct seg_pipe *p);
/* The thread count p was made for. */
unsigned seg_pipe_threads(const struct seg_pipe *p);

/* Sets the work of p's next walk (w is copied; NULL: none); call before
 * seg_pipe_begin. seg_pipe_end clears it. */
void seg_pipe_set_work(struct seg_pipe *p, const struct seg_pipe_work *w);
/* Starts a walk over it (read on the caller's thread only; the values it hands
 * out must stay valid, as LMDB's do for the read transaction, until
 * seg_pipe_end). Workers that cannot be started leave the decoding to the
 * others and to the caller: the results are the same. */
void seg_pipe_begin(struct seg_pipe *p, struct ks_seg_iter *it);
/* Returns 1 with the next segment in store order in *out (valid until the next
 * call; the work done on it and, in order, on every segment before), 0 after the
 * last one, or the iterator's negative error once every segment before the
 * failure was returned. */
int seg_pipe_next(struct seg_pipe *p, const struct seg_result **out);
/* Ends the walk, early or not: waits for the decodes and the work under way and
 * drops the rest. The workers stay for the next walk. */
void seg_pipe_end(struct seg_pipe *p);

/* The thread count for a walk: KSIGHT_THREADS when it is a number from 1 to
 * SEG_PIPE_MAX_THREADS, else the CPUs this process may run on, up to
 * SEG_PIPE_DEFAULT_THREADS. */
unsigned seg_pipe_default_threads(void);

#endif
