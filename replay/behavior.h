/* Behaviour classification (denet's classes and intensities) from the syscall mix
 * and the time spent in syscalls. A separate module with a plain input struct so a
 * later version can add scheduler and page-fault figures without touching callers. */
#ifndef KSIGHT_REPLAY_BEHAVIOR_H
#define KSIGHT_REPLAY_BEHAVIOR_H

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
	uint64_t thread_ns;  /* sum over threads of their active span */
	uint64_t calls;      /* syscalls */
	uint64_t syscall_ns; /* time in syscalls, all threads */
	uint64_t wait_ns;    /* part of it waiting on other traced tasks (futex, wait4) */
	uint64_t cat_calls[KS_CAT_COUNT];
	uint64_t cat_ns[KS_CAT_COUNT];
};

struct behavior {
	enum behavior_class cls;
	double syscall_rate_per_sec;
	double io_intensity, memory_intensity, cpu_intensity, network_intensity; /* [0,1] */
};

/* Computes the class and intensities of in. */
void behavior_classify(const struct behavior_input *in, struct behavior *out);

/* Returns "io_bound", "cpu_bound", ... as denet spells them. */
const char *behavior_class_name(enum behavior_class cls);

#endif
