/* replay: the CPU profile's aggregation, folded stacks, top functions and the
 * stacks of slow syscalls (see replay/profile.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/event.h"
#include "replay/profile.h"
#include "store/store.h"
#include "util/grow.h"
#include "util/hmap.h"

struct ctx {
	struct prof_result *r;
	const struct prof_opts *o;
	struct ks_hmap on_idx, off_idx; /* hash(pid, stack) -> index (multimap) */
};

static uint64_t key_hash(uint32_t pid, uint64_t stack)
{
	return ks_hash_u64(stack ^ ks_hash_u64(pid));
}

static int add_weight(struct ks_hmap *idx, struct prof_stack **v, size_t *n, size_t *cap,
		      uint32_t pid, uint64_t stack, uint64_t w, uint64_t ts)
{
	uint64_t h = key_hash(pid, stack);
	int err;

	for (uint64_t *i = ks_hmap_get(idx, h); i; i = ks_hmap_next(idx, h, i))
		if ((*v)[*i].pid == pid && (*v)[*i].stack == stack) {
			(*v)[*i].value += w;
			return 0;
		}
	err = ks_grow((void **)v, cap, *n + 1, sizeof(**v));
	err = err ?: ks_hmap_add(idx, h, *n);
	if (err)
		return err;
	(*v)[(*n)++] = (struct prof_stack){ .stack = stack, .pid = pid, .value = w, .first_ts = ts };
	return 0;
}

static int add_point(struct prof_result *r, uint32_t tid, uint64_t ts, uint64_t end, uint64_t stack)
{
	int err = KS_GROW(&r->pts, &r->cappts, r->npts + 1);

	if (err)
		return err;
	r->pts[r->npts++] = (struct prof_point){ .tid = tid, .ts = ts, .end = end, .stack = stack };
	return 0;
}

static bool selected(const struct ctx *c, uint32_t pid, uint64_t ts)
{
	return (!c->o->has_pid || pid == c->o->pid) && ts >= c->r->lo && ts < c->r->hi;
}

static int on_segment(void *arg, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct ctx *c = arg;
	struct prof_result *r = c->r;
	int err = 0;

	(void)seq;
	if (hdr->kind == KS_KIND_PROC)
		return replay_procs_add(&r->procs, rows, hdr->count);
	if (hdr->kind == KS_KIND_CPU_SAMPLE) {
		const struct ks_cpu_sample *s = rows;

		r->any = true;
		for (uint32_t i = 0; i < hdr->count && !err; i++) {
			if (!selected(c, s[i].pid, s[i].ts))
				continue;
			r->samples++;
			r->truncated += !!(s[i].flags & (KS_STK_KTRUNC | KS_STK_UTRUNC));
			r->missing += !!(s[i].flags & (KS_STK_KMISSING | KS_STK_UMISSING));
			r->unresolved += !!(s[i].flags & KS_STK_UNRESOLVED);
			err = add_weight(&c->on_idx, &r->on, &r->non, &r->capon, s[i].pid, s[i].stack,
					 1, s[i].ts);
			err = err ?: add_point(r, s[i].tid, s[i].ts, s[i].ts, s[i].stack);
		}
	} else if (hdr->kind == KS_KIND_OFFCPU) {
		const struct ks_offcpu *s = rows;

		r->any = true;
		for (uint32_t i = 0; i < hdr->count && !err; i++) {
			if (!selected(c, s[i].pid, s[i].ts))
				continue;
			r->spans++;
			r->off_ns += s[i].dur;
			if (s[i].flags & KS_STK_PREEMPTED)
				r->off_preempted_ns += s[i].dur;
			else
				r->off_blocked_ns += s[i].dur;
			err = add_weight(&c->off_idx, &r->off, &r->noff, &r->capoff, s[i].pid,
					 s[i].stack, s[i].dur, s[i].ts);
			err = err ?: add_point(r, s[i].tid, s[i].ts, s[i].ts + s[i].dur, s[i].stack);
		}
	}
	return err;
}

