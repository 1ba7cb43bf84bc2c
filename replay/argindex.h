/* The non-numeric syscall arguments of a trace (its sysarg rows: paths,
 * sockaddrs, new fd pairs) and the fds its processes held at start, loaded once
 * and found by the syscall they belong to (tid and entry time). Memory grows
 * with the number of such arguments, not with the syscalls. */
#ifndef KSIGHT_REPLAY_ARGINDEX_H
#define KSIGHT_REPLAY_ARGINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "replay/trace.h"
#include "util/hmap.h"

struct argref {
	uint64_t ts;
	uint32_t pid, tid, what, flags;
	int64_t val;
	uint32_t nr, len;
	size_t off;  /* of the data in the arena */
};

struct argindex {
	struct ks_hmap by_call;  /* hash(tid, ts) -> index in ref (multimap) */
	struct argref *ref;
	size_t n, cap;
	char *arena;
	size_t used, arena_cap;
	size_t *prefd;           /* indexes of the KS_SA_PREFD rows, in order */
	size_t nprefd, capprefd;
};

/* Reads every sysarg segment of t into ix (initialised here). Returns 0, a
 * negative error with t->err set, or -ENOMEM. */
int argindex_load(struct argindex *ix, struct replay_trace *t);
/* Adds one row (tests, and the load). Returns 0 or -ENOMEM. */
int argindex_add(struct argindex *ix, const struct ks_sysarg *r);
/* The argument what of the syscall of tid entered at ts, or NULL. */
const struct argref *argindex_find(const struct argindex *ix, uint32_t tid, uint64_t ts,
				   uint32_t what);
static inline const char *argindex_data(const struct argindex *ix, const struct argref *r)
{
	return ix->arena + r->off;
}
void argindex_free(struct argindex *ix);

#endif
