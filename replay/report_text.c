/* The text report: a header with losses up front, then tables (syscalls,
 * categories, top syscalls, behaviour, slow syscalls, processes) and libbpf-tools
 * style log2 latency histograms. */
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"
#include "replay/report.h"
#include "replay/report_io.h"
#include "replay/sysfmt.h"
#include "util/escape.h"
#include "util/units.h"

#define SLOW_SHOWN 20
#define PROCS_SHOWN 100
#define TOP_SHOWN 10
#define BUCKETS_SHOWN 40


#define COMM_TEXT_BUF 72
/* A process name as the terminal may show it (escaped; names come from the traced
 * programs, which choose them). */
static const char *comm_text(char buf[COMM_TEXT_BUF], const char *comm)
{
	return ks_escape(buf, COMM_TEXT_BUF, comm, strlen(comm));
}
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
	const struct replay_whole *w = &r->t->whole;

	if (r->lost)
		fprintf(f, "!! INCOMPLETE: %llu events lost: counts and times below are lower "
			"bounds\n", (unsigned long long)r->lost);
	for (size_t i = 0; i < w->nreasons && i < REPLAY_REASONS; i++)
		fprintf(f, "!! INCOMPLETE: %s\n", w->reason[i]);
	if (w->nreasons > REPLAY_REASONS)
		fprintf(f, "!! and %zu more\n", w->nreasons - REPLAY_REASONS);
	if (r->t->skipped_segments && w->complete)
		fprintf(f, "!! %llu segments of event kinds this ksight does not know were skipped\n",
			(unsigned long long)r->t->skipped_segments);
}

static void header(FILE *f, const struct report *r)
{
	const struct replay_meta *m = &r->t->meta;
	const struct analyze_opts *o = &r->a.o;
	char tb[KS_TIME_BUF], d1[KS_DUR_BUF], d2[KS_DUR_BUF], d3[KS_DUR_BUF];
	char *cmd = report_command_line(m);
	bool known;
	int64_t epoch = report_epoch_ns(m, r->start_ns, &known);

	fputs("trace        ", f);
	ks_fput_escaped(f, r->t->path, strlen(r->t->path));
	fputs("\ncommand      ", f);
	ks_fput_escaped(f, cmd ? cmd : "?", cmd ? strlen(cmd) : 1);
	fputc('\n', f);
	free(cmd);
	fprintf(f, "host         %s, kernel %s, recorded by ksight %s\n",
		m->hostname ? m->hostname : "?", m->kernel_release ? m->kernel_release : "?",
		m->ksight_version ? m->ksight_version : "?");
	if (known)
		fprintf(f, "started      %s UTC\n", ks_fmt_utc(tb, epoch));
	else
		fputs("started      ? (the trace has no clock offset)\n", f);
	fprintf(f, "duration     %s\n", ks_fmt_dur(d1, r->end_ns - r->start_ns));
	if (m->have & RM_EXIT)
		fprintf(f, "exit status  %lld\n", (long long)m->exit_code);
	else
		fputs("exit status  ?\n", f);
	fprintf(f, "events       %llu syscalls, %llu process events, %llu scheduler events, "
		"%llu samples\n",
		(unsigned long long)r->a.events_read[KS_KIND_SYSCALL],
		(unsigned long long)r->a.events_read[KS_KIND_PROC],
		(unsigned long long)r->a.events_read[KS_KIND_SCHED],
		(unsigned long long)r->a.events_read[KS_KIND_SAMPLE]);
	if (r->lost_known)
		fprintf(f, "lost events  %llu\n", (unsigned long long)r->lost);
	else
		fputs("lost events  ? (not recorded)\n", f);
	if (o->has_pid || o->from_ns || o->to_ns != UINT64_MAX) {
		fputs("selection   ", f);
		if (o->has_pid)
			fprintf(f, " pid %u;", o->pid);
		if (o->from_ns || o->to_ns != UINT64_MAX)
			fprintf(f, " time %s..%s;", ks_fmt_dur(d1, o->from_ns),
				o->to_ns == UINT64_MAX ? "end" : ks_fmt_dur(d2, o->to_ns));
		fprintf(f, " window %s, %llu syscalls selected\n", ks_fmt_dur(d3, r->wall_ns),
			(unsigned long long)r->a.calls);
	}
	warnings(f, r);
}

