/* Block and network bytes per process and second, beside KernelSight's sched
 * buckets (report: io_buckets[]), for charts. Memory grows with (process, second)
 * pairs, capped at IOB_MAX; updates past the cap are counted. */
#ifndef KSIGHT_REPLAY_IOBUCKETS_H
#define KSIGHT_REPLAY_IOBUCKETS_H

#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "util/hmap.h"

#define IOB_MAX 100000

struct io_bucket {
	uint64_t sec; /* seconds since the epoch, as sched.buckets[] count them */
	uint32_t pid;
	char comm[KS_COMM_MAX];
	uint64_t blk_read, blk_write, net_tx, net_rx;
};

struct sched_analysis;

struct io_buckets {
	const struct sched_analysis *clock; /* for the epoch second of a timestamp */
	struct io_bucket *v;
	size_t n, cap;
	struct ks_hmap map; /* sec << 32 | pid -> index in v */
	uint64_t misses;
};

/* Prepares bk; clock gives the seconds (its epoch offset is read at each use). */
void io_buckets_init(struct io_buckets *bk, const struct sched_analysis *clock);
/* The bucket of pid in the second of ts (comm set on creation), or NULL past
 * the cap (counted) or on ENOMEM (*err). */
struct io_bucket *io_bucket_get(struct io_buckets *bk, uint64_t ts, uint32_t pid,
				const char *comm, int *err);
/* Sorts the buckets by (second, pid). Returns 0 or -ENOMEM. */
int io_buckets_sort(struct io_buckets *bk);
/* The bucket of pid in epoch second sec, or NULL. */
const struct io_bucket *io_bucket_find(const struct io_buckets *bk, uint64_t sec, uint32_t pid);
void io_buckets_free(struct io_buckets *bk);

#endif
