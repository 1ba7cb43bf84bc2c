/* Bounded recording (--max-size, --keep): the trace as a ring of epochs, each
 * opened by a checkpoint (live processes, their fds, the state dirs whole), the
 * oldest dropped in one transaction when a limit is met; and live snapshots. */
#ifndef KSIGHT_RETAIN_H
#define KSIGHT_RETAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct consumer;
struct ks_store;
struct statedir;
struct retain;

struct retain_opts {
	uint64_t max_size; /* bytes; 0: no size limit */
	uint64_t keep_ns;  /* 0: no time limit */
	const char *path;  /* the trace, for snapshot names */
};

/* What the checkpoints describe: the traced processes (all of them with all). */
struct retain_targets {
	pid_t child;        /* 0: none */
	const pid_t *pids;  /* -p */
	size_t npids;
	bool all;
	bool fds;           /* snapshot fds (the syscall argument probes are on) */
};

/* Before consumer_start, on the store the caller owns: caps the map, notes the
 * limits in meta and opens epoch 0 at now (CLOCK_MONOTONIC). With neither limit
 * nothing is bounded (epochs are not written) but snapshots still work. Returns
 * 0, -EINVAL (max_size too small), a store error. */
int retain_new(const struct retain_opts *o, struct ks_store *st, uint64_t now,
	       struct retain **out);
/* Drain thread, after each drain: opens a new epoch when the current one is old
 * or big enough (its checkpoint written through c and sd, which may be NULL),
 * and queues the check that drops old epochs. Returns 0 or a negative error. */
int retain_tick(struct retain *r, struct consumer *c, struct statedir *sd,
		const struct retain_targets *t, uint64_t now);
/* Drain thread: queues a live snapshot: a compacted copy of what is committed,
 * named after the trace and the UTC time, closed with drops[KS_DROP_MAX] as its
 * loss counters and the state "snapshot"; announced on stderr when written. */
int retain_snapshot(struct retain *r, struct consumer *c, struct statedir *sd,
		    const uint64_t *drops, uint64_t start_ns);
/* Events dropped by policy so far, per the trace's manifest (writer's view). */
void retain_free(struct retain *r);

#endif
