/* The JSON report: the document DESIGN.md specifies (denet's syscall and analysis
 * shapes, KernelSight's slow-syscall and sched shapes) plus a "trace" object.
 * Any allocation failure fails the whole document rather than dropping a key. */
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "util/grow.h"
#include "replay/report.h"
#include "replay/report_io.h"
#include "util/units.h"

#define TOP_SYSCALLS 10

static json_t *jreal(double v, double scale)
{
	return json_real(round(v * scale) / scale);
}

static json_t *jstr(const char *s)
{
	return s ? report_json_text(s, strlen(s)) : json_null();
}

static json_t *json_argv(struct jb *b, const char *argv, size_t len)
{
	json_t *a = json_array();
	size_t i = 0;

	while (a && i < len) {
		size_t n = strnlen(argv + i, len - i);

		jb_push(b, a, report_json_text(argv + i, n));
		i += n + 1;
	}
	if (!a)
		b->ok = false;
	return a;
}

static json_t *json_trace(struct jb *b, const struct report *r)
{
	const struct replay_meta *m = &r->t->meta;
	json_t *o = json_object(), *cmd, *events = json_object(), *lost = json_object();
	char tb[KS_TIME_BUF], kb[16];
	bool known;
	int64_t epoch = report_epoch_ns(m, r->start_ns, &known);
	char *line = report_command_line(m);

	cmd = m->command ? json_loads(m->command, JSON_DECODE_ANY, NULL) : NULL;
	if (!json_is_array(cmd)) {
		json_decref(cmd);
		cmd = m->command ? json_array() : json_null();
		if (m->command)
			jb_push(b, cmd, jstr(m->command));
	}
	jb_set(b, o, "file", jstr(r->t->path));
	jb_set(b, o, "command", cmd);
	jb_set(b, o, "command_line", line ? jstr(line) : json_null());
	free(line);
	jb_set(b, o, "hostname", jstr(m->hostname));
	jb_set(b, o, "kernel_release", jstr(m->kernel_release));
	jb_set(b, o, "ksight_version", jstr(m->ksight_version));
	jb_set(b, o, "format_version", jstr(m->format_version));
	jb_set(b, o, "state", jstr(m->state));
	jb_set(b, o, "start_ns", jb_u64(r->start_ns));
	jb_set(b, o, "end_ns", jb_u64(r->end_ns));
	jb_set(b, o, "duration_ns", jb_u64(r->end_ns - r->start_ns));
	jb_set(b, o, "start_timestamp", known ? json_integer(epoch) : json_null());
	jb_set(b, o, "start_time", known ? jstr(ks_fmt_utc(tb, epoch)) : json_null());
	jb_set(b, o, "time_zone", json_string("UTC"));
	jb_set(b, o, "exit_code", m->have & RM_EXIT ? json_integer(m->exit_code) : json_null());
	for (unsigned k = 1; k < KS_KIND_MAX; k++)
		if (r->a.segments[k])
			jb_set(b, events, replay_kind_name(k, kb), jb_u64(r->a.events_read[k]));
	jb_set(b, o, "events", events);
	jb_set(b, lost, "syscall", m->have & RM_LOST_SYSCALL ? jb_u64(m->lost_syscall) : json_null());
	jb_set(b, lost, "proc", m->have & RM_LOST_PROC ? jb_u64(m->lost_proc) : json_null());
	jb_set(b, lost, "sched", m->have & RM_LOST_SCHED ? jb_u64(m->lost_sched) : json_null());
	jb_set(b, lost, "total", r->lost_known ? jb_u64(r->lost) : json_null());
	jb_set(b, o, "lost", lost);
	jb_set(b, o, "skipped_segments", jb_u64(r->t->skipped_segments));
	return o;
}

static json_t *json_filter(struct jb *b, const struct report *r)
{
	const struct analyze_opts *o = &r->a.o;
	json_t *f = json_object();

	jb_set(b, f, "pid", o->has_pid ? json_integer(o->pid) : json_null());
	jb_set(b, f, "from_ns", jb_u64(o->from_ns));
	jb_set(b, f, "to_ns", o->to_ns == UINT64_MAX ? json_null() : jb_u64(o->to_ns));
	jb_set(b, f, "window_ns", jb_u64(r->wall_ns));
	jb_set(b, f, "slow_threshold_ns", jb_u64(o->slow_ns));
	return f;
}

