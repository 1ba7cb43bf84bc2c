/* The text report: a header with losses up front, then tables (syscalls,
 * categories, top syscalls, behaviour, slow syscalls, processes) and libbpf-tools
 * style log2 latency histograms. */
#include <stdlib.h>
#include <string.h>

#include "replay/report.h"
#include "replay/units.h"

#define SLOW_SHOWN 20
#define PROCS_SHOWN 100
#define TOP_SHOWN 10

static const char *sc_name(const struct sc_stat *s, char nb[KS_SYSCALL_NAME_MAX])
{
	return s->nr == ANALYZE_NR_MERGED ? "syscall_other" : ks_syscall_name(s->nr, nb);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static void warnings(FILE *f, const struct report *r)
{
	const struct replay_meta *m = &r->t->meta;

	if (r->lost_known && r->lost) {
		fprintf(f, "!! INCOMPLETE: %llu events lost", (unsigned long long)r->lost);
		if (m->have & (RM_LOST_SYSCALL | RM_LOST_PROC))
			fprintf(f, " (syscall %llu, proc %llu)",
				(unsigned long long)m->lost_syscall, (unsigned long long)m->lost_proc);
		fputs(": counts and times below are lower bounds\n", f);
	}
	if (!r->clean)
		fprintf(f, "!! INCOMPLETE: trace not closed cleanly (state \"%s\"): the recorder "
			"stopped before finishing; events after its last commit are missing\n",
			m->state ? m->state : "unknown");
	if (!r->lost_known)
		fputs("!! the trace has no loss counters: whether events were lost is unknown\n", f);
	if (r->t->skipped_segments)
		fprintf(f, "!! %llu segments of event kinds this ksight does not know were skipped\n",
			(unsigned long long)r->t->skipped_segments);
}

static void header(FILE *f, const struct report *r)
{
	const struct replay_meta *m = &r->t->meta;
	const struct analyze_opts *o = &r->a.o;
	char tb[REPLAY_TIME_BUF], d1[REPLAY_DUR_BUF], d2[REPLAY_DUR_BUF], d3[REPLAY_DUR_BUF];
	char *cmd = report_command_line(m);
	bool known;
	int64_t epoch = report_epoch_ns(m, r->start_ns, &known);

	fprintf(f, "trace        %s\n", r->t->path);
	fprintf(f, "command      %s\n", cmd ? cmd : "?");
	free(cmd);
	fprintf(f, "host         %s, kernel %s, recorded by ksight %s\n",
		m->hostname ? m->hostname : "?", m->kernel_release ? m->kernel_release : "?",
		m->ksight_version ? m->ksight_version : "?");
	if (known)
		fprintf(f, "started      %s UTC\n", replay_fmt_utc(tb, epoch));
	else
		fputs("started      ? (the trace has no clock offset)\n", f);
	fprintf(f, "duration     %s\n", replay_fmt_dur(d1, r->end_ns - r->start_ns));
	if (m->have & RM_EXIT)
		fprintf(f, "exit status  %lld\n", (long long)m->exit_code);
	else
		fputs("exit status  ?\n", f);
	fprintf(f, "events       %llu syscalls, %llu process events\n",
		(unsigned long long)r->a.events_read[KS_KIND_SYSCALL],
		(unsigned long long)r->a.events_read[KS_KIND_PROC]);
	if (r->lost_known)
		fprintf(f, "lost events  %llu\n", (unsigned long long)r->lost);
	else
		fputs("lost events  ? (not recorded)\n", f);
	if (o->has_pid || o->from_ns || o->to_ns != UINT64_MAX) {
		fputs("selection   ", f);
		if (o->has_pid)
			fprintf(f, " pid %u;", o->pid);
		if (o->from_ns || o->to_ns != UINT64_MAX)
			fprintf(f, " time %s..%s;", replay_fmt_dur(d1, o->from_ns),
				o->to_ns == UINT64_MAX ? "end" : replay_fmt_dur(d2, o->to_ns));
		fprintf(f, " window %s, %llu syscalls selected\n", replay_fmt_dur(d3, r->wall_ns),
			(unsigned long long)r->a.calls);
	}
	warnings(f, r);
}

static void syscall_table(FILE *f, const struct report *r)
{
	const struct analysis *a = &r->a;
	char nb[KS_SYSCALL_NAME_MAX], d[5][REPLAY_DUR_BUF];

	fprintf(f, "\nSYSCALLS  %llu calls, %llu errors, %s in syscalls (sorted by total time)\n",
		(unsigned long long)a->calls, (unsigned long long)a->errors,
		replay_fmt_dur(d[0], a->ns));
	if (!a->nsorted) {
		fputs("  (none)\n", f);
		return;
	}
	fprintf(f, "%-22s %-9s %10s %8s %9s %9s %9s %9s %9s\n", "syscall", "category", "count",
		"errors", "total", "avg", "p50", "p99", "max");
	for (size_t i = 0; i < a->nsorted; i++) {
		const struct sc_stat *s = a->sorted[i];
		const struct ks_hist *h = &s->hist;

		if (!h->count) { /* only calls that never returned: no latency */
			fprintf(f, "%-22s %-9s %10llu %8llu %9s %9s %9s %9s %9s\n", sc_name(s, nb),
				ks_cat_name(s->cat), (unsigned long long)s->calls,
				(unsigned long long)s->errors, "-", "-", "-", "-", "-");
			continue;
		}
		fprintf(f, "%-22s %-9s %10llu %8llu %9s %9s %9s %9s %9s\n", sc_name(s, nb),
			ks_cat_name(s->cat), (unsigned long long)s->calls,
			(unsigned long long)s->errors, replay_fmt_dur(d[0], h->sum),
			replay_fmt_dur(d[1], h->sum / h->count),
			replay_fmt_dur(d[2], ks_hist_percentile(h, 50)),
			replay_fmt_dur(d[3], ks_hist_percentile(h, 99)), replay_fmt_dur(d[4], h->max));
	}
	fputs("(p50/p99 from a log-linear histogram: within 0.4% of the exact value; "
	      "exit/exit_group have no latency)\n", f);
}

static void category_table(FILE *f, const struct report *r)
{
	const struct analysis *a = &r->a;
	char d[REPLAY_DUR_BUF];

	fprintf(f, "\nCATEGORIES\n%-10s %10s %7s %8s %9s %7s\n", "category", "count", "%",
		"errors", "total", "%time");
	for (unsigned c = 0; c < KS_CAT_COUNT; c++) {
		const struct cat_stat *s = &a->cat[c];

		if (!s->calls)
			continue;
		fprintf(f, "%-10s %10llu %6.1f%% %8llu %9s %6.1f%%\n", ks_cat_name(c),
			(unsigned long long)s->calls, pct(s->calls, a->calls),
			(unsigned long long)s->errors, replay_fmt_dur(d, s->ns), pct(s->ns, a->ns));
	}
}

static int by_count(const void *x, const void *y)
{
	const struct sc_stat *a = *(struct sc_stat *const *)x, *b = *(struct sc_stat *const *)y;

	if (a->calls != b->calls)
		return a->calls > b->calls ? -1 : 1;
	return a->nr < b->nr ? -1 : a->nr > b->nr;
}

static void top_table(FILE *f, const struct report *r)
{
	const struct analysis *a = &r->a;
	struct sc_stat *v[ANALYZE_NR_DIRECT + ANALYZE_NR_FAR + 1];
	char nb[KS_SYSCALL_NAME_MAX];

	if (!a->nsorted)
		return;
	memcpy(v, a->sorted, a->nsorted * sizeof(*v));
	qsort(v, a->nsorted, sizeof(*v), by_count);
	fputs("\nTOP SYSCALLS (by count)\n", f);
	for (size_t i = 0; i < a->nsorted && i < TOP_SHOWN; i++)
		fprintf(f, "  %-22s %10llu %6.1f%%\n", sc_name(v[i], nb),
			(unsigned long long)v[i]->calls, pct(v[i]->calls, a->calls));
}

static void behaviour(FILE *f, const struct report *r)
{
	const struct behavior *b = &r->beh;

	fprintf(f, "\nBEHAVIOUR  %s\n", behavior_class_name(b->cls));
	fprintf(f, "  %.2f syscalls/s; intensity: io %.2f  network %.2f  memory %.2f  cpu %.2f\n",
		b->syscall_rate_per_sec, b->io_intensity, b->network_intensity,
		b->memory_intensity, b->cpu_intensity);
}

static int by_latency(const void *x, const void *y)
{
	const struct slow_call *a = *(struct slow_call *const *)x, *b = *(struct slow_call *const *)y;

	if (a->dur != b->dur)
		return a->dur > b->dur ? -1 : 1;
	return a->ts < b->ts ? -1 : a->ts > b->ts;
}

static void slow_table(FILE *f, const struct report *r)
{
	const struct analysis *a = &r->a;
	const struct slow_call **v;
	char tb[REPLAY_TIME_BUF], d1[REPLAY_DUR_BUF], d2[REPLAY_DUR_BUF], nb[KS_SYSCALL_NAME_MAX];
	size_t shown = a->nslow < SLOW_SHOWN ? a->nslow : SLOW_SHOWN;
	bool known;

	fprintf(f, "\nSLOW SYSCALLS (>= %s): %llu", replay_fmt_dur(d1, a->o.slow_ns),
		(unsigned long long)a->slow_total);
	if (a->slow_total > shown)
		fprintf(f, ", the %zu slowest shown (--json lists %zu)", shown, a->nslow);
	fputc('\n', f);
	if (!shown)
		return;
	v = malloc(a->nslow * sizeof(*v));
	if (!v) {
		fputs("  (out of memory sorting the list)\n", f);
		return;
	}
	for (size_t i = 0; i < a->nslow; i++)
		v[i] = &a->slow[i];
	qsort(v, a->nslow, sizeof(*v), by_latency);
	fprintf(f, "%-19s %10s %8s %8s %-16s %-18s %9s %s\n", "time (UTC)", "offset", "pid",
		"tid", "comm", "syscall", "latency", "ret");
	for (size_t i = 0; i < shown; i++) {
		const struct slow_call *c = v[i];
		int64_t epoch = report_epoch_ns(&r->t->meta, c->ts, &known);

		fprintf(f, "%-19s %10s %8u %8u %-16s %-18s %9s %lld\n",
			known ? replay_fmt_utc(tb, epoch) : "?",
			replay_fmt_dur(d1, c->ts > r->start_ns ? c->ts - r->start_ns : 0), c->pid,
			c->tid, replay_procs_comm_at(&a->procs, c->pid, c->ts),
			ks_syscall_name(c->nr, nb), replay_fmt_dur(d2, c->dur), (long long)c->ret);
	}
	free(v);
}

static void print_argv(FILE *f, const struct replay_proc *p)
{
	for (uint32_t i = 0; i < p->argv_len; i++) {
		unsigned char ch = (unsigned char)p->argv[i];

		if (!ch) {
			if (i + 1 < p->argv_len)
				fputc(' ', f);
		} else {
			fputc(ch >= 0x20 && ch < 0x7f ? ch : '?', f);
		}
	}
}

static void proc_table(FILE *f, const struct report *r)
{
	const struct replay_procs *ps = &r->a.procs;
	char d1[REPLAY_DUR_BUF], d2[REPLAY_DUR_BUF];
	size_t shown = 0, nextra;
	uint32_t *extra = report_unrecorded_pids(r, &nextra);

	if (!ps->n && !nextra)
		return;
	fprintf(f, "\nPROCESSES\n%8s %8s %-16s %5s %10s %10s  %s\n", "pid", "ppid", "comm", "exit",
		"start", "lifetime", "argv");
	for (size_t i = 0; i < ps->n; i++) {
		const struct replay_proc *p = &ps->v[i];

		if (r->a.o.has_pid && p->pid != r->a.o.pid)
			continue;
		if (shown++ == PROCS_SHOWN) {
			fprintf(f, "  ... more (--json lists all)\n");
			break;
		}
		fprintf(f, "%8u %8u %-16s ", p->pid, p->ppid, p->comm[0] ? p->comm : "?");
		if (p->exited)
			fprintf(f, "%5d ", replay_exit_code(p->wstatus));
		else
			fprintf(f, "%5s ", "-");
		fprintf(f, "%10s %10s  ",
			replay_fmt_dur(d1, p->start_ts > r->start_ns ? p->start_ts - r->start_ns : 0),
			p->exited && p->exit_ts >= p->start_ts ?
				replay_fmt_dur(d2, p->exit_ts - p->start_ts) : "-");
		print_argv(f, p);
		fputc('\n', f);
	}
	for (size_t i = 0; i < nextra && shown++ < PROCS_SHOWN; i++)
		fprintf(f, "%8u %8s %-16s %5s %10s %10s  (no process events in the trace)\n",
			extra[i], "?", "?", "-", "-", "-");
	free(extra);
}

static void histograms(FILE *f, const struct report *r)
{
	const struct analysis *a = &r->a;
	char nb[KS_SYSCALL_NAME_MAX];

	if (!a->calls)
		return;
	fputs("\nLATENCY per category (log2 histograms)\n", f);
	for (unsigned c = 0; c < KS_CAT_COUNT; c++) {
		if (!a->cat[c].calls)
			continue;
		fprintf(f, "\n%s (%llu calls)\n", ks_cat_name(c), (unsigned long long)a->cat[c].calls);
		ks_log2_print(f, a->cat[c].log2us, KS_LOG2_SLOTS, "usecs");
	}
	if (!r->hist_per_syscall)
		return;
	fputs("\nLATENCY per syscall (log2 histograms)\n", f);
	for (size_t i = 0; i < a->nsorted; i++) {
		const struct sc_stat *s = a->sorted[i];

		fprintf(f, "\n%s (%llu calls)\n", sc_name(s, nb), (unsigned long long)s->calls);
		ks_log2_print(f, s->log2us, KS_LOG2_SLOTS, "usecs");
	}
}

void report_text(FILE *f, const struct report *r)
{
	header(f, r);
	syscall_table(f, r);
	category_table(f, r);
	top_table(f, r);
	behaviour(f, r);
	slow_table(f, r);
	proc_table(f, r);
	histograms(f, r);
	/* A long report must not bury its losses: repeat them last. */
	if (!r->complete) {
		fputc('\n', f);
		warnings(f, r);
	}
}