static uint64_t meta_u64(struct replay_trace *t, const char *key)
{
	char *s = NULL;
	uint64_t v = 0;

	if (!ks_store_get_meta(t->st, key, &s))
		v = strtoull(s, NULL, 10);
	free(s);
	return v;
}

static int cmp_point(const void *a, const void *b)
{
	const struct prof_point *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

int prof_compute(struct prof_result *r, struct replay_trace *t, const struct prof_opts *o)
{
	struct ctx c = { .r = r, .o = o };
	int err;

	memset(r, 0, sizeof(*r));
	r->base = t->meta.have & RM_START ? t->meta.start_ns : 0;
	r->lo = r->base + o->from_ns;
	r->hi = o->to_ns == UINT64_MAX || r->base > UINT64_MAX - o->to_ns ? UINT64_MAX :
									   r->base + o->to_ns;
	r->hz = meta_u64(t, "profile_hz");
	r->lost = meta_u64(t, "lost_sample");
	ks_store_get_meta(t->st, "profile", &r->profile_desc);
	err = replay_each_segment(t, KS_KIND_PROC, on_segment, &c);
	err = err ?: replay_each_segment(t, KS_KIND_CPU_SAMPLE, on_segment, &c);
	err = err ?: replay_each_segment(t, KS_KIND_OFFCPU, on_segment, &c);
	err = err ?: replay_procs_finish(&r->procs);
	err = err ?: ks_symtab_load(t, o->live_symbols, &r->sym);
	ks_hmap_free(&c.on_idx);
	ks_hmap_free(&c.off_idx);
	if (err) {
		prof_free(r);
		return err;
	}
	ks_qsort(r->pts, r->npts, sizeof(*r->pts), cmp_point);
	return 0;
}

void prof_free(struct prof_result *r)
{
	ks_symtab_free(r->sym);
	replay_procs_free(&r->procs);
	free(r->on);
	free(r->off);
	free(r->pts);
	free(r->profile_desc);
	memset(r, 0, sizeof(*r));
}

/* ---- folded stacks ------------------------------------------------------------ */

void prof_lines_free(struct prof_line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(((const struct prof_line *)a)->text, ((const struct prof_line *)b)->text);
}

/* "comm;outermost;...;innermost" of one stack of pid. */
static char *fold_one(struct prof_result *r, const struct prof_stack *ps)
{
	const char *comm = replay_procs_comm_at(&r->procs, ps->pid, ps->first_ts);
	const struct replay_proc *p;

	if (!strcmp(comm, "?") && (p = replay_procs_find(&r->procs, ps->pid)) && p->comm[0])
		comm = p->comm; /* before its first exec was seen: its later name */
	const struct ks_frame *f;
	unsigned nk = 0, nu = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *m;

	m = open_memstream(&text, &len);
	if (!m)
		return NULL;
	fputs(comm, m);
	if (ks_symtab_stack(r->sym, ps->stack, &f, &nk, &nu)) {
		fputs(";[missing stack]", m);
		nk = nu = 0;
	}
	for (unsigned i = nk + nu; i-- > nk;)
		fprintf(m, ";%s", ks_symtab_name(r->sym, &f[i], NULL));
	for (unsigned i = nk; i-- > 0;)
		fprintf(m, ";%s", ks_symtab_name(r->sym, &f[i], NULL));
	if (fclose(m)) {
		free(text);
		return NULL;
	}
	return text;
}

int prof_folded(struct prof_result *r, bool offcpu, struct prof_line **lines, size_t *n)
{
	const struct prof_stack *v = offcpu ? r->off : r->on;
	size_t nv = offcpu ? r->noff : r->non, out = 0;
	struct prof_line *l;

	*lines = NULL;
	*n = 0;
	if (!nv)
		return 0;
	l = calloc(nv, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < nv; i++) {
		l[i].text = fold_one(r, &v[i]);
		l[i].value = v[i].value;
		if (!l[i].text) {
			prof_lines_free(l, i);
			return -ENOMEM;
		}
	}
	ks_qsort(l, nv, sizeof(*l), cmp_line);
	for (size_t i = 0; i < nv; i++) {
		if (out && !strcmp(l[out - 1].text, l[i].text)) {
			l[out - 1].value += l[i].value;
			free(l[i].text);
			continue;
		}
		l[out++] = l[i];
	}
	*lines = l;
	*n = out;
	return 0;
}

/* ---- top functions ------------------------------------------------------------ */

static int cmp_func(const void *a, const void *b)
{
	const struct prof_func *x = a, *y = b;

	if (x->self != y->self)
		return x->self > y->self ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->function, y->function);
}