/* "wait" when the calls spent most of their time blocked (a wait, not work). */
static const char *sc_kind(const struct report *r, const struct sc_stat *s)
{
	return r->have_tm && 2 * tm_blocked_ns(&r->tm, s->nr) > s->hist.sum ? "wait" : "";
}

static void syscall_table(FILE *f, const struct report *r)
{
	const struct analysis *a = &r->a;
	char nb[KS_SYSCALL_NAME_MAX], d[5][KS_DUR_BUF];

	fprintf(f, "\nSYSCALLS  %llu calls, %llu errors, %s in syscalls summed over threads, "
		"waits included (sorted by total time)\n",
		(unsigned long long)a->calls, (unsigned long long)a->errors,
		ks_fmt_dur(d[0], a->ns));
	if (!a->nsorted) {
		fputs("  (none)\n", f);
		return;
	}
	fprintf(f, "%6s %-22s %-9s %-4s %10s %8s %9s %9s %9s %9s %9s\n", "%time", "syscall",
		"category", "", "count", "errors", "total", "avg", "p50", "p99", "max");
	for (size_t i = 0; i < a->nsorted; i++) {
		const struct sc_stat *s = a->sorted[i];
		const struct ks_hist *h = &s->hist;

		if (!h->count) { /* only calls that never returned: no latency */
			fprintf(f, "%6s %-22s %-9s %-4s %10llu %8llu %9s %9s %9s %9s %9s\n", "-",
				sc_name(s, nb), ks_cat_name(s->cat), "",
				(unsigned long long)s->calls, (unsigned long long)s->errors,
				"-", "-", "-", "-", "-");
			continue;
		}
		fprintf(f, "%6.2f %-22s %-9s %-4s %10llu %8llu %9s %9s %9s %9s %9s\n",
			pct(h->sum, a->ns), sc_name(s, nb), ks_cat_name(s->cat), sc_kind(r, s),
			(unsigned long long)s->calls, (unsigned long long)s->errors,
			ks_fmt_dur(d[0], h->sum), ks_fmt_dur(d[1], h->sum / h->count),
			ks_fmt_dur(d[2], ks_hist_percentile(h, 50)),
			ks_fmt_dur(d[3], ks_hist_percentile(h, 99)), ks_fmt_dur(d[4], h->max));
	}
	fputs("(%time: share of the time in syscalls; wait: blocked for most of it, waiting on "
	      "a device, a peer, a child, a lock or a timer rather than working; p50/p99 from a "
	      "log-linear histogram: within 0.4% of the exact value; exit/exit_group have no "
	      "latency)\n", f);
}