static json_t *json_syscall(struct jb *b, const struct sc_stat *s)
{
	json_t *o = json_object();
	char nb[KS_SYSCALL_NAME_MAX];
	const struct ks_hist *h = &s->hist;

	jb_set(b, o, "name", json_string(s->nr == ANALYZE_NR_MERGED ? "syscall_other" :
					 ks_syscall_name(s->nr, nb)));
	jb_set(b, o, "nr", s->nr == ANALYZE_NR_MERGED ? json_integer(-1) : json_integer(s->nr));
	jb_set(b, o, "category", json_string(ks_cat_name(s->cat)));
	jb_set(b, o, "count", jb_u64(s->calls));
	jb_set(b, o, "errors", jb_u64(s->errors));
	jb_set(b, o, "total_ns", jb_u64(h->sum));
	jb_set(b, o, "avg_ns", jb_u64(h->count ? h->sum / h->count : 0));
	jb_set(b, o, "min_ns", jb_u64(h->count ? h->min : 0));
	jb_set(b, o, "p50_ns", jb_u64(ks_hist_percentile(h, 50)));
	jb_set(b, o, "p90_ns", jb_u64(ks_hist_percentile(h, 90)));
	jb_set(b, o, "p99_ns", jb_u64(ks_hist_percentile(h, 99)));
	jb_set(b, o, "max_ns", jb_u64(h->max));
	jb_set(b, o, "noreturn", jb_u64(s->noret));
	return o;
}

static int by_count(const void *x, const void *y)
{
	const struct sc_stat *a = *(struct sc_stat *const *)x, *b = *(struct sc_stat *const *)y;

	if (a->calls != b->calls)
		return a->calls > b->calls ? -1 : 1;
	return a->nr < b->nr ? -1 : a->nr > b->nr;
}

static json_t *json_syscalls(struct jb *b, const struct report *r)
{
	const struct analysis *a = &r->a;
	json_t *o = json_object(), *list = json_array(), *cats = json_object(),
	       *detail = json_object(), *top = json_array();
	struct sc_stat *bycount[ANALYZE_NR_DIRECT + ANALYZE_NR_FAR + 1];
	char nb[KS_SYSCALL_NAME_MAX];

	jb_set(b, o, "total", jb_u64(a->calls));
	jb_set(b, o, "errors", jb_u64(a->errors));
	jb_set(b, o, "total_ns", jb_u64(a->ns));
	for (size_t i = 0; i < a->nsorted; i++)
		jb_push(b, list, json_syscall(b, a->sorted[i]));
	jb_set(b, o, "by_syscall", list);
	for (unsigned c = 0; c < KS_CAT_COUNT; c++) {
		json_t *d = json_object();

		jb_set(b, cats, ks_cat_name(c), jb_u64(a->cat[c].calls));
		jb_set(b, d, "count", jb_u64(a->cat[c].calls));
		jb_set(b, d, "errors", jb_u64(a->cat[c].errors));
		jb_set(b, d, "total_ns", jb_u64(a->cat[c].ns));
		jb_set(b, detail, ks_cat_name(c), d);
	}
	jb_set(b, o, "by_category", cats);
	jb_set(b, o, "by_category_detail", detail);
	memcpy(bycount, a->sorted, a->nsorted * sizeof(*bycount));
	ks_qsort(bycount, a->nsorted, sizeof(*bycount), by_count);
	for (size_t i = 0; i < a->nsorted && i < TOP_SYSCALLS; i++) {
		const struct sc_stat *s = bycount[i];

		jb_push(b, top, json_pack("{s:s,s:I}", "name",
					  s->nr == ANALYZE_NR_MERGED ? "syscall_other" :
					  ks_syscall_name(s->nr, nb), "count", (json_int_t)s->calls));
	}
	jb_set(b, o, "top_syscalls", top);
	return o;
}

