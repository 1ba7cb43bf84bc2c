/* Per-object I/O figures from the replayed fd tables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/sysargs.h"
#include "replay/files.h"
#include "util/grow.h"

static int load_procs(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
		      const void *rows)
{
	struct files_analysis *f = ctx;
	const struct ks_proc *p = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++)
		if (fdreplay_add_proc(&f->fr, &p[i]))
			return -ENOMEM;
	return 0;
}

int files_load(struct files_analysis *f, struct replay_trace *t, uint64_t lo, uint64_t range,
	       bool has_pid, uint32_t pid, const struct sched_analysis *sched)
{
	int err;

	memset(f, 0, sizeof(*f));
	f->lo = lo;
	f->range = range;
	f->has_pid = has_pid;
	f->pid = pid;
	f->sched = sched;
	err = argindex_load(&f->ix, t);
	err = err ?: fdreplay_init(&f->fr, &f->ix);
	err = err ?: replay_each_segment(t, KS_KIND_PROC, load_procs, f);
	if (!err)
		fdreplay_sort(&f->fr);
	return err;
}

static struct file_stat *stat_of(struct files_analysis *f, uint32_t obj)
{
	if (obj >= f->nst) {
		size_t old = f->nst, cap = f->nst;

		if (KS_GROW(&f->st, &cap, (size_t)obj + 1))
			return NULL;
		memset(f->st + old, 0, (cap - old) * sizeof(*f->st));
		for (size_t i = old; i < cap; i++)
			f->st[i].obj = (uint32_t)i;
		f->nst = cap;
	}
	return &f->st[obj];
}

static int bucket_add(struct files_analysis *f, uint64_t ts, uint32_t pid, uint64_t rb,
		      uint64_t wb)
{
	uint64_t sec = sched_sec(f->sched, ts), k, *v;
	struct file_bucket *b;

	/* A stream of reads or writes mostly stays in one process and second. */
	if (f->lastbk < f->nbk && f->bk[f->lastbk].sec == sec && f->bk[f->lastbk].pid == pid) {
		f->bk[f->lastbk].read_bytes += rb;
		f->bk[f->lastbk].write_bytes += wb;
		return 0;
	}
	k = ks_hash_u64(sec) ^ pid;
	for (v = ks_hmap_get(&f->bkmap, k); v; v = ks_hmap_next(&f->bkmap, k, v))
		if (f->bk[*v].sec == sec && f->bk[*v].pid == pid)
			break;
	if (!v) {
		if (KS_GROW(&f->bk, &f->capbk, f->nbk + 1) || ks_hmap_add(&f->bkmap, k, f->nbk))
			return -ENOMEM;
		f->bk[f->nbk] = (struct file_bucket){ .sec = sec, .pid = pid };
		v = ks_hmap_get(&f->bkmap, k);
		while (f->bk[*v].sec != sec || f->bk[*v].pid != pid)
			v = ks_hmap_next(&f->bkmap, k, v);
		f->nbk++;
	}
	f->lastbk = *v;
	b = &f->bk[*v];
	b->read_bytes += rb;
	b->write_bytes += wb;
	return 0;
}

int files_syscalls(struct files_analysis *f, const struct ks_syscall *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ks_syscall *s = &rows[i];
		const struct ks_sysargs *sa;
		struct file_stat *st;
		bool err_ret = s->ret < 0 && s->ret >= -4095;
		uint32_t obj;
		int err;

		if (!(s->flags & KS_SYSF_ARGS))
			continue;
		f->have_args = true;
		err = fdreplay_syscall(&f->fr, s, &obj);
		if (err)
			return err;
		if (!obj || !replay_pid_wanted(f->has_pid, f->pid, f->pids, s->pid) || s->ts - f->lo > f->range)
			continue;
		sa = ks_sysargs_get(s->nr);
		if (!(st = stat_of(f, obj)))
			return -ENOMEM;
		st->time_ns += s->dur;
		st->errors += err_ret;
		if (sa->role == KS_R_OPEN && !err_ret)
			st->opens++;
		else if (sa->role == KS_R_READ) {
			st->reads++;
			st->read_bytes += s->ret > 0 ? s->ret : 0;
		} else if (sa->role == KS_R_WRITE) {
			st->writes++;
			st->write_bytes += s->ret > 0 ? s->ret : 0;
		}
		if (s->ret > 0 && (sa->role == KS_R_READ || sa->role == KS_R_WRITE) &&
		    fdt_get(&f->fr.fdt, obj)->kind == FDT_FILE &&
		    bucket_add(f, s->ts + s->dur, s->pid, sa->role == KS_R_READ ? s->ret : 0,
			       sa->role == KS_R_WRITE ? s->ret : 0))
			return -ENOMEM;
	}
	return 0;
}

static int by_time(const void *x, const void *y)
{
	const struct file_stat *a = *(struct file_stat *const *)x, *b = *(struct file_stat *const *)y;

	if (a->time_ns != b->time_ns)
		return a->time_ns > b->time_ns ? -1 : 1;
	return a->obj < b->obj ? -1 : a->obj > b->obj;
}

int files_finish(struct files_analysis *f)
{
	size_t n = 0;
	int err = fdreplay_flush(&f->fr);

	if (err)
		return err;
	f->sorted = malloc((f->nst ? f->nst : 1) * sizeof(*f->sorted));
	if (!f->sorted)
		return -ENOMEM;
	for (size_t i = 1; i < f->nst; i++) {
		const struct file_stat *s = &f->st[i];

		if (fdt_get(&f->fr.fdt, s->obj)->kind == FDT_FILE &&
		    (s->opens || s->reads || s->writes || s->errors || s->time_ns))
			f->sorted[n++] = &f->st[i];
	}
	ks_qsort(f->sorted, n, sizeof(*f->sorted), by_time);
	f->nsorted = n;
	return 0;
}

const struct fdt_object *files_object(const struct files_analysis *f, const struct file_stat *s)
{
	return fdt_get(&f->fr.fdt, s->obj);
}

void files_bucket(const struct files_analysis *f, uint64_t sec, uint32_t pid, uint64_t *rb,
		  uint64_t *wb)
{
	uint64_t k = ks_hash_u64(sec) ^ pid, *v;

	*rb = *wb = 0;
	for (v = ks_hmap_get(&f->bkmap, k); v; v = ks_hmap_next(&f->bkmap, k, v))
		if (f->bk[*v].sec == sec && f->bk[*v].pid == pid) {
			*rb = f->bk[*v].read_bytes;
			*wb = f->bk[*v].write_bytes;
			return;
		}
}

void files_free(struct files_analysis *f)
{
	argindex_free(&f->ix);
	fdreplay_free(&f->fr);
	free(f->st);
	free(f->bk);
	free(f->sorted);
	ks_hmap_free(&f->bkmap);
	memset(f, 0, sizeof(*f));
}