static void category_table(FILE *f, const struct report *r)
{
	const struct analysis *a = &r->a;
	char d[KS_DUR_BUF];

	fprintf(f, "\nCATEGORIES\n%-10s %10s %7s %8s %9s %7s\n", "category", "count", "%",
		"errors", "total", "%time");
	for (unsigned c = 0; c < KS_CAT_COUNT; c++) {
		const struct cat_stat *s = &a->cat[c];

		if (!s->calls)
			continue;
		fprintf(f, "%-10s %10llu %6.1f%% %8llu %9s %6.1f%%\n", ks_cat_name(c),
			(unsigned long long)s->calls, pct(s->calls, a->calls),
			(unsigned long long)s->errors, ks_fmt_dur(d, s->ns), pct(s->ns, a->ns));
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
	ks_qsort(v, a->nsorted, sizeof(*v), by_count);
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
	if (sched_available(&r->a.sched))
		fprintf(f, "  on-CPU %.0f%% of thread time, run-queue wait %.0f%%, %.0f page faults/s "
			"(~%.0f%% of on-CPU time), RSS growth %.0f KiB/s\n", 100 * b->on_cpu_ratio,
			100 * b->runq_wait_ratio, b->page_faults_per_sec, 100 * b->fault_cpu_share,
			b->rss_growth_kb_per_sec);
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
	char cb[COMM_TEXT_BUF];
	const struct analysis *a = &r->a;
	const struct slow_call **v;
	char tb[KS_TIME_BUF], d1[KS_DUR_BUF], d2[KS_DUR_BUF], nb[KS_SYSCALL_NAME_MAX];
	size_t shown = a->nslow < SLOW_SHOWN ? a->nslow : SLOW_SHOWN;
	bool known;

	fprintf(f, "\nSLOW SYSCALLS (>= %s): %llu", ks_fmt_dur(d1, a->o.slow_ns),
		(unsigned long long)a->slow_total);
	if (a->slow_total > shown)
		fprintf(f, ", the %zu slowest shown (--json lists %zu)", shown, a->nslow);
	fputc('\n', f);
	if (!shown)
		return;
	v = calloc(a->nslow, sizeof(*v));
	if (!v) {
		fputs("  (out of memory sorting the list)\n", f);
		return;
	}
	for (size_t i = 0; i < a->nslow; i++)
		v[i] = &a->slow[i];
	ks_qsort(v, a->nslow, sizeof(*v), by_latency);
	fprintf(f, "%-19s %10s %8s %8s %-16s %-18s %9s %s\n", "time (UTC)", "offset", "pid",
		"tid", "comm", "syscall", "latency", "ret");
	for (size_t i = 0; i < shown; i++) {
		const struct slow_call *c = v[i];
		int64_t epoch = report_epoch_ns(&r->t->meta, c->ts, &known);

		const char *en = sysfmt_errno_name(c->ret);

		fprintf(f, "%-19s %10s %8u %8u %-16s %-18s %9s ",
			known ? ks_fmt_utc(tb, epoch) : "?",
			ks_fmt_dur(d1, c->ts > r->start_ns ? c->ts - r->start_ns : 0), c->pid,
			c->tid, comm_text(cb, replay_procs_comm_at(&a->procs, c->pid, c->ts)),
			ks_syscall_name(c->nr, nb), ks_fmt_dur(d2, c->dur));
		if (en)
			fprintf(f, "-1 %s\n", en);
		else
			fprintf(f, "%lld\n", (long long)c->ret);
	}
	free(v);
}

/* argv as a command line; "..." where the recorded argv was cut. */
static void print_argv(FILE *f, const char *argv, uint32_t len, bool truncated)
{
	for (uint32_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)argv[i];

		if (!ch) {
			if (i + 1 < len)
				fputc(' ', f);
		} else {
			fputc(ch >= 0x20 && ch < 0x7f ? ch : '?', f);
		}
	}
	if (truncated)
		fputs("...", f);
}

/* Bytes from KiB, or from bytes, with a binary unit: "512B", "4.0KiB", "1.25GiB". */
static const char *fmt_bytes(char buf[KS_DUR_BUF], uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	unsigned u = 0;

	if (bytes < 1024) {
		snprintf(buf, KS_DUR_BUF, "%lluB", (unsigned long long)bytes);
		return buf;
	}
	for (v /= 1024; v >= 1024 && u < 4; u++)
		v /= 1024;
	snprintf(buf, KS_DUR_BUF, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v,
		 units[u]);
	return buf;
}

static uint64_t cum_delta(const struct sched_cum *c)
{
	return c->max > c->before ? c->max - c->before : 0;
}

