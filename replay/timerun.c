/* Feeding the time model from a trace: the scheduler and syscall segments read
 * side by side and merged in time order (a syscall row is applied once every
 * scheduler event up to its return has been), with the fd tables replayed along
 * the syscalls so each blocked call knows the kind of object it waited on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "replay/argindex.h"
#include "replay/timemodel.h"
#include "replay/trace.h"

/* One kind's segments, row by row; each segment is handed to fn first. */
struct stream {
	struct replay_cursor *c;
	replay_seg_fn fn;
	void *ctx;
	const char *rows;
	size_t size, n, i;
	bool done;
};

static int stream_open(struct stream *s, struct replay_trace *t, unsigned kind,
		       replay_seg_fn fn, void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->size = ks_schema_get(kind)->row_size;
	s->fn = fn;
	s->ctx = ctx;
	return replay_cursor_open(t, kind, &s->c);
}

/* The next row, or NULL at the end (*err set on failure). */
static const void *stream_row(struct stream *s, int *err)
{
	while (!s->done && s->i >= s->n) {
		struct ks_seg_header hdr;
		const void *rows;
		uint64_t seq;
		int r = replay_cursor_next(s->c, &hdr, &seq, &rows);

		if (r > 0 && s->fn)
			r = s->fn(s->ctx, &hdr, seq, rows) ?: 1;
		if (r <= 0) {
			s->done = true;
			*err = r;
			break;
		}
		s->rows = rows;
		s->n = hdr.count;
		s->i = 0;
	}
	return s->done ? NULL : s->rows + s->size * s->i;
}

static int load_procs(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct fdreplay *fr = ctx;
	const struct ks_proc *p = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++)
		if (fdreplay_add_proc(fr, &p[i]))
			return -ENOMEM;
	return 0;
}

static int apply_syscall(struct timemodel *m, const struct ks_syscall *s)
{
	const struct fdt_object *o = NULL;
	uint32_t obj = 0;
	int err = fdreplay_syscall(&m->fr, s, &obj);

	if (err)
		return err;
	if (s->flags & KS_SYSF_ARGS) {
		o = fdt_get(&m->fr.fdt, obj);
		if (s->nr == SYS_epoll_ctl && (err = tm_epoll_ctl(m, &m->fr.fdt, s)))
			return err;
	}
	return tm_syscall(m, s, tm_wait_bucket(m, s, o), obj);
}

int tm_run(struct timemodel *m, struct replay_trace *t, const struct argindex *ix,
	   replay_seg_fn fn, void *ctx)
{
	struct stream sys = { 0 }, sch = { 0 };
	const struct ks_syscall *sc;
	const struct ks_sched *ev;
	int err;

	err = fdreplay_init(&m->fr, ix);
	if (err)
		return err;
	m->have_fr = true;
	err = replay_each_segment(t, KS_KIND_PROC, load_procs, &m->fr);
	if (err)
		return err;
	fdreplay_sort(&m->fr);
	err = stream_open(&sys, t, KS_KIND_SYSCALL, fn, ctx);
	err = err ?: stream_open(&sch, t, KS_KIND_SCHED, fn, ctx);
	if (err)
		goto out;
	sc = stream_row(&sys, &err);
	ev = err ? NULL : stream_row(&sch, &err);
	if (ev)
		m->has_sched = true; /* known from the start: see tm_syscall */
	while (!err && (sc || ev)) {
		uint64_t ret = sc ? sc->ts + sc->dur : UINT64_MAX;

		if (ev && ev->ts <= ret) {
			err = tm_sched(m, ev);
			sch.i++;
			ev = err ? NULL : stream_row(&sch, &err);
		} else {
			err = apply_syscall(m, sc);
			sys.i++;
			sc = err ? NULL : stream_row(&sys, &err);
		}
	}
	err = err ?: fdreplay_flush(&m->fr);
out:
	replay_cursor_close(sys.c);
	replay_cursor_close(sch.c);
	return err;
}