static json_t *json_analysis(struct jb *b, const struct report *r)
{
	json_t *o = json_object();

	jb_set(b, o, "behavior_classification", json_string(behavior_class_name(r->beh.cls)));
	jb_set(b, o, "syscall_rate_per_sec", jreal(r->beh.syscall_rate_per_sec, 100));
	jb_set(b, o, "io_intensity", jreal(r->beh.io_intensity, 1e4));
	jb_set(b, o, "memory_intensity", jreal(r->beh.memory_intensity, 1e4));
	jb_set(b, o, "cpu_intensity", jreal(r->beh.cpu_intensity, 1e4));
	jb_set(b, o, "network_intensity", jreal(r->beh.network_intensity, 1e4));
	/* The evidence behind them (0 when the trace has no scheduler events or samples). */
	jb_set(b, o, "on_cpu_ratio", jreal(r->beh.on_cpu_ratio, 1e4));
	jb_set(b, o, "runq_wait_ratio", jreal(r->beh.runq_wait_ratio, 1e4));
	jb_set(b, o, "fault_cpu_share", jreal(r->beh.fault_cpu_share, 1e4));
	jb_set(b, o, "page_faults_per_sec", jreal(r->beh.page_faults_per_sec, 100));
	jb_set(b, o, "rss_growth_kb_per_sec", jreal(r->beh.rss_growth_kb_per_sec, 100));
	jb_set(b, o, "reason", json_string(r->reason));
	jb_set(b, o, "time", report_json_time(r, &r->tm.total));
	return o;
}

static json_t *json_slow(struct jb *b, const struct report *r)
{
	const struct replay_meta *m = &r->t->meta;
	json_t *list = json_array();
	char tb[KS_TIME_BUF], nb[KS_SYSCALL_NAME_MAX];
	bool known;

	for (size_t i = 0; i < r->a.nslow; i++) {
		const struct slow_call *c = &r->a.slow[i];
		int64_t epoch = report_epoch_ns(m, c->ts, &known);
		json_t *o = json_object();

		jb_set(b, o, "timestamp", json_integer(epoch));
		jb_set(b, o, "time_str", json_string(ks_fmt_utc(tb, epoch)));
		jb_set(b, o, "pid", json_integer(c->pid));
		jb_set(b, o, "tid", json_integer(c->tid));
		jb_set(b, o, "syscall", json_integer(c->nr));
		jb_set(b, o, "syscall_name", json_string(ks_syscall_name(c->nr, nb)));
		jb_set(b, o, "latency_ms", jreal((double)c->dur / 1e6, 1e6));
		jb_set(b, o, "comm", jstr(replay_procs_comm_at(&r->a.procs, c->pid, c->ts)));
		jb_set(b, o, "ret", json_integer(c->ret));
		jb_set(b, o, "stack", report_json_slow_stack(r, c));
		jb_push(b, list, o);
	}
	return list;
}

static bool in_window(const struct report *r, uint64_t ts)
{
	return ts - r->a.lo <= r->a.range;
}

/* Whether a process belongs to the report's selection (--pid, --time). */
static bool proc_selected(const struct report *r, const struct replay_proc *p)
{
	const struct analyze_opts *o = &r->a.o;

	if (!replay_pid_wanted(o->has_pid, o->pid, o->pids, p->pid))
		return false;
	if (p->start_ts > r->win_end && r->win_end > r->win_start)
		return false;
	if (p->exited && p->exit_ts < r->win_start)
		return false;
	return true;
}

static json_t *jms(uint64_t ns)
{
	return jreal((double)ns / 1e6, 1e6);
}

static json_t *jus(uint64_t ns)
{
	return jreal((double)ns / 1e3, 1e3);
}

/* A cumulative /proc counter over the window, or null without samples. */
static json_t *jcum(const struct sched_proc *sp, const struct sched_cum *c)
{
	if (!sp || !sp->samples)
		return json_null();
	return jb_u64(c->max > c->before ? c->max - c->before : 0);
}

/* The scheduler and sampler fields of one process (sp NULL: nothing known). Without
 * scheduler events in the trace, the CPU time comes from the samples. */
