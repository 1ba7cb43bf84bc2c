/* Computing a report: resolve the trace's time base, run the analyser over every
 * segment (which verifies each one), then derive the window, losses and class. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"
#include "replay/report.h"
#include "util/clock.h"

static int header_span(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, size_t len)
{
	(void)seq;
	(void)len;
	replay_span_header(ctx, hdr);
	return 0;
}

/* Each segment widens the span (syscall returns included), then is analysed. */
static int report_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			  const void *rows)
{
	struct report *r = ctx;

	replay_span_rows(&r->span, hdr, rows);
	return analyze_segment(&r->a, hdr, seq, rows);
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void compute_window(struct report *r, const struct analyze_opts *o)
{
	const struct replay_proc *p;

	r->win_start = max64(r->start_ns, r->a.lo);
	r->win_end = r->end_ns;
	if (o->to_ns != UINT64_MAX)
		r->win_end = min64(r->win_end, r->start_ns > UINT64_MAX - o->to_ns ?
						       UINT64_MAX : r->start_ns + o->to_ns);
	/* One process: its own lifetime, as far as the trace knows it. */
	if (o->has_pid && (p = replay_procs_find(&r->a.procs, o->pid))) {
		if (p->forked)
			r->win_start = max64(r->win_start, p->start_ts);
		if (p->exited)
			r->win_end = min64(r->win_end, p->exit_ts);
	}
	r->wall_ns = r->win_end > r->win_start ? r->win_end - r->win_start : 0;
}

static void classify(struct report *r)
{
	struct behavior_input in = {
		.wall_ns = r->wall_ns,
		.thread_ns = r->a.thread_ns,
		.calls = r->a.calls,
		.syscall_ns = r->a.ns,
		.wait_ns = r->a.wait_ns,
		.has_sched = sched_available(&r->a.sched),
		.life_ns = r->a.sched.total.life_ns,
		.on_cpu_ns = r->a.sched.total.on_ns,
		.runq_ns = r->a.sched.total.runq_ns,
		.faults = r->a.sched.total.faults,
		.fault_ns = r->a.sched.total.fault_ns,
		.has_samples = r->a.sched.samples > 0,
		.rss_growth_kb = r->a.sched.rss_growth_kb,
	};

	for (unsigned c = 0; c < KS_CAT_COUNT; c++) {
		in.cat_calls[c] = r->a.cat[c].calls;
		in.cat_ns[c] = r->a.cat[c].ns;
	}
	behavior_classify(&in, &r->beh);
}

int report_compute(struct report *r, struct replay_trace *t, const struct analyze_opts *o)
{
	const struct replay_meta *m = &t->meta;
	int err;

	memset(r, 0, sizeof(*r));
	r->t = t;
	/* Segment headers give the time range when the recorder did not store it. */
	err = replay_each_header(t, 0, header_span, &r->span);
	if (err)
		return err;
	r->start_ns = replay_start_ns(m, &r->span);
	analyze_init(&r->a, o, r->start_ns);
	r->a.sched.epoch_off = m->have & RM_MONO ? m->mono_to_realtime_ns : 0;
	err = files_load(&r->files, t, r->a.lo, r->a.range, o->has_pid, o->pid, &r->a.sched);
	r->a.files = &r->files;
	err = err ?: replay_each_segment(t, 0, report_segment, r);
	if (err == -ENOMEM)
		replay_fail(t, err, "out of memory while replaying the trace");
	err = err ?: analyze_finish(&r->a);
	err = err ?: files_finish(&r->files);
	if (err) {
		if (!t->err[0])
			replay_fail(t, err, "out of memory while replaying the trace");
		return err;
	}
	r->end_ns = replay_end_ns(m, &r->span);
	err = sched_finish(&r->a.sched, r->end_ns, &r->a.procs);
	if (err) {
		replay_fail(t, err, "out of memory while replaying the trace");
		return err;
	}
	compute_window(r, o);
	classify(r);
	r->lost = t->whole.lost_events;
	r->lost_known = t->whole.lost_known;
	r->clean = replay_closed_cleanly(m);
	r->complete = t->whole.complete && !t->skipped_segments;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

uint32_t *report_unrecorded_pids(const struct report *r, size_t *n)
{
	const struct sched_analysis *s = &r->a.sched;
	uint32_t *v = calloc(r->a.nthreads + s->nprocs + 1, sizeof(*v));
	size_t m = 0;

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < r->a.nthreads; i++)
		if (!replay_procs_find(&r->a.procs, r->a.threads[i].pid))
			v[m++] = r->a.threads[i].pid;
	/* Known only from scheduler events or samples. */
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].rec == REPLAY_NONE && !s->procs[i].merged)
			v[m++] = s->procs[i].pid;
	ks_qsort(v, m, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < m; i++)
		if (!*n || v[*n - 1] != v[i])
			v[(*n)++] = v[i];
	if (!*n) {
		free(v);
		return NULL;
	}
	return v;
}

uint64_t report_proc_end(const struct report *r, const struct replay_proc *p,
			 const struct sched_proc *sp)
{
	if (!p->exited)
		return r->end_ns;
	return sp && sp->last_ts > p->exit_ts ? sp->last_ts : p->exit_ts;
}

void report_free(struct report *r)
{
	analyze_free(&r->a);
	files_free(&r->files);
}

json_t *report_json_text(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	char *copy;

	if (j)
		return j;
	/* Not UTF-8 (a comm or argv is whatever bytes the process chose). */
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_stringn(copy, len);
	free(copy);
	return j;
}

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if (strchr(" \t\n'\"\\$`|&;<>()*?[]{}!#~", *s))
			return true;
	return false;
}

char *report_command_line(const struct replay_meta *m)
{
	json_t *argv, *v;
	char *out = NULL;
	size_t len = 0, i;
	FILE *f;

	if (!m->command)
		return NULL;
	argv = json_loads(m->command, JSON_DECODE_ANY, NULL);
	if (!json_is_array(argv)) {
		json_decref(argv);
		return strdup(m->command);
	}
	f = open_memstream(&out, &len);
	if (!f) {
		json_decref(argv);
		return NULL;
	}
	json_array_foreach(argv, i, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : "?";

		if (i)
			fputc(' ', f);
		if (needs_quotes(s)) {
			fputc('\'', f);
			for (; *s; s++)
				fputs(*s == '\'' ? "'\\''" : (char[]){ *s, 0 }, f);
			fputc('\'', f);
		} else {
			fputs(s, f);
		}
	}
	fclose(f);
	json_decref(argv);
	return out;
}

int64_t report_epoch_ns(const struct replay_meta *m, uint64_t ts, bool *known)
{
	*known = m->have & RM_MONO;
	return ks_mono_to_epoch(ts, *known ? m->mono_to_realtime_ns : 0);
}
