/* The HTML report: the figures of `ksight report` (the same struct report the
 * text and JSON writers format) on one page, with SVG charts from replay/svg.c.
 * Everything the page shows is inline; its CSP forbids every fetch. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "replay/flame.h"
#include "replay/report_html.h"
#include "replay/svg.h"
#include "replay/timeline.h"
#include "util/grow.h"
#include "util/units.h"

#define BINS_MAX 600   /* timeline columns; longer traces get wider bins */
#define TOP_N 25       /* syscalls, files and sockets listed */
#define TREE_DEPTH 48  /* deeper process trees are listed flat */

struct series {
	uint64_t t0, width; /* CLOCK_MONOTONIC start and bin width, ns */
	size_t n;
	double *calls, *cpu, *switches, *fbytes, *sbytes, *nbytes;
};

struct html {
	FILE *f;
	const struct report *r;
	struct series s;
	struct timeline tl;
	bool have_tl;
	uint32_t *parent; /* per process record: its parent's record, or REPLAY_NONE */
	struct { uint64_t ts, io; uint32_t pid; } *smp;
	size_t nsmp, capsmp;
};

static const char css[] =
	"body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;"
	"padding:16px 24px;color:#1d2330;background:#fbfbfd}"
	"h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:28px 0 8px;"
	"border-bottom:2px solid #dde3ee;padding-bottom:4px}"
	".meta{color:#556;font-size:13px}.meta code{background:#eef1f6;padding:1px 4px}"
	".cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}"
	".card{background:#fff;border:1px solid #dde3ee;border-radius:6px;padding:8px 14px;"
	"min-width:120px}.card b{display:block;font-size:20px}.card span{color:#667;font-size:12px}"
	".bad{color:#b42318}.ok{color:#1a7f37}"
	"table{border-collapse:collapse;width:100%;background:#fff;font-size:13px;margin:6px 0}"
	"th,td{border-bottom:1px solid #e6e9f0;padding:3px 8px;text-align:right}"
	"th{background:#eef1f6;cursor:pointer;user-select:none}"
	"td.l,th.l{text-align:left;word-break:break-all}"
	".grid2{display:grid;grid-template-columns:1fr 1fr;gap:12px}"
	"figure.chart{margin:8px 0;background:#fff;border:1px solid #dde3ee;border-radius:6px;"
	"padding:6px}figcaption{font-weight:600;font-size:13px;margin:0 0 4px 4px}"
	"svg.ks-chart,svg.ks-flame{max-width:100%;height:auto;display:block}"
	".scroll{max-height:440px;overflow:auto;border:1px solid #dde3ee}"
	".bar{fill:#4c78a8}.col{fill:#59a14f}.lbl,.val,.axis{font-size:12px;fill:#333}"
	".axis{fill:#667}.grid{stroke:#e3e6ee;stroke-width:1}"
	"ul.tree{list-style:none;padding-left:18px;margin:0;border-left:1px dotted #bbc}"
	"ul.tree li{margin:2px 0}.pid{color:#667}.argv{color:#334;font-family:monospace;"
	"font-size:12px}.note{color:#667;font-style:italic}";

/* Sorts a table by the clicked column; reports script errors into the page. */
static const char script[] =
	"window.onerror=function(m){var d=document.getElementById('ks-errors');"
	"d.textContent+='script error: '+m+'\\n';d.hidden=false;};"
	"document.querySelectorAll('table.sort th').forEach(function(th,i){"
	"th.addEventListener('click',function(){var tb=th.closest('table').tBodies[0];"
	"var rows=Array.from(tb.rows),dir=th.dataset.dir==='d'?1:-1;th.dataset.dir=dir>0?'a':'d';"
	"rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,"
	"y=b.cells[i].dataset.v||b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);"
	"if(!isNaN(nx)&&!isNaN(ny))return dir*(nx-ny);return dir*x.localeCompare(y);});"
	"rows.forEach(function(r){tb.appendChild(r);});});});"
	"document.body.dataset.ready='1';";

static void esc(struct html *h, const char *s)
{
	svg_esc(h->f, s, strlen(s));
}

