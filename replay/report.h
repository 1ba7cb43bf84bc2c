/* A computed report: the trace, its analysis and the derived figures, and the two
 * writers (text tables and the JSON document of DESIGN.md). Writers only format;
 * everything is computed by report_compute before the first byte is printed. */
#ifndef KSIGHT_REPLAY_REPORT_H
#define KSIGHT_REPLAY_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "replay/analyze.h"
#include "replay/behavior.h"
#include "replay/profile.h"
#include "replay/files.h"
#include "replay/span.h"
#include "replay/timemodel.h"
#include "replay/trace.h"

struct report {
	struct replay_trace *t;
	struct analysis a;
	struct behavior beh;
	struct files_analysis files; /* files[] and file bytes per second */
	struct replay_span span;   /* of every event */
	uint64_t start_ns, end_ns; /* the trace's (meta, else the span: span.h) */
	uint64_t win_start, win_end; /* the part analysed */
	uint64_t wall_ns;
	uint64_t lost;
	bool lost_known, clean, complete;
	bool hist_per_syscall;     /* --hist */
	/* report_io_compute: the recorder's "io_probes", "io_missing" (NULL: absent) */
	char *io_probes, *io_missing;
	long long io_lost;         /* its "lost_io": block and net records lost; -1: unknown */
	struct prof_result *prof;  /* the CPU profile (replay/report_profile.c) */
	struct timemodel tm;       /* where every thread-second went (replay/timemodel.h) */
	bool have_tm;              /* tm ran (it needs the trace's syscalls or sched events) */
	char reason[400];          /* why the class: one sentence */
	uint32_t launch_pid;       /* the command ksight launched, from its exec ... */
	uint64_t launch_ts;        /* ... at this time (0: attached, or unknown) */
};

/* Runs the whole analysis of t into r (which it initialises) with options o.
 * Returns 0, or a negative error with t->err set (damaged trace) or -ENOMEM. */
int report_compute(struct report *r, struct replay_trace *t, const struct analyze_opts *o);

/* Returns the report as one JSON document (a new reference), or NULL on ENOMEM. */
json_t *report_json(const struct report *r);
/* The reasons a trace is incomplete, as a JSON array of strings (NULL: no memory). */
json_t *report_json_reasons(const struct replay_whole *w);
/* What the limits of a bounded recording dropped (max_size, keep_ns,
 * dropped_events, dropped_segments, window_start_ns), or NULL when the trace is
 * not bounded (or no memory). */
json_t *report_json_retention(const struct replay_whole *w);

/* files[]: the files the syscalls acted on, by time (replay/report_files.c);
 * NULL on ENOMEM. */
json_t *report_json_files(const struct report *r);
/* cgroups[]: processes, syscalls, CPU time and I/O per cgroup v2, with its path
 * and container id (replay/report_cgroups.c); NULL on ENOMEM. */
json_t *report_json_cgroups(const struct report *r);

/* The FILES table of the text report (nothing when no arguments were recorded). */
void report_text_files(FILE *f, const struct report *r);

/* analysis.time and processes[].time: the buckets of t (replay/report_time.c);
 * NULL on ENOMEM. */
json_t *report_json_time(const struct report *r, const struct tm_times *t);
/* The SUMMARY the text report opens with. */
void report_text_summary(FILE *f, const struct report *r);

/* Writes the text report to f. */
void report_text(FILE *f, const struct report *r);

/* Frees what report_compute allocated (not r, not r->t). */
void report_free(struct report *r);

/* Returns the pids that issued selected syscalls but have no process record (no
 * fork/exec/exit seen: attached with -p, or their events were lost), sorted, as a
 * malloc'd array of *n; NULL with *n 0 when there are none or on ENOMEM. */
uint32_t *report_unrecorded_pids(const struct report *r, size_t *n);

/* The CPU profile part (replay/report_profile.c). */
int report_profile_compute(struct report *r, const struct analyze_opts *o);
void report_profile_free(struct report *r);
/* "profile" and "offcpu" of the JSON document, and a slow call's user stack
 * (names, innermost first): new references, NULL on ENOMEM. */
json_t *report_json_profile(const struct report *r);
json_t *report_json_offcpu(const struct report *r);
json_t *report_json_slow_stack(const struct report *r, const struct slow_call *c);
/* The PROFILE and OFF-CPU sections of the text report (nothing without samples). */
void report_text_profile(FILE *f, const struct report *r);

/* Helpers the writers and the other commands share. */

/* Returns when process p ended for its lifetime: its exit, or its last scheduler
 * event when that is later (the final switch-out follows the exit event), or the
 * trace end while it runs. sp may be NULL. */
uint64_t report_proc_end(const struct report *r, const struct replay_proc *p,
			 const struct sched_proc *sp);

/* A JSON document built with one failure flag: a NULL value (an allocation
 * failed) or a failed insert clears ok, and the writer drops the whole document
 * rather than a key. jb_set sets o[k] = v and jb_push appends v to array a, both
 * stealing v. */
struct jb {
	bool ok;
};

void jb_set(struct jb *b, json_t *o, const char *k, json_t *v);
void jb_push(struct jb *b, json_t *a, json_t *v);
/* v as a JSON integer, saturated at INT64_MAX. */
json_t *jb_u64(uint64_t v);
/* Trace timestamp ts as Unix epoch ns, or null when the trace has no clock offset. */
json_t *jb_epoch(const struct report *r, uint64_t ts);
/* A log2 latency histogram (KS_LOG2_SLOTS slots, us) as [{from_us, to_us,
 * count}] up to its last non-empty slot. */
json_t *jb_log2(struct jb *b, const uint64_t *slots);

/* Returns a JSON string of s[0..len), with bytes that are not valid UTF-8 replaced
 * by '?'; NULL on ENOMEM. */
json_t *report_json_text(const char *s, size_t len);

/* Returns the recorded command line as "arg arg ..." (malloc'd), from the meta
 * "command" JSON array, or a copy of the raw value, or NULL when absent. */
char *report_command_line(const struct replay_meta *m);

/* Returns epoch ns for a CLOCK_MONOTONIC ts, or ts itself when the trace has no
 * clock offset (*known false). */
int64_t report_epoch_ns(const struct replay_meta *m, uint64_t ts, bool *known);

#endif
