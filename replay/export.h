/* Exports of a computed report's trace for other tools: Perfetto's native
 * protobuf (replay/export_perfetto.c) and NDJSON tables for fleet engines
 * (replay/export_ndjson.c). Both stream the trace segment by segment a second
 * time after report_compute verified it, so memory grows with threads,
 * processes and distinct names, never with the number of events. */
#ifndef KSIGHT_REPLAY_EXPORT_H
#define KSIGHT_REPLAY_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "replay/report.h"

/* Figures of one export, for the command's summary line. */
struct export_stats {
	uint64_t rows;      /* NDJSON lines, or Perfetto packets */
	uint64_t slices;    /* Perfetto: slices (begin/end pairs) */
	uint64_t tracks;    /* Perfetto: tracks declared */
	uint64_t syscalls;  /* syscalls written */
	uint64_t samples;   /* Perfetto: CPU samples (PerfSample packets) */
};

/* Writes r's trace (the window and --pid of r's analysis) to f as a Perfetto
 * Trace of TrackEvent packets: a process track per process, a thread track per
 * thread with its syscalls as slices, a scheduler-state track per thread
 * (running, runnable, blocked), fork/exec/exit instants, counter tracks (CPU,
 * RSS, file, storage and network bytes per second), and the on-CPU samples as
 * PerfSamples with interned stacks; a clock snapshot first (CLOCK_MONOTONIC, the
 * trace's primary clock, and REALTIME when known). Returns 0, -ENOMEM, -EIO
 * (writing f failed), or the trace's error with r->t->err set. */
int export_perfetto(const struct report *r, FILE *f, struct export_stats *st);

/* The NDJSON tables, NULL-terminated, and a one-line description of each. */
extern const char *const export_ndjson_tables[];
const char *export_ndjson_describe(const char *table);

/* Writes table (one of export_ndjson_tables) of r's trace to f, one JSON object
 * per line, each with "host" and "trace_id". Returns 0, -EINVAL (no such
 * table), -ENOMEM, -EIO, or the trace's error with r->t->err set. */
int export_ndjson(const struct report *r, const char *table, FILE *f, struct export_stats *st);

/* The trace's id: 16 hex digits (a hash of host, start time and command line),
 * the same for every export of one trace. */
void export_trace_id(const struct replay_trace *t, char out[17]);

#endif