static void json_proc_figures(struct jb *b, const struct report *r, json_t *o,
			      const struct sched_proc *sp)
{
	static const struct sched_counts none;
	const struct sched_counts *c = sp ? &sp->c : &none;
	bool sched = sched_available(&r->a.sched), sampled = sp && sp->samples;
	uint64_t cpu = sched ? c->on_ns : sampled ? sp->cpu_ns : 0;

	jb_set(b, o, "cpu_time_ms", jms(cpu));
	jb_set(b, o, "voluntary_switches", jb_u64(c->vol));
	jb_set(b, o, "involuntary_switches", jb_u64(c->invol));
	jb_set(b, o, "context_switches", jb_u64(c->switches));
	jb_set(b, o, "wakeups", jb_u64(c->wakeups));
	jb_set(b, o, "avg_timeslice_us", jus(c->slices ? c->on_ns / c->slices : 0));
	jb_set(b, o, "time_slices", jb_u64(c->slices));
	jb_set(b, o, "threads", jb_u64(sp ? (sp->nthreads > sp->max_threads ? sp->nthreads :
					  sp->max_threads) : 0));
	jb_set(b, o, "off_cpu_ms", jms(sp ? sp->off_ns : 0));
	jb_set(b, o, "runq_wait_ms", jms(c->runq_ns));
	jb_set(b, o, "runq_p50_us", jus(sp && sp->runq ? ks_chist_percentile(sp->runq, 50) : 0));
	jb_set(b, o, "runq_p99_us", jus(sp && sp->runq ? ks_chist_percentile(sp->runq, 99) : 0));
	jb_set(b, o, "runq_max_us", jus(sp && sp->runq ? sp->runq->max : 0));
	jb_set(b, o, "page_faults", sched || !sampled ? jb_u64(c->faults) :
				jb_u64(sp->minflt.max + sp->majflt.max));
	jb_set(b, o, "peak_rss_kb", sampled ? jb_u64(sp->peak_rss_kb) : json_null());
	jb_set(b, o, "peak_vsz_kb", sampled ? jb_u64(sp->peak_vsz_kb) : json_null());
	jb_set(b, o, "read_bytes", jcum(sp, sp ? &sp->read_bytes : NULL));
	jb_set(b, o, "write_bytes", jcum(sp, sp ? &sp->write_bytes : NULL));
	jb_set(b, o, "rchar", jcum(sp, sp ? &sp->rchar : NULL));
	jb_set(b, o, "wchar", jcum(sp, sp ? &sp->wchar : NULL));
}

static json_t *json_procs(struct jb *b, const struct report *r)
{
	json_t *list = json_array();

	for (size_t i = 0; i < r->a.procs.n; i++) {
		const struct replay_proc *p = &r->a.procs.v[i];
		const struct sched_proc *sp = sched_find_record(&r->a.sched, (uint32_t)i);
		uint64_t end = report_proc_end(r, p, sp);
		json_t *o;

		if (!proc_selected(r, p))
			continue;
		o = json_object();
		jb_set(b, o, "pid", json_integer(p->pid));
		jb_set(b, o, "ppid", json_integer(p->ppid));
		jb_set(b, o, "comm", jstr(p->comm));
		jb_set(b, o, "argv", json_argv(b, p->argv, p->argv_len));
		jb_set(b, o, "argv_inherited", json_boolean(p->argv_inherited));
		jb_set(b, o, "argv_truncated", json_boolean(p->argv_truncated));
		jb_set(b, o, "exit_code", p->exited ? json_integer(replay_exit_code(p->wstatus)) :
						      json_null());
		jb_set(b, o, "exit_signal", p->exited && WIFSIGNALED(p->wstatus) ?
					    json_integer(WTERMSIG(p->wstatus)) : json_null());
		jb_set(b, o, "start_ns", jb_u64(p->start_ts));
		jb_set(b, o, "exit_ns", p->exited ? jb_u64(p->exit_ts) : json_null());
		jb_set(b, o, "start_timestamp", jb_epoch(r, p->start_ts));
		jb_set(b, o, "exit_timestamp", p->exited ? jb_epoch(r, p->exit_ts) : json_null());
		jb_set(b, o, "lifetime_ms", jms(end > p->start_ts ? end - p->start_ts : 0));
		json_proc_figures(b, r, o, sp);
		if (tm_record(&r->tm, (uint32_t)i))
			jb_set(b, o, "time", report_json_time(r, tm_record(&r->tm, (uint32_t)i)));
		jb_push(b, list, o);
	}
	return list;
}

/* Processes known only from their syscalls, scheduler events or samples: the
 * fields the trace cannot tell are null. */
