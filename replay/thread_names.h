/* The name of each thread of a trace: the comm of the latest row that carries
 * the thread's own comm (its fork, exec or exit, its network and block rows), so
 * names a thread gave itself (prctl PR_SET_NAME) show when the trace saw them. */
#ifndef KSIGHT_REPLAY_THREAD_NAMES_H
#define KSIGHT_REPLAY_THREAD_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "replay/trace.h"
#include "util/hmap.h"

struct thread_name {
	uint64_t ts;
	char comm[KS_COMM_MAX + 1];
};

struct thread_names {
	struct thread_name *v;
	size_t n, cap;
	struct ks_hmap map; /* pid << 32 | tid -> index in v */
};

/* Reads t's process, network and block rows into tn (zeroed by the caller).
 * Memory grows with the threads. Returns 0, -ENOMEM, or a segment error. */
int thread_names_load(struct thread_names *tn, struct replay_trace *t);
/* The latest comm of (pid, tid), or NULL when no row named it. */
const char *thread_names_get(const struct thread_names *tn, uint32_t pid, uint32_t tid);
void thread_names_free(struct thread_names *tn);

#endif
