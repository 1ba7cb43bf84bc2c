/* Rebuilding recorded state directories: the whole-trace restore behind
 * `ksight restore`, on the confined tree of fstree/tree.h. */
#ifndef KSIGHT_REPLAY_RESTORE_H
#define KSIGHT_REPLAY_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/delta.h"
#include "fstree/tree.h"

struct replay_trace;

/* ---- the deltas of a trace ---------------------------------------------------- */

struct delta_ent {
	uint64_t seq, file, ts;
	const void *key, *val; /* in the store's map, valid while the trace is open */
	size_t vlen;
};

struct delta_list {
	struct delta_ent *v;
	size_t n;
	uint64_t chunks;  /* chunk entries seen */
	uint64_t bytes;   /* key + value bytes of deltas and chunks */
};

/* Reads every delta of the trace (checking each) in sequence order. On failure
 * t->err names the damaged entry. Returns 0 or a negative error. */
int delta_collect(struct replay_trace *t, struct delta_list *out);
void delta_list_free(struct delta_list *l);

/* The recorded state dirs (meta "state_dirs"), checked. Returns the count (>= 0)
 * or a negative error with t->err set. */
int restore_state_dirs(struct replay_trace *t, char ***dirs);
void restore_free_dirs(char **dirs, int n);

/* The start of the recording (meta start_ns, or the state dir capture's own
 * statedir_start_ns when the recorder did not finish). Returns 0 or -ENOENT. */
int restore_start_ns(struct replay_trace *t, uint64_t *start);

/* Parses a --at time: RFC 3339 ("2025-01-31T12:00:00.25Z", "+02:00" offsets, a
 * space for the T), Unix seconds with a fraction, or an offset from the start of
 * the recording ("+2.5s"). Returns 0 with *mono (CLOCK_MONOTONIC ns of the
 * trace), -EINVAL (not a time), -ENOENT (the trace lacks the clock it needs). */
int restore_parse_time(struct replay_trace *t, const char *s, uint64_t *mono);

struct restore_opts {
	const char *to;
	uint64_t at;  /* CLOCK_MONOTONIC ns; UINT64_MAX: the end */
	bool flat;    /* a single state dir's contents directly in to */
};

struct restore_stats {
	uint64_t deltas;   /* in the trace */
	uint64_t applied;
	uint64_t later;    /* after --at */
	uint64_t torn;     /* of an unfinished change cut by the end of the trace */
	uint64_t bytes;    /* written into files */
	uint64_t stored;   /* key + value bytes of the deltas database */
	int dirs;          /* state dirs */
};

/* Rebuilds the state dirs of t under o->to (which must be empty or missing).
 * Every path is checked before anything is written. On failure t->err holds one
 * line. Returns 0 or a negative error. */
int restore_trace(struct replay_trace *t, const struct restore_opts *o,
		  struct restore_stats *st);

#endif
