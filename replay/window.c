/* Bounded recordings on replay (replay/window.h): the retention figures of the
 * trace and its epoch marks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/kserr.h"
#include "replay/trace.h"
#include "replay/window.h"
#include "util/units.h"

static uint64_t meta_u64(struct replay_trace *t, const char *key, bool *have)
{
	char *v = NULL;
	uint64_t n = 0;

	if (!ks_store_get_meta(t->st, key, &v) && !ks_parse_u64(v, &n))
		*have = true;
	free(v);
	return n;
}

/* Calls fn for every well-formed epoch mark, in index (time) order; a non-zero
 * return stops the walk and is returned; a damaged mark is -KS_ECORRUPT. */
static int each_epoch(struct replay_trace *t, int (*fn)(void *ctx, const struct ks_epoch *e),
		      void *ctx)
{
	struct ks_epoch *e = malloc(sizeof(*e));
	struct ks_db_iter *it = NULL;
	const void *k, *v;
	size_t kl, vl;
	uint64_t index;
	int err = e ? ks_store_iter(t->st, KS_DB_META, &it) : -ENOMEM;

	while (!err && (err = ks_db_iter_next(it, &k, &kl, &v, &vl)) > 0) {
		err = 0;
		if (!ks_epoch_key_parse(k, kl, &index))
			continue;
		if (ks_epoch_decode(v, vl, e) || e->index != index)
			err = -KS_ECORRUPT;
		else
			err = fn(ctx, e);
	}
	ks_db_iter_free(it);
	free(e);
	return err;
}

static int first_epoch(void *ctx, const struct ks_epoch *e)
{
	*(uint64_t *)ctx = e->ts;
	return 1;
}

void replay_retention(struct replay_trace *t, const struct ks_manifest *m)
{
	struct replay_whole *w = &t->whole;
	bool have = false;
	uint64_t ts = 0;

	w->max_size = meta_u64(t, "retention_max_size", &have);
	w->keep_ns = meta_u64(t, "retention_keep_ns", &have);
	w->bounded = have;
	w->window_start_ns = t->meta.have & RM_START ? t->meta.start_ns : 0;
	if (!m)
		return;
	for (unsigned k = 1; k < 256; k++) {
		w->dropped_by_kind[k] = m->dropped_events[k];
		w->dropped_events += m->dropped_events[k];
	}
	w->dropped_segments = m->dropped[KS_DB_SEGMENTS];
	if (w->dropped_segments || m->dropped[KS_DB_DELTAS] || m->dropped[KS_DB_META]) {
		w->bounded = true;
		if (each_epoch(t, first_epoch, &ts) == 1)
			w->window_start_ns = ts;
	}
}

struct at_find {
	uint64_t at;
	struct ks_epoch *out;
	int found;
};

static int epoch_before(void *ctx, const struct ks_epoch *e)
{
	struct at_find *f = ctx;

	if (e->ts > f->at)
		return 1;
	*f->out = *e;
	f->found = 1;
	return 0;
}

int replay_epoch_at(struct replay_trace *t, uint64_t at, struct ks_epoch *e)
{
	struct at_find f = { .at = at, .out = e };
	int err = each_epoch(t, epoch_before, &f);

	if (err < 0)
		return replay_fail(t, err, "an epoch mark of the trace is damaged: %s; the trace "
				   "is damaged", ks_strerror(err));
	return f.found;
}