static void escn(struct html *h, const char *s, size_t n)
{
	svg_esc(h->f, s, n);
}

/* argv (NUL-separated) as one line, escaped. */
static void put_argv(struct html *h, const char *argv, uint32_t len)
{
	size_t l = len < KS_ARGV_MAX ? len : KS_ARGV_MAX;

	while (l && !argv[l - 1])
		l--;
	for (size_t i = 0; i < l; i++) {
		if (!argv[i])
			fputc(' ', h->f);
		else
			escn(h, argv + i, 1);
	}
}

static void card(struct html *h, const char *id, const char *value, const char *label,
		 const char *cls)
{
	fprintf(h->f, "<div class=\"card\"><b id=\"%s\" class=\"%s\">", id, cls);
	esc(h, value);
	fputs("</b><span>", h->f);
	esc(h, label);
	fputs("</span></div>", h->f);
}

static bool sel_pid(const struct report *r, uint32_t pid)
{
	return replay_pid_wanted(r->a.o.has_pid, r->a.o.pid, r->a.o.pids, pid);
}

static bool sel_ts(const struct report *r, uint64_t ts)
{
	return ts >= r->a.lo && ts - r->a.lo <= r->a.range;
}

static size_t bin_of(const struct series *s, uint64_t ts)
{
	size_t b = ts <= s->t0 ? 0 : (size_t)((ts - s->t0) / s->width);

	return b < s->n ? b : s->n - 1;
}

static int count_syscalls(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			  const void *rows)
{
	struct html *h = ctx;
	const struct ks_syscall *v = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++)
		if (sel_pid(h->r, v[i].pid) && sel_ts(h->r, v[i].ts))
			h->s.calls[bin_of(&h->s, v[i].ts)]++;
	return 0;
}

/* Storage bytes between consecutive /proc samples of a process. */
static int count_samples(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			 const void *rows)
{
	struct html *h = ctx;
	const struct ks_sample *v = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++) {
		uint64_t io = v[i].read_bytes + v[i].write_bytes;
		size_t k;

		if (!sel_pid(h->r, v[i].pid) || !sel_ts(h->r, v[i].ts))
			continue;
		for (k = 0; k < h->nsmp && h->smp[k].pid != v[i].pid; k++)
			;
		if (k == h->nsmp) {
			if (h->nsmp >= 4096 || KS_GROW(&h->smp, &h->capsmp, h->nsmp + 1))
				continue; /* a chart, not an account: the first 4096 processes */
			h->smp[h->nsmp++].pid = v[i].pid;
		} else if (io > h->smp[k].io) {
			h->s.sbytes[bin_of(&h->s, v[i].ts)] += (double)(io - h->smp[k].io);
		}
		h->smp[k].ts = v[i].ts;
		h->smp[k].io = io;
	}
	return 0;
}

static uint64_t sec_start(const struct sched_analysis *s, uint64_t sec)
{
	return sec ? sched_sec_last_ns(s, sec - 1) + 1 : 0;
}