/* One row of the process tree: the tree column, then the figures. */
static void proc_row(FILE *f, const struct report *r, const char *tree, const struct replay_proc *p,
		     const struct sched_proc *sp)
{
	static const struct sched_counts none;
	const struct sched_counts *c = sp ? &sp->c : &none;
	char d[8][KS_DUR_BUF], rq[2 * KS_DUR_BUF + 1], io[2 * KS_DUR_BUF + 1];
	bool sched = sched_available(&r->a.sched), sampled = sp && sp->samples;
	uint64_t cpu = sched ? c->on_ns : sampled ? sp->cpu_ns : 0;
	uint64_t end = p ? report_proc_end(r, p, sp) : 0;
	char exitb[12] = "-", sw[48];

	if (p && p->exited)
		snprintf(exitb, sizeof(exitb), "%d", replay_exit_code(p->wstatus));
	snprintf(sw, sizeof(sw), "%llu/%llu", (unsigned long long)c->vol,
		 (unsigned long long)c->invol);
	if (sp && sp->runq)
		snprintf(rq, sizeof(rq), "%s/%s", ks_fmt_dur(d[4], ks_chist_percentile(sp->runq, 50)),
			 ks_fmt_dur(d[5], ks_chist_percentile(sp->runq, 99)));
	else
		snprintf(rq, sizeof(rq), "-");
	if (sampled)
		snprintf(io, sizeof(io), "%s/%s", fmt_bytes(d[6], cum_delta(&sp->read_bytes)),
			 fmt_bytes(d[7], cum_delta(&sp->write_bytes)));
	else
		snprintf(io, sizeof(io), "-");
	fprintf(f, "%-18s %7s %5s %9s%s %9s %15s %8llu %9s %9s %17s %9s %17s %8llu  ", tree,
		p ? (snprintf(d[0], sizeof(d[0]), "%u", p->ppid), d[0]) : "?", exitb,
		p && end >= p->start_ts ? ks_fmt_dur(d[1], end - p->start_ts) : "-",
		p && !p->exited ? "+" : " ", ks_fmt_dur(d[2], cpu), sw,
		(unsigned long long)c->wakeups,
		c->slices ? ks_fmt_dur(d[3], c->on_ns / c->slices) : "-",
		sp ? ks_fmt_dur(d[5], sp->off_ns) : "-", rq,
		sampled ? fmt_bytes(d[4], sp->peak_rss_kb * 1024) : "-", io,
		(unsigned long long)(sched || !sampled ? c->faults : sp->minflt.max + sp->majflt.max));
	if (p)
		print_argv(f, p->argv, p->argv_len, p->argv_truncated);
	else
		fputs("(no process events in the trace)", f);
	fputc('\n', f);
}

/* The record index of p's parent: the record of its ppid when p started. */
static uint32_t parent_of(const struct replay_procs *ps, const struct replay_proc *p)
{
	const struct replay_proc *q = replay_procs_at(ps, p->ppid, p->start_ts);

	return q && q != p ? (uint32_t)(q - ps->v) : REPLAY_NONE;
}

static bool tree_selected(const struct report *r, const struct replay_proc *p)
{
	return replay_pid_wanted(r->a.o.has_pid, r->a.o.pid, r->a.o.pids, p->pid);
}