static void json_unrecorded_procs(struct jb *b, const struct report *r, json_t *list)
{
	size_t n;
	uint32_t *pids = report_unrecorded_pids(r, &n);

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:i,s:n,s:s,s:[],s:b,s:n,s:n,s:n,s:n,s:n,s:n,s:n}", "pid",
				      (int)pids[i], "ppid", "comm", "?", "argv", "argv_inherited",
				      0, "exit_code", "exit_signal", "start_ns", "exit_ns",
				      "start_timestamp", "exit_timestamp", "lifetime_ms");

		json_proc_figures(b, r, o, sched_find_pid(&r->a.sched, pids[i]));
		jb_push(b, list, o);
	}
	free(pids);
}

static json_t *json_execs(struct jb *b, const struct report *r)
{
	const struct replay_procs *ps = &r->a.procs;
	json_t *list = json_array();
	char tb[KS_TIME_BUF];
	bool known;

	for (size_t i = 0; i < ps->nexecs; i++) {
		const struct replay_exec *x = &ps->execs[i];
		const struct replay_proc *p = &ps->v[x->rec];
		int64_t epoch = report_epoch_ns(&r->t->meta, x->ts, &known);
		json_t *o;

		if (!proc_selected(r, p) || !in_window(r, x->ts))
			continue;
		o = json_object();
		jb_set(b, o, "timestamp", known ? json_integer(epoch) : json_null());
		jb_set(b, o, "time_str", known ? json_string(ks_fmt_utc(tb, epoch)) : json_null());
		jb_set(b, o, "offset_ns", jb_u64(x->ts > r->start_ns ? x->ts - r->start_ns : 0));
		jb_set(b, o, "pid", json_integer(x->pid));
		jb_set(b, o, "ppid", json_integer(x->ppid));
		jb_set(b, o, "comm", jstr(x->comm));
		jb_set(b, o, "argv", json_argv(b, x->argv, x->argv_len));
		jb_set(b, o, "argv_truncated", json_boolean(x->argv_truncated));
		jb_set(b, o, "exit_code", p->exited ? json_integer(replay_exit_code(p->wstatus)) :
						      json_null());
		jb_push(b, list, o);
	}
	return list;
}

static json_t *json_buckets(struct jb *b, const struct report *r)
{
	const struct sched_analysis *s = &r->a.sched;
	json_t *list = json_array();
	uint64_t rb, wb;
	const struct io_bucket *io;

	for (size_t i = 0; i < s->nbuckets; i++) {
		const struct sched_bucket *k = &s->buckets[i];
		json_t *o = json_object();

		jb_set(b, o, "time_bucket", jb_u64(k->sec));
		jb_set(b, o, "pid", json_integer(k->pid));
		jb_set(b, o, "comm", jstr(replay_procs_comm_at(&r->a.procs, k->pid,
							      sched_sec_last_ns(s, k->sec))));
		jb_set(b, o, "context_switches", jb_u64(k->switches));
		jb_set(b, o, "voluntary_switches", jb_u64(k->vol));
		jb_set(b, o, "involuntary_switches", jb_u64(k->invol));
		jb_set(b, o, "wakeups", jb_u64(k->wakeups));
		jb_set(b, o, "cpu_time_ms", jreal((double)k->cpu_ns / 1e6, 1e3));
		/* A second inside one long slice: that slice, at least. */
		jb_set(b, o, "avg_timeslice_us", jreal((double)k->cpu_ns / 1e3 /
						       (double)(k->slices ? k->slices : 1), 1e3));
		jb_set(b, o, "page_faults", jb_u64(k->faults));
		files_bucket(&r->files, k->sec, k->pid, &rb, &wb);
		jb_set(b, o, "file_read_bytes", jb_u64(rb));
		jb_set(b, o, "file_write_bytes", jb_u64(wb));
		io = io_bucket_find(&r->a.iob, k->sec, k->pid);
		jb_set(b, o, "block_read_bytes", jb_u64(io ? io->blk_read : 0));
		jb_set(b, o, "block_write_bytes", jb_u64(io ? io->blk_write : 0));
		jb_set(b, o, "net_tx_bytes", jb_u64(io ? io->net_tx : 0));
		jb_set(b, o, "net_rx_bytes", jb_u64(io ? io->net_rx : 0));
		jb_push(b, list, o);
	}
	return list;
}

