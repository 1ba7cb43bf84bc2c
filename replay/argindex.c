/* Loading and finding the sysarg rows of a trace. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/argindex.h"
#include "util/grow.h"

static uint64_t call_key(uint32_t tid, uint64_t ts)
{
	return ts ^ ks_hash_u64(tid);
}

int argindex_add(struct argindex *ix, const struct ks_sysarg *r)
{
	uint32_t len = r->len < KS_SYSARG_MAX ? r->len : KS_SYSARG_MAX;
	struct argref *a;

	if (KS_GROW(&ix->ref, &ix->cap, ix->n + 1) ||
	    KS_GROW(&ix->arena, &ix->arena_cap, ix->used + len + 1))
		return -ENOMEM;
	a = &ix->ref[ix->n];
	a->ts = r->ts;
	a->pid = r->pid;
	a->tid = r->tid;
	a->what = r->what;
	a->flags = r->flags;
	a->val = r->val;
	a->nr = r->nr;
	a->len = len;
	a->off = ix->used;
	memcpy(ix->arena + ix->used, r->data, len);
	ix->arena[ix->used + len] = 0;
	ix->used += len + 1;
	if (r->what == KS_SA_PREFD) {
		if (KS_GROW(&ix->prefd, &ix->capprefd, ix->nprefd + 1))
			return -ENOMEM;
		ix->prefd[ix->nprefd++] = ix->n;
	} else if (ks_hmap_add(&ix->by_call, call_key(r->tid, r->ts), ix->n)) {
		return -ENOMEM;
	}
	ix->n++;
	return 0;
}

static int load_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			const void *rows)
{
	struct argindex *ix = ctx;
	const struct ks_sysarg *r = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++)
		if (argindex_add(ix, &r[i]))
			return -ENOMEM;
	return 0;
}

int argindex_load(struct argindex *ix, struct replay_trace *t)
{
	memset(ix, 0, sizeof(*ix));
	return replay_each_segment(t, KS_KIND_SYSARG, load_segment, ix);
}

const struct argref *argindex_find(const struct argindex *ix, uint32_t tid, uint64_t ts,
				   uint32_t what)
{
	uint64_t k = call_key(tid, ts), *v;

	for (v = ks_hmap_get(&ix->by_call, k); v; v = ks_hmap_next(&ix->by_call, k, v)) {
		const struct argref *a = &ix->ref[*v];

		if (a->tid == tid && a->ts == ts && a->what == what)
			return a;
	}
	return NULL;
}

void argindex_free(struct argindex *ix)
{
	ks_hmap_free(&ix->by_call);
	free(ix->ref);
	free(ix->arena);
	free(ix->prefd);
	memset(ix, 0, sizeof(*ix));
}
