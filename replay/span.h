/* A trace's time range: the recorder's start and end times when it stored them,
 * else the events' own (a recorder killed before it closed the trace). One
 * derivation for every command that shows a duration (report, info). */
#ifndef KSIGHT_REPLAY_SPAN_H
#define KSIGHT_REPLAY_SPAN_H

#include <stdbool.h>
#include <stdint.h>

#include "format/segment.h"
#include "replay/trace.h"

struct replay_span {
	uint64_t first, last; /* earliest event, latest event end (CLOCK_MONOTONIC) */
	bool any;
};

/* Widens s by a segment's header (its first and last timestamps). */
void replay_span_header(struct replay_span *s, const struct ks_seg_header *hdr);

/* Widens s by a decoded segment: its header, and each syscall's return (ts + dur). */
void replay_span_rows(struct replay_span *s, const struct ks_seg_header *hdr,
		      const void *rows);

/* The trace's start: the recorded one, else the first event's (0 without any). */
uint64_t replay_start_ns(const struct replay_meta *m, const struct replay_span *s);

/* The trace's end, never before its start: the recorded one, else the last event's. */
uint64_t replay_end_ns(const struct replay_meta *m, const struct replay_span *s);

/* Sets *ns to end - start. Returns false when neither the metadata nor any event
 * gives the two times. *derived is true when they came from the events. */
bool replay_duration(const struct replay_meta *m, const struct replay_span *s, uint64_t *ns,
		     bool *derived);

#endif