/* The process tree, depth first from the processes whose parent is not traced. */
static void proc_tree(FILE *f, const struct report *r)
{
	const struct replay_procs *ps = &r->a.procs;
	uint32_t *first = NULL, *next = NULL, *last = NULL, *stack = NULL, *depth = NULL;
	bool *done = NULL;
	size_t shown = 0, nextra, n = ps->n;
	uint32_t *extra = report_unrecorded_pids(r, &nextra);
	char tree[64];

	if (!n && !nextra)
		return;
	fputs("\nPROCESSES (tree; lifetime + = still running at the end; cpu, switches "
	      "vol/invol, wakeups, slice, off-cpu and run-queue latency p50/p99 from the "
	      "scheduler; rss and read/write bytes from /proc samples)\n", f);
	fprintf(f, "%-18s %7s %5s %10s %9s %15s %8s %9s %9s %17s %9s %17s %8s  %s\n", "pid", "ppid",
		"exit", "lifetime", "cpu", "vol/invol", "wakeups", "slice", "off-cpu",
		"runq p50/p99", "peak rss", "read/write", "faults", "argv");
	first = calloc(n + 1, sizeof(*first));
	next = calloc(n + 1, sizeof(*next));
	last = calloc(n + 1, sizeof(*last));
	stack = calloc(n + 1, sizeof(*stack));
	depth = calloc(n + 1, sizeof(*depth));
	done = calloc(n + 1, sizeof(*done));
	if (!first || !next || !last || !stack || !depth || !done) {
		fputs("  (out of memory building the tree)\n", f);
		goto out;
	}
	memset(first, 0xff, (n + 1) * sizeof(*first));
	memset(next, 0xff, (n + 1) * sizeof(*next));
	for (size_t i = 0; i < n; i++) {
		uint32_t par = parent_of(ps, &ps->v[i]);

		if (par == REPLAY_NONE)
			continue;
		if (first[par] == REPLAY_NONE)
			first[par] = (uint32_t)i;
		else
			next[last[par]] = (uint32_t)i;
		last[par] = (uint32_t)i;
	}
	/* Roots first (parent not traced), then whatever a pid-reuse cycle left out. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t root = 0; root < n; root++) {
			size_t sp = 0;

			if (done[root] || (pass == 0 && parent_of(ps, &ps->v[root]) != REPLAY_NONE))
				continue;
			stack[sp] = (uint32_t)root;
			depth[sp++] = 0;
			while (sp) {
				uint32_t i = stack[--sp], d = depth[sp], kids[64], nk = 0;
				const struct replay_proc *p = &ps->v[i];

				if (done[i])
					continue;
				done[i] = true;
				if (tree_selected(r, p) && shown++ < PROCS_SHOWN) {
					unsigned ind = d < 8 ? d : 8;

					snprintf(tree, sizeof(tree), "%*s%s%u", (int)(2 * ind), "",
						 d ? "`-" : "", p->pid);
					proc_row(f, r, tree, p, sched_find_record(&r->a.sched, i));
				}
				/* Push children in reverse so they print in order. */
				for (uint32_t k = first[i]; k != REPLAY_NONE; k = next[k]) {
					if (nk < 64) {
						kids[nk++] = k;
					} else if (sp < n) {
						stack[sp] = k;
						depth[sp++] = d + 1;
					}
				}
				while (nk && sp < n) {
					stack[sp] = kids[--nk];
					depth[sp++] = d + 1;
				}
			}
		}
	}
	for (size_t i = 0; i < nextra; i++)
		if (shown++ < PROCS_SHOWN) {
			snprintf(tree, sizeof(tree), "%u", extra[i]);
			proc_row(f, r, tree, NULL, sched_find_pid(&r->a.sched, extra[i]));
		}
	if (shown > PROCS_SHOWN)
		fprintf(f, "  ... %zu more (--json lists all)\n", shown - PROCS_SHOWN);
out:
	free(first);
	free(next);
	free(last);
	free(stack);
	free(depth);
	free(done);
	free(extra);
}

/* execsnoop's list: every successful exec in time order. */
static void exec_list(FILE *f, const struct report *r)
{
	char cb[COMM_TEXT_BUF];
	const struct replay_procs *ps = &r->a.procs;
	char tb[KS_TIME_BUF], d[KS_DUR_BUF];
	size_t shown = 0;
	bool known;

	if (!ps->nexecs)
		return;
	fprintf(f, "\nEXECS (execsnoop)\n%-19s %10s %-16s %8s %8s %5s  %s\n", "time (UTC)",
		"offset", "pcomm", "pid", "ppid", "exit", "args");
	for (size_t i = 0; i < ps->nexecs; i++) {
		const struct replay_exec *x = &ps->execs[i];
		const struct replay_proc *p = &ps->v[x->rec];
		int64_t epoch = report_epoch_ns(&r->t->meta, x->ts, &known);

		if (!tree_selected(r, p) || x->ts - r->a.lo > r->a.range)
			continue;
		if (shown++ == PROCS_SHOWN) {
			fputs("  ... more (--json lists all)\n", f);
			break;
		}
		fprintf(f, "%-19s %10s %-16s %8u %8u ", known ? ks_fmt_utc(tb, epoch) : "?",
			ks_fmt_dur(d, x->ts > r->start_ns ? x->ts - r->start_ns : 0),
			x->comm[0] ? comm_text(cb, x->comm) : "?", x->pid, x->ppid);
		if (p->exited)
			fprintf(f, "%5d  ", replay_exit_code(p->wstatus));
		else
			fprintf(f, "%5s  ", "-");
		print_argv(f, x->argv, x->argv_len, x->argv_truncated);
		fputc('\n', f);
	}
}

