/* Process table from proc events, applied in the order the recorder stored them
 * (fork, exec and exit of one process are causally ordered, so the ring buffer
 * cannot swap them). Memory grows with the number of processes, not events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "replay/procs.h"
#include "util/grow.h"

static int change_cmp(const void *a, const void *b)
{
	const struct replay_comm_change *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return 0;
}

static void copy_comm(char dst[KS_COMM_MAX + 1], const char *src)
{
	memcpy(dst, src, KS_COMM_MAX);
	dst[KS_COMM_MAX] = 0;
}

static int add_change(struct replay_procs *p, const struct ks_proc *e)
{
	struct replay_comm_change *c;
	int err = KS_GROW(&p->changes, &p->capchanges, p->nchanges + 1);

	if (err)
		return err;
	c = &p->changes[p->nchanges++];
	c->pid = e->pid;
	c->ts = e->ts;
	copy_comm(c->comm, e->comm);
	return 0;
}

/* Returns the record an event of a process applies to, making one if needed. */
static struct replay_proc *record_for(struct replay_procs *p, const struct ks_proc *e, int *err)
{
	uint32_t i = replay_index(&p->current, e->pid);
	struct replay_proc *r;

	/* A fork of a pid whose last process has ended is a new process. */
	if (i != REPLAY_NONE && !(e->what == KS_PROC_FORK && p->v[i].exited))
		return &p->v[i];
	*err = KS_GROW(&p->v, &p->cap, p->n + 1);
	*err = *err ?: ks_hmap_put(&p->current, e->pid, (uint32_t)p->n);
	if (*err)
		return NULL;
	r = &p->v[p->n++];
	memset(r, 0, sizeof(*r));
	r->pid = e->pid;
	r->ppid = e->ppid;
	r->start_ts = e->ts;
	copy_comm(r->comm, e->comm);
	return r;
}

/* Sets *dst to a copy of src[0..len), freeing the old one. Returns 0 or -ENOMEM. */
static int set_argv(char **dst, uint32_t *dlen, const char *src, uint32_t len)
{
	char *copy = NULL;

	if (len && !(copy = malloc(len)))
		return -ENOMEM;
	if (len)
		memcpy(copy, src, len);
	free(*dst);
	*dst = copy;
	*dlen = len;
	return 0;
}

static int add_exec(struct replay_procs *p, const struct ks_proc *e, const struct replay_proc *r)
{
	struct replay_exec *x;
	int err = KS_GROW(&p->execs, &p->capexecs, p->nexecs + 1);

	if (err)
		return err;
	x = &p->execs[p->nexecs++];
	x->ts = e->ts;
	x->pid = r->pid;
	x->ppid = r->ppid;
	x->rec = (uint32_t)(r - p->v);
	copy_comm(x->comm, e->comm);
	x->argv = NULL;
	x->argv_truncated = r->argv_truncated;
	return set_argv(&x->argv, &x->argv_len, r->argv, r->argv_len);
}

/* A child that has not exec'd runs its parent's program: /proc/PID/cmdline shows
 * the parent's argv, and so does the report. */
static int inherit_argv(struct replay_procs *p, struct replay_proc *r)
{
	uint32_t i = replay_index(&p->current, r->ppid);
	const struct replay_proc *parent;

	if (i == REPLAY_NONE || (parent = &p->v[i]) == r || !parent->argv_len)
		return 0;
	r->argv_inherited = true;
	r->argv_truncated = parent->argv_truncated;
	return set_argv(&r->argv, &r->argv_len, parent->argv, parent->argv_len);
}

