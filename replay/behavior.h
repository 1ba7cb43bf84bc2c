/* Behaviour classification (denet's classes and intensities) from the syscall mix,
 * the time spent in syscalls and, when the trace has them, the scheduler figures
 * (on-CPU time, run-queue wait, page faults) and the sampled RSS. A separate module
 * with a plain input struct, so the policy can be read and tested on its own. */
#ifndef KSIGHT_REPLAY_BEHAVIOR_H
#define KSIGHT_REPLAY_BEHAVIOR_H

#include <stdbool.h>
#include <stdint.h>

#include "replay/syscalls.h"

enum behavior_class {
	BEHAVIOR_UNKNOWN = 0,
	BEHAVIOR_IO_BOUND,
	BEHAVIOR_CPU_BOUND,
	BEHAVIOR_MEMORY_BOUND,
	BEHAVIOR_NETWORK_BOUND,
	BEHAVIOR_MIXED,
};

struct behavior_input {
	uint64_t wall_ns;    /* the window analysed: trace end - start, or the --time part */
	uint64_t thread_ns;  /* sum over threads of their active span (syscalls) */
	uint64_t calls;      /* syscalls */
	uint64_t syscall_ns; /* time in syscalls, all threads */
	uint64_t wait_ns;    /* part of it waiting on other traced tasks (futex, wait4) */
	uint64_t cat_calls[KS_CAT_COUNT];
	uint64_t cat_ns[KS_CAT_COUNT];
	/* Scheduler events (has_sched): */
	bool has_sched;
	uint64_t life_ns;    /* sum over threads of their lifetime (replaces thread_ns) */
	uint64_t on_cpu_ns;  /* sum over threads of their on-CPU time */
	uint64_t runq_ns;    /* run-queue wait */
	uint64_t faults;     /* user page faults */
	uint64_t fault_ns;   /* on-CPU time estimated in them (sched.h: SCHED_FAULT_NS) */
	/* /proc samples (has_samples): */
	bool has_samples;
	uint64_t rss_growth_kb; /* sum over processes of peak - first sampled RSS */
};

struct behavior {
	enum behavior_class cls;
	double syscall_rate_per_sec;
	double io_intensity, memory_intensity, cpu_intensity, network_intensity; /* [0,1] */
	/* The evidence, for the report (0 when the trace lacks it): */
	double on_cpu_ratio;     /* on-CPU time / thread time */
	double runq_wait_ratio;  /* run-queue wait / thread time */
	double fault_cpu_share;  /* estimated share of on-CPU time in page faults */
	double page_faults_per_sec;
	double rss_growth_kb_per_sec;
};

/* Computes the class and intensities of in. */
void behavior_classify(const struct behavior_input *in, struct behavior *out);

/* The class of b's four intensities: X_bound when X's is over its bar and at
 * least DOMINANCE times each other one, else mixed (behavior.c says the bars). */
enum behavior_class behavior_pick(const struct behavior *b);

/* Returns "io_bound", "cpu_bound", ... as denet spells them. */
const char *behavior_class_name(enum behavior_class cls);

#endif