int prof_top(struct prof_result *r, bool offcpu, struct prof_func **out, size_t *n)
{
	const struct prof_stack *v = offcpu ? r->off : r->on;
	size_t nv = offcpu ? r->noff : r->non, nf = 0, cap = 0;
	struct prof_func *fn = NULL;
	struct ks_hmap idx = { 0 };
	int err = 0;

	for (size_t i = 0; i < nv && !err; i++) {
		const struct ks_frame *f;
		unsigned nk, nu;
		size_t seen[KS_FRAMES_MAX], nseen = 0;

		if (ks_symtab_stack(r->sym, v[i].stack, &f, &nk, &nu))
			continue;
		for (unsigned j = 0; j < nk + nu && !err; j++) {
			const char *name = ks_symtab_name(r->sym, &f[j], NULL);
			const char *mod = ks_symtab_module(r->sym, f[j].module);
			uint64_t h = ks_hash_bytes(name, strlen(name)) ^ ks_hash_bytes(mod, strlen(mod));
			size_t k = SIZE_MAX;
			bool dup = false;

			for (uint64_t *e = ks_hmap_get(&idx, h); e; e = ks_hmap_next(&idx, h, e))
				if (!strcmp(fn[*e].function, name) && !strcmp(fn[*e].module, mod)) {
					k = *e;
					break;
				}
			if (k == SIZE_MAX) {
				err = KS_GROW(&fn, &cap, nf + 1);
				err = err ?: ks_hmap_add(&idx, h, nf);
				if (err)
					break;
				fn[nf] = (struct prof_func){ .function = name, .module = mod };
				k = nf++;
			}
			if (j == 0)
				fn[k].self += v[i].value;
			for (size_t s = 0; s < nseen; s++)
				dup |= seen[s] == k;
			if (!dup) {
				fn[k].total += v[i].value;
				seen[nseen++] = k;
			}
		}
	}
	ks_hmap_free(&idx);
	if (err) {
		free(fn);
		return err;
	}
	ks_qsort(fn, nf, sizeof(*fn), cmp_func);
	*out = fn;
	*n = nf;
	return 0;
}

/* ---- the stack of a slow syscall ---------------------------------------------- */

size_t prof_user_stack(struct prof_result *r, uint32_t tid, uint64_t ts, uint64_t dur,
		       const char **names, size_t max)
{
	size_t lo = 0, hi = r->npts, pick = SIZE_MAX;
	const struct ks_frame *f;
	unsigned nk, nu;
	size_t n = 0;

	/* the first point of tid at or after ts */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct prof_point *p = &r->pts[mid];

		if (p->tid < tid || (p->tid == tid && p->ts < ts))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < r->npts && r->pts[i].tid == tid && r->pts[i].ts <= ts + dur; i++) {
		if (r->pts[i].end > r->pts[i].ts) { /* a span: the thread blocked in the call */
			pick = i;
			break;
		}
		if (pick == SIZE_MAX)
			pick = i;
	}
	if (pick == SIZE_MAX || ks_symtab_stack(r->sym, r->pts[pick].stack, &f, &nk, &nu))
		return 0;
	for (unsigned i = nk; i < nk + nu && n < max; i++)
		names[n++] = ks_symtab_name(r->sym, &f[i], NULL);
	return n;
}