static json_t *json_threads(struct jb *b, const struct report *r)
{
	const struct sched_analysis *s = &r->a.sched;
	json_t *list = json_array();

	for (size_t i = 0; i < s->nthreads && i < SCHED_BUCKETS_MAX; i++) {
		const struct sched_thread *t = &s->threads[i];
		const struct sched_counts *c = &t->c;
		json_t *o = json_object();

		jb_set(b, o, "tid", json_integer(t->tid));
		jb_set(b, o, "pid", json_integer(t->pid));
		jb_set(b, o, "cpu_time_ms", jms(c->on_ns));
		jb_set(b, o, "voluntary_switches", jb_u64(c->vol));
		jb_set(b, o, "involuntary_switches", jb_u64(c->invol));
		jb_set(b, o, "wakeups", jb_u64(c->wakeups));
		jb_set(b, o, "avg_timeslice_us", jus(c->slices ? c->on_ns / c->slices : 0));
		jb_set(b, o, "lifetime_ms", jms(c->life_ns));
		jb_set(b, o, "off_cpu_ms", jms(c->life_ns > c->on_ns ? c->life_ns - c->on_ns : 0));
		jb_set(b, o, "runq_wait_ms", jms(c->runq_ns));
		jb_set(b, o, "page_faults", jb_u64(c->faults));
		jb_push(b, list, o);
	}
	return list;
}

static json_t *json_sched(struct jb *b, const struct report *r)
{
	const struct sched_analysis *s = &r->a.sched;
	const struct sched_counts *c = &s->total;
	json_t *o = json_object(), *q = json_object();

	jb_set(b, o, "available", json_boolean(sched_available(s)));
	jb_set(b, o, "events", jb_u64(s->events));
	jb_set(b, o, "samples", jb_u64(s->samples));
	jb_set(b, o, "context_switches", jb_u64(c->switches));
	jb_set(b, o, "voluntary_switches", jb_u64(c->vol));
	jb_set(b, o, "involuntary_switches", jb_u64(c->invol));
	jb_set(b, o, "wakeups", jb_u64(c->wakeups));
	jb_set(b, o, "cpu_time_ms", jms(c->on_ns));
	jb_set(b, o, "off_cpu_ms", jms(s->off_ns));
	jb_set(b, o, "page_faults", jb_u64(c->faults));
	jb_set(b, o, "lost_slices", jb_u64(s->lost_slices));
	jb_set(b, q, "count", jb_u64(s->runq.count));
	jb_set(b, q, "total_ms", jms(s->runq.sum));
	jb_set(b, q, "avg_us", jus(s->runq.count ? s->runq.sum / s->runq.count : 0));
	jb_set(b, q, "p50_us", jus(ks_hist_percentile(&s->runq, 50)));
	jb_set(b, q, "p90_us", jus(ks_hist_percentile(&s->runq, 90)));
	jb_set(b, q, "p99_us", jus(ks_hist_percentile(&s->runq, 99)));
	jb_set(b, q, "max_us", jus(s->runq.count ? s->runq.max : 0));
	jb_set(b, q, "log2_us", jb_log2(b, s->runq_log2us));
	jb_set(b, o, "runq_latency", q);
	jb_set(b, o, "buckets", json_buckets(b, r));
	jb_set(b, o, "buckets_truncated", json_boolean(s->bucket_misses > 0));
	jb_set(b, o, "bucket_updates_omitted", jb_u64(s->bucket_misses));
	jb_set(b, o, "threads", json_threads(b, r));
	jb_set(b, o, "threads_total", jb_u64(s->nthreads));
	return o;
}