static int apply(struct replay_procs *p, const struct ks_proc *e)
{
	struct replay_proc *r;
	int err = 0;

	/* Threads share their process's record; only a thread's exec matters (it
	 * replaces the whole process). */
	if (e->tid != e->pid && e->what != KS_PROC_EXEC && e->what != KS_PROC_JOIN)
		return 0;
	r = record_for(p, e, &err);
	if (!r)
		return err;
	if (e->cgroup)
		r->cgroup = e->cgroup;
	switch (e->what) {
	case KS_PROC_START:
	case KS_PROC_JOIN:
		/* running before it was traced: named as if it exec'd then, unless its
		 * fork or exec named it already */
		if (r->forked || r->execed || (r->seen_running && e->what == KS_PROC_JOIN))
			return 0;
		r->seen_running = true;
		copy_comm(r->comm, e->comm);
		err = set_argv(&r->argv, &r->argv_len, e->argv,
			       e->argv_len < KS_ARGV_MAX ? e->argv_len : KS_ARGV_MAX);
		if (err)
			return err;
		r->argv_truncated = e->flags & KS_PROCF_ARGV_TRUNC;
		if (e->what == KS_PROC_START) {
			memcpy(r->exe, e->exe, KS_EXE_MAX);
			r->exe[KS_EXE_MAX - 1] = 0;
		}
		if (e->ppid)
			r->ppid = e->ppid;
		return add_change(p, e);
	case KS_PROC_FORK:
		r->forked = true;
		r->ppid = e->ppid;
		r->start_ts = e->ts;
		copy_comm(r->comm, e->comm);
		if (!r->execed && (err = inherit_argv(p, r)))
			return err;
		return add_change(p, e);
	case KS_PROC_EXEC:
		r->execed = true;
		r->argv_inherited = false;
		copy_comm(r->comm, e->comm);
		err = set_argv(&r->argv, &r->argv_len, e->argv,
			       e->argv_len < KS_ARGV_MAX ? e->argv_len : KS_ARGV_MAX);
		if (err)
			return err;
		r->argv_truncated = e->flags & KS_PROCF_ARGV_TRUNC;
		if (e->ppid)
			r->ppid = e->ppid;
		return add_change(p, e) ?: add_exec(p, e, r);
	case KS_PROC_EXIT:
		r->exited = true;
		r->exit_ts = e->ts;
		r->wstatus = e->exit_code;
		return 0;
	case KS_PROC_LIVE:
		/* a checkpoint: names the process when its fork and exec were dropped */
		if (r->forked || r->execed || r->comm[0])
			return 0;
		r->ppid = e->ppid;
		copy_comm(r->comm, e->comm);
		r->argv_len = e->argv_len < KS_ARGV_MAX ? e->argv_len : KS_ARGV_MAX;
		memcpy(r->argv, e->argv, r->argv_len);
		return 0;
	default:
		return 0;
	}
}

int replay_procs_add(struct replay_procs *p, const struct ks_proc *rows, size_t n)
{
	int err;

	for (size_t i = 0; i < n; i++)
		if ((err = apply(p, &rows[i])))
			return err;
	return 0;
}

int replay_procs_finish(struct replay_procs *p)
{
	if (p->nchanges > 1)
		ks_qsort(p->changes, p->nchanges, sizeof(*p->changes), change_cmp);
	return 0;
}

const char *replay_procs_comm_at(const struct replay_procs *p, uint32_t pid, uint64_t ts)
{
	size_t lo = 0, hi = p->nchanges;
	const struct replay_comm_change *best = NULL;

	/* The last change with (pid, ts') <= (pid, ts). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct replay_comm_change *c = &p->changes[mid];

		if (c->pid < pid || (c->pid == pid && c->ts <= ts)) {
			best = c;
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return best && best->pid == pid && best->comm[0] ? best->comm : "?";
}

const struct replay_proc *replay_procs_at(const struct replay_procs *p, uint32_t pid,
					  uint64_t ts)
{
	const struct replay_proc *best = NULL, *earliest = NULL;
	uint32_t latest = replay_index(&p->current, pid);

	if (latest == REPLAY_NONE)
		return NULL;
	/* pid reuse is rare: the latest record is the answer, found at once */
	if (p->v[latest].start_ts <= ts)
		return &p->v[latest];
	for (size_t i = 0; i < p->n; i++) {
		const struct replay_proc *r = &p->v[i];

		if (r->pid != pid)
			continue;
		if (!earliest || r->start_ts < earliest->start_ts)
			earliest = r;
		if (r->start_ts <= ts && (!best || r->start_ts >= best->start_ts))
			best = r;
	}
	return best ? best : earliest;
}

const struct replay_proc *replay_procs_find(const struct replay_procs *p, uint32_t pid)
{
	uint32_t i = replay_index(&p->current, pid);

	return i == REPLAY_NONE ? NULL : &p->v[i];
}

int replay_exit_code(int32_t wstatus)
{
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}

void replay_procs_free(struct replay_procs *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].argv);
	for (size_t i = 0; i < p->nexecs; i++)
		free(p->execs[i].argv);
	free(p->v);
	free(p->changes);
	free(p->execs);
	ks_hmap_free(&p->current);
	memset(p, 0, sizeof(*p));
}