static void sched_section(FILE *f, const struct report *r)
{
	char cb[COMM_TEXT_BUF];
	const struct sched_analysis *s = &r->a.sched;
	const struct sched_counts *c = &s->total;
	char d[6][KS_DUR_BUF];
	size_t shown;

	if (!sched_available(s)) {
		fputs("\nSCHEDULER  no scheduler events in the trace (recorded with --no-sched?)\n", f);
		return;
	}
	fprintf(f, "\nSCHEDULER  %llu events: %llu context switches (%llu voluntary, %llu "
		"involuntary), %llu wakeups\n", (unsigned long long)s->events,
		(unsigned long long)c->switches, (unsigned long long)c->vol,
		(unsigned long long)c->invol, (unsigned long long)c->wakeups);
	fprintf(f, "  on-CPU %s, off-CPU %s, avg time slice %s, %llu page faults\n",
		ks_fmt_dur(d[0], c->on_ns), ks_fmt_dur(d[1], s->off_ns),
		ks_fmt_dur(d[2], c->slices ? c->on_ns / c->slices : 0),
		(unsigned long long)c->faults);
	if (s->lost_slices)
		fprintf(f, "  !! %llu time slices without their switch-out (events lost): "
			"on-CPU time is a lower bound\n", (unsigned long long)s->lost_slices);
	if (s->runq.count) {
		fprintf(f, "\nRUN-QUEUE LATENCY (runqlat: wake-up or preemption to switch-in), "
			"%llu waits: avg %s, p50 %s, p99 %s, max %s\n",
			(unsigned long long)s->runq.count,
			ks_fmt_dur(d[0], s->runq.sum / s->runq.count),
			ks_fmt_dur(d[1], ks_hist_percentile(&s->runq, 50)),
			ks_fmt_dur(d[2], ks_hist_percentile(&s->runq, 99)),
			ks_fmt_dur(d[3], s->runq.max));
		ks_log2_print(f, s->runq_log2us, KS_LOG2_SLOTS, "usecs");
	}
	if (!s->nbuckets)
		return;
	shown = s->nbuckets < BUCKETS_SHOWN ? s->nbuckets : BUCKETS_SHOWN;
	fprintf(f, "\nPER SECOND (KernelSight's buckets)%s\n", s->nbuckets > shown ?
		", the first rows (--json lists all)" : "");
	fprintf(f, "%-19s %8s %-16s %9s %9s %9s %9s %11s %11s %9s\n", "second (UTC)", "pid", "comm",
		"switches", "vol", "invol", "wakeups", "cpu", "avg slice", "faults");
	for (size_t i = 0; i < shown; i++) {
		const struct sched_bucket *k = &s->buckets[i];
		char tb[KS_TIME_BUF];

		fprintf(f, "%-19s %8u %-16s %9llu %9llu %9llu %9llu %11s %11s %9llu\n",
			s->epoch_off ? ks_fmt_utc(tb, (int64_t)k->sec * 1000000000ll) :
				       (snprintf(tb, sizeof(tb), "%llu", (unsigned long long)k->sec), tb),
			k->pid, comm_text(cb, replay_procs_comm_at(&r->a.procs, k->pid,
								   sched_sec_last_ns(s, k->sec))),
			(unsigned long long)k->switches, (unsigned long long)k->vol,
			(unsigned long long)k->invol, (unsigned long long)k->wakeups,
			ks_fmt_dur(d[0], k->cpu_ns),
			ks_fmt_dur(d[1], k->cpu_ns / (k->slices ? k->slices : 1)),
			(unsigned long long)k->faults);
	}
	if (s->bucket_misses)
		fprintf(f, "  (buckets capped at %d: %llu later updates left out)\n",
			SCHED_BUCKETS_MAX, (unsigned long long)s->bucket_misses);
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
	report_text_summary(f, r);
	syscall_table(f, r);
	category_table(f, r);
	top_table(f, r);
	behaviour(f, r);
	slow_table(f, r);
	report_text_files(f, r);
	proc_tree(f, r);
	exec_list(f, r);
	sched_section(f, r);
	report_io_text(f, r);
	report_text_profile(f, r);
	histograms(f, r);
	/* A long report must not bury its losses: repeat them last. */
	if (!r->complete) {
		fputc('\n', f);
		warnings(f, r);
	}
}
