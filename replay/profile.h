/* The CPU profile of a trace: on-CPU samples and off-CPU spans aggregated by
 * process and stack, named through the stack table (replay/symbols.h), as folded
 * stacks (flamegraph.pl's input), top functions, and the user stack of a thread
 * at a moment (for slow syscalls). */
#ifndef KSIGHT_REPLAY_PROFILE_H
#define KSIGHT_REPLAY_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replay/procs.h"
#include "replay/symbols.h"
#include "replay/trace.h"

struct prof_opts {
	bool has_pid;
	uint32_t pid;      /* only this process */
	uint64_t from_ns;  /* window, as offsets from the trace start: [from, to) */
	uint64_t to_ns;    /* UINT64_MAX: open */
	bool live_symbols; /* name frames the trace has no symbol for from local files */
};

/* One stack of one process with its weight (samples, or ns off the CPU). */
struct prof_stack {
	uint64_t stack;
	uint32_t pid;
	uint64_t value;
	uint64_t first_ts;
};

/* One thread's sample or span, kept for prof_user_stack. */
struct prof_point {
	uint32_t tid;
	uint64_t ts, end; /* end == ts for a sample */
	uint64_t stack;
};

struct prof_result {
	struct ks_symtab *sym;
	struct replay_procs procs;
	uint64_t base, lo, hi;  /* trace start; the selected window [lo, hi) */
	bool any;               /* the trace has profile rows at all */
	/* on-CPU */
	uint64_t hz, samples, truncated, missing, unresolved, lost;
	struct prof_stack *on;
	size_t non, capon;
	/* off-CPU */
	uint64_t spans, off_ns, off_blocked_ns, off_preempted_ns;
	struct prof_stack *off;
	size_t noff, capoff;
	struct prof_point *pts; /* sorted by tid, ts */
	size_t npts, cappts;
	char *profile_desc;     /* meta "profile": what ran, what was missing */
};

/* Reads t's samples, spans, stack table and processes into r (which it
 * initialises). Returns 0, -ENOMEM, or a segment error (t->err set). */
int prof_compute(struct prof_result *r, struct replay_trace *t, const struct prof_opts *o);
void prof_free(struct prof_result *r);

/* One folded line: "comm;outermost;...;innermost" and its weight. */
struct prof_line {
	char *text;
	uint64_t value;
};

/* The folded stacks (on-CPU: samples; offcpu: ns), identical lines merged, sorted
 * by text. Returns 0, -ENOMEM; *lines is malloc'd (prof_lines_free). */
int prof_folded(struct prof_result *r, bool offcpu, struct prof_line **lines, size_t *n);
void prof_lines_free(struct prof_line *lines, size_t n);

/* One function's weight: self (innermost frame) and total (anywhere in the stack). */
struct prof_func {
	const char *function, *module; /* live as long as r */
	uint64_t self, total;
};

/* Functions by self weight, then total, descending. Returns 0, -ENOMEM. */
int prof_top(struct prof_result *r, bool offcpu, struct prof_func **out, size_t *n);

/* The user stack (names, innermost first, at most max) of thread tid during
 * [ts, ts + dur): from an off-CPU span that began in it, else an on-CPU sample
 * in it. Returns the number of names (0: none known). */
size_t prof_user_stack(struct prof_result *r, uint32_t tid, uint64_t ts, uint64_t dur,
		       const char **names, size_t max);

#endif
