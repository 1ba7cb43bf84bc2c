/* replay: each thread's latest comm from the rows that carry it (see
 * replay/thread_names.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/thread_names.h"
#include "util/grow.h"

static int seen(struct thread_names *tn, uint32_t pid, uint32_t tid, uint64_t ts,
		const char *comm)
{
	bool added;
	uint64_t *i;
	struct thread_name *e;

	if (!tid || !comm[0])
		return 0;
	i = ks_hmap_upsert(&tn->map, (uint64_t)pid << 32 | tid, tn->n, &added);
	if (!i)
		return -ENOMEM;
	if (added) {
		if (KS_GROW(&tn->v, &tn->cap, tn->n + 1)) {
			ks_hmap_del(&tn->map, (uint64_t)pid << 32 | tid);
			return -ENOMEM;
		}
		tn->v[tn->n++].ts = 0;
		e = &tn->v[*i];
	} else {
		e = &tn->v[*i];
		if (ts < e->ts)
			return 0;
	}
	e->ts = ts;
	memcpy(e->comm, comm, KS_COMM_MAX);
	e->comm[KS_COMM_MAX] = 0;
	return 0;
}

static int on_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct thread_names *tn = ctx;
	int err = 0;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count && !err; i++) {
		if (hdr->kind == KS_KIND_PROC) {
			const struct ks_proc *r = (const struct ks_proc *)rows + i;

			if (r->what == KS_PROC_FORK || r->what == KS_PROC_EXEC ||
			    r->what == KS_PROC_EXIT || r->what == KS_PROC_JOIN)
				err = seen(tn, r->pid, r->tid, r->ts, r->comm);
		} else if (hdr->kind == KS_KIND_NET) {
			const struct ks_net *r = (const struct ks_net *)rows + i;

			err = seen(tn, r->pid, r->tid, r->ts, r->comm);
		} else if (hdr->kind == KS_KIND_BLOCK) {
			const struct ks_block *r = (const struct ks_block *)rows + i;

			if (!(r->flags & KS_BLK_KTHREAD))
				err = seen(tn, r->pid, r->tid, r->ts, r->comm);
		}
	}
	return err;
}

int thread_names_load(struct thread_names *tn, struct replay_trace *t)
{
	int err = replay_each_segment(t, KS_KIND_PROC, on_rows, tn);

	err = err ?: replay_each_segment(t, KS_KIND_NET, on_rows, tn);
	err = err ?: replay_each_segment(t, KS_KIND_BLOCK, on_rows, tn);
	return err;
}

const char *thread_names_get(const struct thread_names *tn, uint32_t pid, uint32_t tid)
{
	uint64_t *i = ks_hmap_get(&tn->map, (uint64_t)pid << 32 | tid);

	return i ? tn->v[*i].comm : NULL;
}

void thread_names_free(struct thread_names *tn)
{
	free(tn->v);
	ks_hmap_free(&tn->map);
	memset(tn, 0, sizeof(*tn));
}