static json_t *json_warnings(struct jb *b, const struct report *r)
{
	json_t *w = json_array();

	if (r->lost)
		jb_push(b, w, json_sprintf("INCOMPLETE: %llu events lost", (unsigned long long)r->lost));
	for (size_t i = 0; i < r->t->whole.nreasons && i < REPLAY_REASONS; i++)
		jb_push(b, w, json_sprintf("INCOMPLETE: %s", r->t->whole.reason[i]));
	if (!(r->t->meta.have & RM_MONO))
		jb_push(b, w, json_pack("s", "the trace has no clock offset: timestamps are "
					"CLOCK_MONOTONIC ns, not ns since the epoch"));
	if (r->t->skipped_segments)
		jb_push(b, w, json_sprintf("%llu segments of event kinds this ksight does not "
					   "know were skipped",
					   (unsigned long long)r->t->skipped_segments));
	if (r->a.sched.bucket_misses)
		jb_push(b, w, json_sprintf("sched.buckets holds the first %d (process, second) "
					   "buckets; %llu later updates were left out", SCHED_BUCKETS_MAX,
					   (unsigned long long)r->a.sched.bucket_misses));
	if (r->a.sched.nthreads > SCHED_BUCKETS_MAX)
		jb_push(b, w, json_sprintf("sched.threads lists the first %d of %zu threads",
					   SCHED_BUCKETS_MAX, r->a.sched.nthreads));
	if (r->a.slow_total > r->a.nslow)
		jb_push(b, w, json_sprintf("%llu slow syscalls, the %zu slowest listed",
					   (unsigned long long)r->a.slow_total, r->a.nslow));
	return w;
}

json_t *report_json_reasons(const struct replay_whole *w)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < w->nreasons && i < REPLAY_REASONS; i++)
		if (json_array_append_new(a, report_json_text(w->reason[i], strlen(w->reason[i])))) {
			json_decref(a);
			return NULL;
		}
	if (a && w->nreasons > REPLAY_REASONS &&
	    json_array_append_new(a, json_sprintf("and %zu more", w->nreasons - REPLAY_REASONS))) {
		json_decref(a);
		return NULL;
	}
	return a;
}

json_t *report_json_retention(const struct replay_whole *w)
{
	json_t *o, *by;
	char kb[16];

	if (!w->bounded || !(o = json_object()))
		return NULL;
	by = json_object();
	for (unsigned k = 1; by && k < 256; k++)
		if (w->dropped_by_kind[k] &&
		    json_object_set_new(by, replay_kind_name(k, kb), jb_u64(w->dropped_by_kind[k]))) {
			json_decref(by);
			by = NULL;
		}
	if (!by || json_object_set_new(o, "dropped_by_kind", by) ||
	    json_object_set_new(o, "max_size", jb_u64(w->max_size)) ||
	    json_object_set_new(o, "keep_ns", jb_u64(w->keep_ns)) ||
	    json_object_set_new(o, "dropped_events", jb_u64(w->dropped_events)) ||
	    json_object_set_new(o, "dropped_segments", jb_u64(w->dropped_segments)) ||
	    json_object_set_new(o, "window_start_ns", jb_u64(w->window_start_ns))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *report_json(const struct report *r)
{
	struct jb b = { true };
	json_t *doc = json_object(), *syscalls, *procs;

	jb_set(&b, doc, "trace", json_trace(&b, r));
	jb_set(&b, doc, "filter", json_filter(&b, r));
	syscalls = json_syscalls(&b, r);
	/* denet nests "analysis" in "syscalls"; DESIGN.md has it at the top: both. */
	jb_set(&b, syscalls, "analysis", json_analysis(&b, r));
	jb_set(&b, doc, "syscalls", syscalls);
	jb_set(&b, doc, "analysis", json_analysis(&b, r));
	jb_set(&b, doc, "slow_syscalls", json_slow(&b, r));
	jb_set(&b, doc, "slow_syscalls_total", jb_u64(r->a.slow_total));
	procs = json_procs(&b, r);
	json_unrecorded_procs(&b, r, procs);
	jb_set(&b, doc, "processes", procs);
	jb_set(&b, doc, "execs", json_execs(&b, r));
	jb_set(&b, doc, "sched", json_sched(&b, r));
	b.ok = report_io_json(r, doc) && b.ok;
	jb_set(&b, doc, "profile", report_json_profile(r));
	jb_set(&b, doc, "offcpu", report_json_offcpu(r));
	jb_set(&b, doc, "files", report_json_files(r));
	jb_set(&b, doc, "cgroups", report_json_cgroups(r));
	jb_set(&b, doc, "lost_events", jb_u64(r->lost));
	if (r->t->whole.bounded)
		jb_set(&b, doc, "retention", report_json_retention(&r->t->whole));
	jb_set(&b, doc, "complete", json_boolean(r->complete));
	jb_set(&b, doc, "incomplete_reasons", report_json_reasons(&r->t->whole));
	jb_set(&b, doc, "warnings", json_warnings(&b, r));
	if (!b.ok) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
