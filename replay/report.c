/* Computing a report: resolve the trace's time base, run the analyser over every
 * segment (which verifies each one), then derive the window, losses and class. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"
#include "replay/pipeline.h"
#include "replay/report.h"
#include "replay/report_io.h"
#include "replay/timeclass.h"
#include "util/clock.h"

/* The headers' pass: the time range, and the segments of kinds this build has no
 * schema for (the walks below go kind by kind, so they do not count them). */
struct span_walk {
	struct replay_span *span;
	uint64_t unknown;
};

static int header_span(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, size_t len)
{
	(void)seq;
	(void)len;
	struct span_walk *w = ctx;

	replay_span_header(w->span, hdr);
	if (!ks_schema_get(hdr->kind))
		w->unknown++;
	return 0;
}

/* Each segment widens the span (syscall returns included), then is analysed.
 * Split (report_each), the syscall rows' returns are seen on the decoding
 * threads: this thread writing the span for each row would also slow theirs, on
 * the cache lines they read. */
static int report_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			  const void *rows)
{
	struct report *r = ctx;

	if (hdr->kind == KS_KIND_SYSCALL && r->a.parts)
		replay_span_header(&r->span, hdr);
	else
		replay_span_rows(&r->span, hdr, rows);
	return analyze_segment(&r->a, hdr, seq, rows);
}

/* The syscall segments' work on the decoding threads (replay/pipeline.h). */
struct report_work {
	struct report *r;
	uint64_t last[SEG_PIPE_MAX_THREADS]; /* the latest syscall return, per thread */
};

static int report_each(void *ctx, unsigned thread, const struct ks_seg_header *hdr,
		       const void *rows)
{
	struct report_work *w = ctx;
	const struct ks_syscall *sc = rows;
	uint64_t last = w->last[thread];

	if (hdr->kind == KS_KIND_SYSCALL)
		for (uint32_t i = 0; i < hdr->count; i++)
			if (!(sc[i].flags & KS_SYSF_NORET) && sc[i].ts + sc[i].dur > last)
				last = sc[i].ts + sc[i].dur;
	w->last[thread] = last;
	return analyze_each(&w->r->a, thread, hdr, rows);
}

static int report_ordered(void *ctx, const struct ks_seg_header *hdr, const void *rows)
{
	struct report_work *w = ctx;

	return analyze_ordered(&w->r->a, hdr, rows);
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
	if (r->have_tm && r->tm.has_sched) {
		tm_classify(&r->tm, r->wall_ns, &r->beh, r->reason, sizeof(r->reason));
		return;
	}
	snprintf(r->reason, sizeof(r->reason), "%s from the syscall mix alone (the trace has no "
		 "scheduler events)", r->beh.cls == BEHAVIOR_UNKNOWN ? "too little to classify" :
		 "classified");
}

/* The command ksight launched lives from its exec: before it, the process was the
 * launcher's (released, resolving the path). Its exec is the trace's first process
 * event; attached traces (-p, -a, --cgroup: the command array starts with an
 * option) have no such start. Sets *pid, *ts; false when there is none. */
static bool launch_start(const struct report *r, uint32_t *pid, uint64_t *ts)
{
	const struct replay_meta *m = &r->t->meta;
	const struct fdreplay *fr = &r->files.fr;

	if (!m->command || !strncmp(m->command, "[\"-", 3) || !fr->npe ||
	    fr->pe[0].what != KS_PROC_EXEC)
		return false;
	*pid = fr->pe[0].pid;
	*ts = fr->pe[0].ts;
	return true;
}

