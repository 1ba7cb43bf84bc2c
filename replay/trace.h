/* A trace opened for replay: the store, its metadata parsed once, and a segment
 * walk that decodes (and so verifies) every segment and names the one that fails. */
#ifndef KSIGHT_REPLAY_TRACE_H
#define KSIGHT_REPLAY_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "format/segment.h"

struct seg_pipe;
struct seg_pipe_work;

/* Which numeric meta values were present and well formed. */
enum {
	RM_START = 1 << 0,
	RM_END = 1 << 1,
	RM_MONO = 1 << 2,
	RM_EXIT = 1 << 3,
	RM_LOST_SYSCALL = 1 << 4,
	RM_LOST_PROC = 1 << 5,
	RM_LOST_TOTAL = 1 << 6,
	RM_RING = 1 << 7,
	RM_LOST_SCHED = 1 << 8,
	RM_BOOT = 1 << 9,
};

struct replay_meta {
	/* Strings as stored, or NULL when absent. */
	char *format_version, *ksight_version, *hostname, *kernel_release;
	char *command; /* a JSON array of argv strings */
	char *state;   /* "complete", "recording" */
	char *probes, *btf_source;
	unsigned have; /* RM_* */
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
	int64_t mono_to_realtime_ns;
	int64_t mono_to_boottime_ns; /* CLOCK_BOOTTIME - CLOCK_MONOTONIC at the start */
	int64_t exit_code; /* shell style */
	uint64_t lost_syscall, lost_proc, lost_total, ring_bytes;
	uint64_t lost_sched;
};

/* Whether a trace is whole, from every loss counter, its closing state and its
 * manifest: one verdict for every command. */
#define REPLAY_REASONS 12
#define REPLAY_REASON_LEN 160
struct replay_whole {
	bool complete;
	uint64_t lost_events;  /* every lost_* counter summed (or lost_total if more) */
	bool lost_known;       /* the trace has loss counters */
	bool damaged;          /* the manifest names a missing, extra or altered piece */
	bool state_damaged;    /* ... in meta, files or deltas (restore refuses) */
	size_t nreasons;       /* all; the first REPLAY_REASONS are in reason[] */
	/* bounded recording (--max-size, --keep): what the limits dropped is not lost */
	bool bounded;
	uint64_t max_size, keep_ns;  /* the limits (0: none) */
	uint64_t dropped_events, dropped_segments;
	uint64_t dropped_by_kind[256];
	uint64_t window_start_ns;    /* CLOCK_MONOTONIC: the oldest time still held */
	char reason[REPLAY_REASONS][REPLAY_REASON_LEN];
};

struct replay_trace {
	const char *path;
	struct ks_store *st;
	struct seg_pipe *pipe;      /* decodes ahead for replay_each_segment */
	unsigned threads;           /* the pipe's threads, the caller's included */
	bool walking;               /* inside replay_each_segment */
	const struct seg_pipe_work *work; /* done on work_kind's segments by the walks */
	unsigned work_kind;
	struct replay_meta meta;
	uint64_t skipped_segments; /* of kinds this build does not know */
	struct replay_whole whole;  /* computed by replay_open */
	char err[512];             /* set when a call fails: one line for ks_error */
};

/* Opens path read-only and reads its metadata. On failure *out is NULL and msg
 * holds one line (what failed, what to do). Returns 0, or the store's error. */
int replay_open(const char *path, struct replay_trace **out, char *msg, size_t msglen);
/* Closes the store and frees t (NULL is fine). */
void replay_close(struct replay_trace *t);
/* Sets the threads segment walks decode on, the caller's included (replay_open
 * takes KSIGHT_THREADS, else the CPUs the process may use). Returns 0, -EINVAL
 * (0 or over SEG_PIPE_MAX_THREADS), -EBUSY (called from a walk's callback). */
int replay_set_threads(struct replay_trace *t, unsigned threads);

/* Has every walk and cursor of kind's segments (the outer ones; not 0 for every
 * kind) do w on the decoder threads before handing a segment back (see
 * replay/pipeline.h; w stays the caller's, NULL: none). Returns 0, -EBUSY (from
 * a walk's callback). */
int replay_set_work(struct replay_trace *t, unsigned kind, const struct seg_pipe_work *w);

/* Called per segment with its decoded rows (hdr->count rows of the kind's struct).
 * A non-zero return stops the walk and is returned by replay_each_segment. */
typedef int (*replay_seg_fn)(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			     const void *rows);

/* Decodes every segment of kind (0 = every kind) in store order and calls fn.
 * Segments of kinds this build has no schema for are counted and skipped.
 * Decoding runs ahead on t->threads threads (a bounded number of segments in
 * flight); fn is called on the caller's thread, one segment at a time, in order,
 * and rows stay valid until fn returns. The first damaged segment in store order
 * is the one reported, and no segment after it reaches fn. A walk started from
 * fn runs on the calling thread alone.
 * Returns 0, fn's non-zero value, or a negative error with t->err set to
 * "FILE: segment syscall#12: <what>; ...". */
int replay_each_segment(struct replay_trace *t, unsigned kind, replay_seg_fn fn, void *ctx);

/* A walk of one kind's segments, one decoded segment at a time, checked as
 * replay_each_segment checks them; several may be open at once, each with its
 * own decoder threads (the trace's thread count). */
struct replay_cursor;
int replay_cursor_open(struct replay_trace *t, unsigned kind, struct replay_cursor **out);
/* Returns 1 with the next segment (rows valid until the next call), 0 at the end,
 * or a negative error with t->err set. */
int replay_cursor_next(struct replay_cursor *c, struct ks_seg_header *hdr, uint64_t *seq,
		       const void **rows);
void replay_cursor_close(struct replay_cursor *c);

/* Like replay_each_segment, but reads headers only (no decode, no checksum). */
typedef int (*replay_hdr_fn)(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			     size_t len);
int replay_each_header(struct replay_trace *t, unsigned kind, replay_hdr_fn fn, void *ctx);

/* Sets *path and *len to the bytes of file id in the files table (not
 * NUL-terminated; valid until the next call on t). Returns 0, or -KS_ECORRUPT (no
 * such entry) or a store error, with t->err set. */
int replay_file_path(struct replay_trace *t, uint64_t id, const char **path, size_t *len);

/* Returns the lost-event count the recorder stored; *known is false when the
 * trace has no loss counters (an old or unfinished trace). */
uint64_t replay_lost_events(const struct replay_meta *m, bool *known);

/* Writes "FILE: INCOMPLETE trace: REASON; REASON..." (one line, for stderr) into
 * buf and returns buf, or returns NULL when the trace is complete. */
const char *replay_incomplete_line(const struct replay_trace *t, char *buf, size_t len);

/* Returns true when the trace was closed cleanly ("state" is "complete"). */
bool replay_closed_cleanly(const struct replay_meta *m);

/* Returns the schema name of kind, or "kindN" written into buf (16 bytes). */
const char *replay_kind_name(unsigned kind, char buf[16]);

/* Sets t->err to "FILE: " + the formatted message. Returns err. */
int replay_fail(struct replay_trace *t, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