/* The per-bin series, before anything is written. */
static int build_series(struct html *h)
{
	const struct report *r = h->r;
	struct series *s = &h->s;
	uint64_t dur = r->win_end > r->win_start ? r->win_end - r->win_start : 0;
	double *all;
	int err;

	s->t0 = r->win_start;
	s->width = 1000000000ull;
	while (dur / s->width >= BINS_MAX)
		s->width *= 2;
	s->n = (size_t)(dur / s->width) + 1;
	all = calloc(6 * s->n, sizeof(double));
	if (!all)
		return -ENOMEM;
	s->calls = all;
	s->cpu = all + s->n;
	s->switches = all + 2 * s->n;
	s->fbytes = all + 3 * s->n;
	s->sbytes = all + 4 * s->n;
	s->nbytes = all + 5 * s->n;
	err = replay_each_segment(r->t, KS_KIND_SYSCALL, count_syscalls, h);
	err = err ?: replay_each_segment(r->t, KS_KIND_SAMPLE, count_samples, h);
	if (err)
		return err;
	for (size_t i = 0; i < r->a.sched.nbuckets; i++) {
		const struct sched_bucket *b = &r->a.sched.buckets[i];
		size_t k = bin_of(s, sec_start(&r->a.sched, b->sec));

		if (!sel_pid(r, b->pid))
			continue;
		s->cpu[k] += (double)b->cpu_ns / (double)s->width * 100;
		s->switches[k] += (double)b->switches;
	}
	for (size_t i = 0; i < r->files.nbk; i++) {
		const struct file_bucket *b = &r->files.bk[i];

		if (sel_pid(r, b->pid))
			s->fbytes[bin_of(s, sec_start(&r->a.sched, b->sec))] +=
				(double)(b->read_bytes + b->write_bytes);
	}
	for (size_t i = 0; i < r->a.iob.n; i++) {
		const struct io_bucket *b = &r->a.iob.v[i];

		if (sel_pid(r, b->pid) && (b->net_tx || b->net_rx))
			s->nbytes[bin_of(s, sec_start(&r->a.sched, b->sec))] +=
				(double)(b->net_tx + b->net_rx);
	}
	return 0;
}

static const char *bin_label(void *ctx, size_t i)
{
	static char b[32];
	const struct series *s = ctx;

	snprintf(b, sizeof(b), "%gs", (double)(i * s->width) / 1e9);
	return b;
}

static const char *slot_label(void *ctx, size_t i)
{
	static char b[32];
	size_t *lo = ctx;

	svg_fmt(b, ldexp(1, (int)(i + *lo)) * 1000, "ns");
	return b;
}

static void summary(struct html *h)
{
	const struct report *r = h->r;
	const struct replay_meta *m = &r->t->meta;
	char b[64], tb[KS_TIME_BUF], d[KS_DUR_BUF], *cmd = report_command_line(m);
	bool known;
	int64_t epoch = report_epoch_ns(m, r->start_ns, &known);

	fputs("<h1>ksight report</h1><p class=\"meta\">", h->f);
	if (cmd) {
		fputs("<code>", h->f);
		esc(h, cmd);
		fputs("</code><br>", h->f);
		free(cmd);
	}
	fputs("host ", h->f);
	esc(h, m->hostname ? m->hostname : "?");
	fputs(", kernel ", h->f);
	esc(h, m->kernel_release ? m->kernel_release : "?");
	if (known) {
		fputs(", started ", h->f);
		esc(h, ks_fmt_utc(tb, epoch));
	}
	fputs(", ksight ", h->f);
	esc(h, m->ksight_version ? m->ksight_version : "?");
	fputs(", trace <code>", h->f);
	esc(h, r->t->path);
	fputs("</code></p><div class=\"cards\">", h->f);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)r->a.calls);
	card(h, "syscall-total", b, "syscalls", "");
	snprintf(b, sizeof(b), "%llu", (unsigned long long)r->a.errors);
	card(h, "syscall-errors", b, "errors", "");
	card(h, "wall", ks_fmt_dur(d, r->wall_ns), "wall time", "");
	snprintf(b, sizeof(b), "%.0f", r->beh.syscall_rate_per_sec);
	card(h, "rate", b, "syscalls/s", "");
	card(h, "class", behavior_class_name(r->beh.cls), "behaviour", "");
	snprintf(b, sizeof(b), "%zu", r->a.procs.n);
	card(h, "processes", b, "processes", "");
	if (r->lost_known)
		snprintf(b, sizeof(b), "%llu", (unsigned long long)r->lost);
	else
		snprintf(b, sizeof(b), "unknown");
	card(h, "lost", b, r->complete ? "lost events (complete)" : "lost events (incomplete)",
	     r->complete ? "ok" : "bad");
	fputs("</div>\n", h->f);
}