int report_compute(struct report *r, struct replay_trace *t, const struct analyze_opts *o)
{
	const struct replay_meta *m = &t->meta;
	int err;

	memset(r, 0, sizeof(*r));
	r->t = t;
	/* Segment headers give the time range when the recorder did not store it. */
	struct span_walk sw = { .span = &r->span };

	err = replay_each_header(t, 0, header_span, &sw);
	if (err)
		return err;
	r->start_ns = replay_start_ns(m, &r->span);
	analyze_init(&r->a, o, r->start_ns);
	r->a.sched.epoch_off = m->have & RM_MONO ? m->mono_to_realtime_ns : 0;
	err = files_load(&r->files, t, r->a.lo, r->a.range, o->has_pid, o->pid, &r->a.sched);
	r->files.pids = o->pids;
	r->a.files = &r->files;
	if (!err && launch_start(r, &r->launch_pid, &r->launch_ts))
		err = sched_set_floor(&r->a.sched, r->launch_pid, r->launch_ts);
	/* The process events first; then the syscall and scheduler segments, read side
	 * by side for the time model and handed to the analysers on the way (each
	 * segment decoded once); then the other kinds. */
	err = err ?: replay_each_segment(t, KS_KIND_PROC, report_segment, r);
	tm_init(&r->tm, r->a.lo, r->a.range, o->has_pid, o->pid, r->start_ns);
	if (!err && r->launch_ts)
		err = tm_set_start(&r->tm, r->launch_pid, r->launch_ts);
	/* The time model sets the pace on this thread: with more than one, the
	 * syscall figures are computed on the decoding threads, files and threads
	 * in order. On one, in one pass over the rows. */
	struct report_work rw = { .r = r };
	struct seg_pipe_work w = { report_each, report_ordered, &rw };

	if (!err && t->threads > 1) {
		err = analyze_split(&r->a, t->threads);
		err = err ?: replay_set_work(t, KS_KIND_SYSCALL, &w);
	}
	err = err ?: tm_run(&r->tm, t, &r->files.ix, report_segment, r);
	replay_set_work(t, 0, NULL);
	for (unsigned i = 0; i < SEG_PIPE_MAX_THREADS; i++)
		if (rw.last[i] > r->span.last)
			r->span.last = rw.last[i];
	for (unsigned k = KS_KIND_SCHED + 1; !err && k < KS_KIND_MAX; k++)
		if (ks_schema_get(k))
			err = replay_each_segment(t, k, report_segment, r);
	t->skipped_segments += sw.unknown; /* as a walk of every kind counts them */
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
	err = report_io_compute(r);
	if (err) {
		replay_fail(t, err, "out of memory while replaying the trace");
		return err;
	}
	compute_window(r, o);
	err = tm_finish(&r->tm, r->end_ns, &r->a.procs);
	if (err) {
		replay_fail(t, err, "out of memory while accounting the time");
		return err;
	}
	r->have_tm = true;
	classify(r);
	err = report_profile_compute(r, o);
	if (err) {
		if (!t->err[0])
			replay_fail(t, err, "out of memory while replaying the trace");
		return err;
	}
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
	free(r->io_probes);
	free(r->io_missing);
	report_profile_free(r);
	files_free(&r->files);
	tm_free(&r->tm);
}

void jb_set(struct jb *b, json_t *o, const char *k, json_t *v)
{
	if (!v || !o || json_object_set_new(o, k, v))
		b->ok = false;
}

void jb_push(struct jb *b, json_t *a, json_t *v)
{
	if (!v || !a || json_array_append_new(a, v))
		b->ok = false;
}

json_t *jb_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *jb_epoch(const struct report *r, uint64_t ts)
{
	bool known;
	int64_t e = report_epoch_ns(&r->t->meta, ts, &known);

	return known ? json_integer(e) : json_null();
}

json_t *jb_log2(struct jb *b, const uint64_t *slots)
{
	json_t *list = json_array();
	int last = -1;

	for (int i = 0; i < KS_LOG2_SLOTS; i++)
		if (slots[i])
			last = i;
	for (int i = 0; i <= last; i++) {
		json_t *o = json_object();

		jb_set(b, o, "from_us", jb_u64(i ? 1ull << i : 0));
		jb_set(b, o, "to_us", jb_u64(i == 63 ? UINT64_MAX >> 1 : (2ull << i) - 1));
		jb_set(b, o, "count", jb_u64(slots[i]));
		jb_push(b, list, o);
	}
	return list;
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
