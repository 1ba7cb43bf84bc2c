/* The versions of each recorded file over time: one row per change (time, pid,
 * operation, bytes, size after it), grouped by path, for `ksight timeline`. */
#ifndef KSIGHT_REPLAY_TIMELINE_H
#define KSIGHT_REPLAY_TIMELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct replay_trace;

struct timeline_row {
	uint64_t seq, ts;   /* ts: CLOCK_MONOTONIC ns */
	uint32_t pid;
	uint8_t op, flags;  /* enum ks_delta_op, KS_DF_* */
	uint64_t offset, bytes;
	int64_t size;       /* after the change; -1: the path is gone or not a file */
	uint64_t other;     /* rename/link: the other path's id; 0 otherwise */
	bool from;          /* this row is the source side of a rename/link */
};

struct timeline_file {
	uint64_t id;
	char *path;
	struct timeline_row *rows;
	size_t n, cap;
};

struct timeline {
	struct timeline_file *files; /* sorted by path */
	size_t n, cap;
	int64_t mono_to_realtime;    /* 0 when the trace lacks it */
	uint64_t start;              /* CLOCK_MONOTONIC ns of the recording start; 0: none */
};

/* Builds the timeline of the files whose path is prefix or lies under it (NULL:
 * every file). On failure t->err holds one line. Returns 0 or a negative error. */
int timeline_build(struct replay_trace *t, const char *prefix, struct timeline *out);
void timeline_free(struct timeline *tl);

/* Returns the path of file id (NULL when it has no rows in tl). */
const char *timeline_path(const struct timeline *tl, uint64_t id);

void timeline_text(FILE *f, const struct timeline *tl);
json_t *timeline_json(const struct timeline *tl);

#endif