static void categories(struct html *h)
{
	const struct analysis *a = &h->r->a;
	const char *labels[KS_CAT_COUNT];
	double calls[KS_CAT_COUNT], ns[KS_CAT_COUNT];
	char d[KS_DUR_BUF];

	for (unsigned c = 0; c < KS_CAT_COUNT; c++) {
		labels[c] = ks_cat_name(c);
		calls[c] = (double)a->cat[c].calls;
		ns[c] = (double)a->cat[c].ns;
	}
	fputs("<h2>Categories</h2><div class=\"grid2\">", h->f);
	svg_hbars(h->f, "Syscalls per category", labels, calls, KS_CAT_COUNT, "");
	svg_hbars(h->f, "Time in syscalls per category", labels, ns, KS_CAT_COUNT, "ns");
	fputs("</div><table class=\"sort\" id=\"categories\"><thead><tr><th class=\"l\">category"
	      "</th><th>calls</th><th>errors</th><th>time</th></tr></thead><tbody>", h->f);
	for (unsigned c = 0; c < KS_CAT_COUNT; c++)
		fprintf(h->f, "<tr><td class=\"l\">%s</td><td>%llu</td><td>%llu</td>"
			"<td data-v=\"%llu\">%s</td></tr>", ks_cat_name(c),
			(unsigned long long)a->cat[c].calls, (unsigned long long)a->cat[c].errors,
			(unsigned long long)a->cat[c].ns, ks_fmt_dur(d, a->cat[c].ns));
	fputs("</tbody></table>\n", h->f);
}

static const char *sc_name(const struct sc_stat *s, char nb[KS_SYSCALL_NAME_MAX])
{
	return s->nr == ANALYZE_NR_MERGED ? "syscall_other" : ks_syscall_name(s->nr, nb);
}

static void top_syscalls(struct html *h)
{
	const struct analysis *a = &h->r->a;
	size_t n = a->nsorted < TOP_N ? a->nsorted : TOP_N;
	char nbs[TOP_N][KS_SYSCALL_NAME_MAX], d[5][KS_DUR_BUF];
	const char *labels[TOP_N];
	double v[TOP_N];

	fputs("<h2>Top syscalls</h2>", h->f);
	for (size_t i = 0; i < n; i++) {
		labels[i] = sc_name(a->sorted[i], nbs[i]);
		v[i] = (double)a->sorted[i]->hist.sum;
	}
	if (n)
		svg_hbars(h->f, "Time per syscall (the most first)", labels, v, n, "ns");
	fputs("<div class=\"scroll\"><table class=\"sort\" id=\"syscalls\"><thead><tr><th class=\"l\">syscall</th>"
	      "<th>nr</th><th class=\"l\">category</th><th>calls</th><th>errors</th>"
	      "<th>total</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr></thead><tbody>",
	      h->f);
	for (size_t i = 0; i < a->nsorted; i++) {
		const struct sc_stat *s = a->sorted[i];
		uint64_t p[4] = { ks_hist_percentile(&s->hist, 50), ks_hist_percentile(&s->hist, 90),
				  ks_hist_percentile(&s->hist, 99), s->hist.max };

		fprintf(h->f, "<tr><td class=\"l\">%s</td><td>%u</td><td class=\"l\">%s</td>"
			"<td>%llu</td><td>%llu</td>", sc_name(s, nbs[0]), s->nr, ks_cat_name(s->cat),
			(unsigned long long)s->calls, (unsigned long long)s->errors);
		fprintf(h->f, "<td data-v=\"%llu\">%s</td>", (unsigned long long)s->hist.sum,
			ks_fmt_dur(d[4], s->hist.sum));
		for (int k = 0; k < 4; k++)
			fprintf(h->f, "<td data-v=\"%llu\">%s</td>", (unsigned long long)p[k],
				ks_fmt_dur(d[k], p[k]));
		fputs("</tr>", h->f);
	}
	fputs("</tbody></table></div>\n", h->f);
}

