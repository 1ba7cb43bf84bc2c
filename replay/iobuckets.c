/* Block and network bytes per process and second (see iobuckets.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/iobuckets.h"
#include "replay/sched.h"
#include "util/grow.h"

void io_buckets_init(struct io_buckets *bk, const struct sched_analysis *clock)
{
	memset(bk, 0, sizeof(*bk));
	bk->clock = clock;
}

struct io_bucket *io_bucket_get(struct io_buckets *bk, uint64_t ts, uint32_t pid,
				const char *comm, int *err)
{
	uint64_t sec = sched_sec(bk->clock, ts), key = sec << 32 | pid;
	uint64_t *at = ks_hmap_get(&bk->map, key);
	struct io_bucket *b;

	if (at)
		return &bk->v[*at];
	if (bk->n >= IOB_MAX) {
		bk->misses++;
		return NULL;
	}
	if (KS_GROW(&bk->v, &bk->cap, bk->n + 1) || ks_hmap_put(&bk->map, key, bk->n)) {
		*err = -ENOMEM;
		return NULL;
	}
	b = &bk->v[bk->n++];
	memset(b, 0, sizeof(*b));
	b->sec = sec;
	b->pid = pid;
	memcpy(b->comm, comm, KS_COMM_MAX);
	return b;
}

static int by_sec_pid(const void *x, const void *y)
{
	const struct io_bucket *a = x, *b = y;

	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

int io_buckets_sort(struct io_buckets *bk)
{
	ks_qsort(bk->v, bk->n, sizeof(*bk->v), by_sec_pid);
	ks_hmap_clear(&bk->map); /* the indexes moved */
	for (size_t i = 0; i < bk->n; i++)
		if (ks_hmap_put(&bk->map, bk->v[i].sec << 32 | bk->v[i].pid, i))
			return -ENOMEM;
	return 0;
}

const struct io_bucket *io_bucket_find(const struct io_buckets *bk, uint64_t sec, uint32_t pid)
{
	uint64_t *at = ks_hmap_get(&bk->map, sec << 32 | pid);

	return at ? &bk->v[*at] : NULL;
}

void io_buckets_free(struct io_buckets *bk)
{
	free(bk->v);
	ks_hmap_free(&bk->map);
	memset(bk, 0, sizeof(*bk));
}