static void histograms(struct html *h)
{
	const struct analysis *a = &h->r->a;
	char title[96];

	fputs("<h2>Latency histograms</h2><div class=\"grid2\">", h->f);
	for (unsigned c = 0; c < KS_CAT_COUNT; c++) {
		const uint64_t *sl = a->cat[c].log2us;
		size_t lo = KS_LOG2_SLOTS, hi = 0;
		double v[KS_LOG2_SLOTS];

		for (size_t i = 0; i < KS_LOG2_SLOTS; i++) {
			if (sl[i] && i < lo)
				lo = i;
			if (sl[i])
				hi = i;
		}
		if (lo == KS_LOG2_SLOTS)
			continue;
		for (size_t i = lo; i <= hi; i++)
			v[i - lo] = (double)sl[i];
		snprintf(title, sizeof(title), "%s: calls by latency (log2 buckets, from)",
			 ks_cat_name(c));
		svg_columns(h->f, title, 540, v, hi - lo + 1, "", slot_label, &lo);
	}
	fputs("</div>\n", h->f);
}

static void timeline(struct html *h)
{
	const struct series *s = &h->s;
	char title[96], d[KS_DUR_BUF];

	fprintf(h->f, "<h2>Timeline</h2><p class=\"note\">one column per %s</p>",
		ks_fmt_dur(d, s->width));
	snprintf(title, sizeof(title), "Syscalls per %s", d);
	svg_columns(h->f, title, 1040, s->calls, s->n, "", bin_label, (void *)s);
	if (sched_available(&h->r->a.sched)) {
		svg_columns(h->f, "CPU (% of one CPU)", 1040, s->cpu, s->n, "%", bin_label, (void *)s);
		svg_columns(h->f, "Context switches", 1040, s->switches, s->n, "", bin_label, (void *)s);
	} else {
		fputs("<p class=\"note\">No scheduler events in this trace (recorded with "
		      "--no-sched): no CPU or switch timeline.</p>", h->f);
	}
	if (h->r->files.have_args)
		svg_columns(h->f, "File bytes read and written", 1040, s->fbytes, s->n, "B", bin_label,
			    (void *)s);
	if (h->r->a.sched.samples)
		svg_columns(h->f, "Storage bytes (/proc/PID/io)", 1040, s->sbytes, s->n, "B", bin_label,
			    (void *)s);
	if (h->r->a.segments[KS_KIND_NET])
		svg_columns(h->f, "Network bytes sent and received", 1040, s->nbytes, s->n, "B",
			    bin_label, (void *)s);
	fputs("\n", h->f);
}

/* On- and off-CPU flame graphs of the profile, when the trace has one. */
static int flames(struct html *h)
{
	static const struct { bool off; const char *id, *title, *unit; double scale; } g[] = {
		{ false, "flame-oncpu", "On-CPU: samples by stack", "samples", 1.0 },
		{ true, "flame-offcpu", "Off-CPU: time blocked or waiting, by stack", "us", 1000.0 },
	};
	struct prof_result *p = h->r->prof;
	int err = 0;

	if (!p || !p->any)
		return 0;
	fputs("<h2>CPU profile</h2><p class=\"note\">Flame graphs: a frame's width is its "
	      "share; hover a frame for its count. <code>ksight flame</code> writes the "
	      "interactive ones (zoom, search).</p>", h->f);
	for (size_t i = 0; i < 2 && !err; i++) {
		struct flame_opts fo = { .title = g[i].title, .unit = g[i].unit,
					 .unit_scale = g[i].scale, .inline_id = g[i].id };
		struct prof_line *lines;
		size_t n;

		err = prof_folded(p, g[i].off, &lines, &n);
		if (err)
			break;
		if (n) {
			fputs("<figure class=\"chart flame\">", h->f);
			err = flame_write(h->f, lines, n, &fo);
			fputs("</figure>\n", h->f);
		} else {
			fprintf(h->f, "<p class=\"note\">No %s stacks in the selection.</p>",
				g[i].off ? "off-CPU" : "on-CPU");
		}
		prof_lines_free(lines, n);
	}
	return err;
}

static void tree_node(struct html *h, uint32_t i, const uint32_t *first, const uint32_t *next,
		      int depth)
{
	const struct replay_proc *p = &h->r->a.procs.v[i];
	const struct sched_proc *sp = sched_find_record(&h->r->a.sched, i);
	char d[KS_DUR_BUF];

	fputs("<li><b>", h->f);
	esc(h, p->comm);
	fprintf(h->f, "</b> <span class=\"pid\">[%u]</span> <span class=\"argv\">", p->pid);
	put_argv(h, p->argv, p->argv_len);
	fputs("</span>", h->f);
	if (p->exited) {
		fprintf(h->f, " &rarr; exit %d", replay_exit_code(p->wstatus));
		if (WIFSIGNALED(p->wstatus))
			fprintf(h->f, " (signal %d)", WTERMSIG(p->wstatus));
	}
	if (sp)
		fprintf(h->f, " <span class=\"pid\">cpu %s</span>", ks_fmt_dur(d, sp->c.on_ns));
	if (first[i] != REPLAY_NONE && depth < TREE_DEPTH) {
		fputs("<ul class=\"tree\">", h->f);
		for (uint32_t c = first[i]; c != REPLAY_NONE; c = next[c])
			tree_node(h, c, first, next, depth + 1);
		fputs("</ul>", h->f);
	}
	fputs("</li>", h->f);
}

static int process_tree(struct html *h)
{
	const struct replay_procs *ps = &h->r->a.procs;
	uint32_t *first = malloc((ps->n + 1) * sizeof(*first) * 2), *next, *last;

	fprintf(h->f, "<h2>Processes (%zu)</h2>", ps->n);
	if (!first)
		return -ENOMEM;
	next = first + ps->n + 1;
	last = calloc(ps->n + 1, sizeof(*last));
	if (!last) {
		free(first);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ps->n; i++)
		first[i] = next[i] = REPLAY_NONE;
	/* A child hangs under the record its parent had when it started; records
	 * come in order of appearance, so a parent is always listed first. */
	for (size_t i = 0; i < ps->n; i++) {
		const struct replay_proc *pp = replay_procs_at(ps, ps->v[i].ppid, ps->v[i].start_ts);
		size_t pi = pp ? (size_t)(pp - ps->v) : i;

		if (pi >= i)
			continue;
		if (first[pi] == REPLAY_NONE)
			first[pi] = (uint32_t)i;
		else
			next[last[pi]] = (uint32_t)i;
		last[pi] = (uint32_t)i;
		h->parent[i] = (uint32_t)pi;
	}
	fputs("<div class=\"scroll\"><ul class=\"tree\" id=\"proctree\">", h->f);
	for (size_t i = 0; i < ps->n; i++)
		if (h->parent[i] == REPLAY_NONE)
			tree_node(h, (uint32_t)i, first, next, 0);
	fputs("</ul></div>\n", h->f);
	free(first);
	free(last);
	return 0;
}

static void objects(struct html *h, bool sockets)
{
	const struct files_analysis *f = &h->r->files;
	char d[KS_DUR_BUF], b1[32], b2[32];
	size_t shown = 0, total = 0;

	fputs(sockets ? "<h2>Network</h2>" : "<h2>Files</h2>", h->f);
	if (!f->have_args) {
		fputs("<p class=\"note\">The trace has no syscall arguments (recorded with "
		      "--no-args).</p>\n", h->f);
		return;
	}
	fprintf(h->f, "<table class=\"sort\" id=\"%s\"><thead><tr><th class=\"l\">%s</th>"
		"<th>opens</th><th>reads</th><th>read</th><th>writes</th><th>written</th>"
		"<th>errors</th><th>time</th></tr></thead><tbody>",
		sockets ? "network" : "files", sockets ? "socket" : "path");
	for (size_t i = 0; i < (sockets ? f->nst : f->nsorted); i++) {
		const struct file_stat *s = sockets ? &f->st[i] : f->sorted[i];
		const struct fdt_object *o = files_object(f, s);

		if (sockets && (o->kind != FDT_SOCKET || (!s->reads && !s->writes && !s->opens)))
			continue;
		if (++total > TOP_N)
			continue;
		shown++;
		fputs("<tr><td class=\"l\">", h->f);
		escn(h, o->name, o->name_len);
		if (sockets && (o->local || o->remote)) {
			fputs(" <span class=\"pid\">", h->f);
			esc(h, o->local ? o->local : "?");
			fputs(" &rarr; ", h->f);
			esc(h, o->remote ? o->remote : "?");
			fputs("</span>", h->f);
		}
		fprintf(h->f, "</td><td>%llu</td><td>%llu</td><td data-v=\"%llu\">%s</td><td>%llu</td>"
			"<td data-v=\"%llu\">%s</td><td>%llu</td><td data-v=\"%llu\">%s</td></tr>",
			(unsigned long long)s->opens, (unsigned long long)s->reads,
			(unsigned long long)s->read_bytes, svg_fmt(b1, (double)s->read_bytes, "B"),
			(unsigned long long)s->writes, (unsigned long long)s->write_bytes,
			svg_fmt(b2, (double)s->write_bytes, "B"), (unsigned long long)s->errors,
			(unsigned long long)s->time_ns, ks_fmt_dur(d, s->time_ns));
	}
	fputs("</tbody></table>", h->f);
	if (total > shown)
		fprintf(h->f, "<p class=\"note\">%zu of %zu shown (those with the most syscall "
			"time); --json lists all.</p>", shown, total);
	if (!total)
		fprintf(h->f, "<p class=\"note\">No %s in this trace.</p>",
			sockets ? "sockets" : "files");
	fputs("\n", h->f);
}

static void state_dirs(struct html *h)
{
	const struct timeline *tl = &h->tl;
	char tb[KS_TIME_BUF], b[32];

	if (!h->have_tl || !tl->n)
		return;
	fprintf(h->f, "<h2>State directories (%zu files)</h2><table class=\"sort\" id=\"statedir\">"
		"<thead><tr><th class=\"l\">path</th><th>changes</th><th>first</th><th>last</th>"
		"<th>size after</th></tr></thead><tbody>", tl->n);
	for (size_t i = 0; i < tl->n; i++) {
		const struct timeline_file *tf = &tl->files[i];
		const struct timeline_row *a = tf->rows, *z = tf->rows + tf->n - 1;

		if (!tf->n)
			continue;
		fputs("<tr><td class=\"l\">", h->f);
		esc(h, tf->path ? tf->path : "?");
		fprintf(h->f, "</td><td>%zu</td><td>+%.3fs</td><td>+%.3fs</td><td>%s</td></tr>",
			tf->n, (double)(a->ts - h->r->start_ns) / 1e9,
			(double)(z->ts - h->r->start_ns) / 1e9,
			z->size < 0 ? "gone" : svg_fmt(b, (double)z->size, "B"));
	}
	(void)tb;
	fputs("</tbody></table>\n", h->f);
}

int report_html(FILE *f, const struct report *r)
{
	struct html h = { .f = f, .r = r };
	int err;

	h.parent = malloc((r->a.procs.n + 1) * sizeof(*h.parent));
	if (!h.parent)
		return -ENOMEM;
	for (size_t i = 0; i <= r->a.procs.n; i++)
		h.parent[i] = REPLAY_NONE;
	err = build_series(&h);
	if (!err && r->a.segments[KS_KIND_FILE]) {
		err = timeline_build(r->t, NULL, &h.tl);
		h.have_tl = !err;
	}
	if (err)
		goto out;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	      "<title>ksight report</title><style>", f);
	fputs(css, f);
	fputs("</style></head><body><pre id=\"ks-errors\" class=\"bad\" hidden></pre>\n", f);
	summary(&h);
	categories(&h);
	top_syscalls(&h);
	histograms(&h);
	timeline(&h);
	err = flames(&h);
	err = err ?: process_tree(&h);
	if (err)
		goto out;
	objects(&h, false);
	objects(&h, true);
	state_dirs(&h);
	fprintf(f, "<p class=\"meta\">Generated by ksight %s. Every figure is also in "
		"<code>ksight report --json</code>.</p><script>%s</script></body></html>\n",
		KSIGHT_VERSION, script);
out:
	if (err == -ENOMEM && !r->t->err[0])
		replay_fail(r->t, err, "out of memory while writing the HTML report");
	if (h.have_tl)
		timeline_free(&h.tl);
	free(h.s.calls);
	free(h.smp);
	free(h.parent);
	return err;
}
