/* `ksight report`: replay a trace into syscall, latency and behaviour statistics.
 * The whole report is computed (every segment decoded and verified) before the
 * first byte is printed, so a damaged trace never yields a partial report. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/args.h"
#include "replay/cgfilter.h"
#include "replay/report.h"
#include "replay/report_html.h"
#include "util/units.h"

static const char usage_text[] =
	"usage: ksight report FILE [--json | --html [-o OUT]] [--slow DUR] [--pid PID]\n"
	"                          [--cgroup PATH] [--time FROM,TO] [--hist]\n"
	"\n"
	"Replays a trace into per-syscall counts, errors and latencies, denet's ten\n"
	"categories, a behaviour class with intensities, slow syscalls, the process\n"
	"tree (argv, exit, lifetime, CPU time, voluntary and involuntary switches,\n"
	"wakeups, time slices, off-CPU time, run-queue latency, peak RSS, I/O bytes,\n"
	"page faults), the execs (execsnoop), a run-queue latency histogram (runqlat),\n"
	"per-process 1-second scheduler buckets (KernelSight) and log2 latency\n"
	"histograms (libbpf-tools style).\n"
	"\n"
	"options:\n"
	"  -j, --json            one JSON document instead of text tables\n"
	"      --html            one self-contained HTML page (SVG charts, no fetches)\n"
	"  -o, --output OUT      write to OUT (created 0600, never through a symlink)\n"
	"  -s, --slow DUR        slow-syscall threshold (default 10ms); the 100000\n"
	"                        slowest are listed, all are counted\n"
	"  -p, --pid PID         only process PID (its thread group id)\n"
	"      --cgroup PATH     only processes in cgroup v2 PATH or below (as cgroups[]\n"
	"                        names it, or under the recorded mount point)\n"
	"  -t, --time FROM,TO    only syscalls entered between FROM and TO after the\n"
	"                        trace start; either side may be empty\n"
	"      --hist            latency histograms per syscall too, not only per category\n"
	"  -h, --help            this text\n"
	"\n"
	"DUR is a number with a unit: ns, us, ms or s (2.5s, 150us). Percentiles come\n"
	"from log-linear histograms (128 sub-buckets per power of two): within 0.4% of\n"
	"the exact value. The behaviour class (io_bound, cpu_bound, memory_bound,\n"
	"network_bound, mixed, unknown) comes from the shares of thread time spent in\n"
	"file, network and memory syscalls, in page faults (estimated per time slice)\n"
	"and computing or waiting for a CPU; a class needs a share over its bar and\n"
	"1.5 times every other, else mixed; unknown below 50 ms (or, without\n"
	"scheduler events, 20 syscalls). Scheduler figures need a trace recorded\n"
	"without --no-sched; RSS and I/O bytes need /proc samples (--sample-interval).\n"
	"Times are UTC. Exit status: 0, 1 if the trace cannot be read in full\n"
	"(nothing is printed then), 2 for bad arguments.\n"
	"\n"
	"examples:\n"
	"  ksight report trace.lmdb\n"
	"  ksight report trace.lmdb --json | jq .analysis\n"
	"  ksight report trace.lmdb --html -o trace.html\n"
	"  ksight report trace.lmdb --slow 1ms --pid 4242\n"
	"  ksight report trace.lmdb --time 1s,2.5s --hist\n"
	"  ksight report trace.lmdb --time ,500ms\n";

struct report_args {
	const char *path, *out;
	bool json, hist, html;
	struct analyze_opts o;
	const char *cgroup; /* --cgroup PATH */
	struct ks_hmap cgroup_pids;
};

static int bad_usage(const char *what)
{
	return replay_usage_error("report", what);
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct report_args *a)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "slow", required_argument, NULL, 's' },
		{ "pid", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "time", required_argument, NULL, 't' },
		{ "hist", no_argument, NULL, 'H' },
		{ "html", no_argument, NULL, 'W' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char msg[256];
	int c, rc;

	analyze_opts_default(&a->o);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":js:p:t:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 'H':
			a->hist = true;
			break;
		case 'W':
			a->html = true;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 's':
			if (ks_parse_duration(optarg, &a->o.slow_ns)) {
				snprintf(msg, sizeof(msg), "--slow '%s' is not a duration (e.g. 10ms, 1.5s)",
					 optarg);
				return bad_usage(msg);
			}
			break;
		case 'p':
			if ((rc = replay_opt_pid("report", optarg, &a->o.pid)) >= 0)
				return rc;
			a->o.has_pid = true;
			break;
		case 'g':
			a->cgroup = optarg;
			break;
		case 't':
			if ((rc = replay_opt_time("report", optarg, &a->o.from_ns,
						  &a->o.to_ns)) >= 0)
				return rc;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return KS_EXIT_OK;
		default:
			return replay_bad_option("report", c, argv);
		}
	}
	if (a->json && a->html)
		return bad_usage("--json and --html are two different outputs: give one");
	return replay_trace_operand("report", argc, argv, "give the trace file to report on", &a->path);
}

/* Prints buf to stdout, or into the file out (created 0600, not through a
 * symlink); returns the exit code. */
static int emit(const char *buf, size_t len, const char *out)
{
	FILE *f = out ? replay_create_output(out) : stdout;

	if (!f) {
		ks_error("report: cannot create %s: %s", out, strerror(errno));
		return KS_EXIT_FAIL;
	}
	if (fwrite(buf, 1, len, f) != len || fflush(f) || (out && fclose(f))) {
		ks_error("report: writing %s failed: %s", out ? out : "the output", strerror(errno));
		return KS_EXIT_FAIL;
	}
	return KS_EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
	struct report_args args = { 0 };
	struct replay_trace *t = NULL;
	struct report *r = NULL;
	char msg[2048], *out = NULL;
	size_t len = 0;
	int rc, err;

	rc = parse_args(argc, argv, &args);
	if (rc >= 0)
		return rc;
	if (replay_open_said(args.path, &t))
		return KS_EXIT_FAIL;
	rc = KS_EXIT_FAIL;
	if (args.cgroup && (err = replay_cgroup_pids(t, args.cgroup, &args.cgroup_pids))) {
		ks_error(err == -ENOENT ? "report: --cgroup %s: the trace has no process in that "
			 "cgroup (report --json lists cgroups[])" : err == -ENODATA ?
			 "report: --cgroup %s: the trace has no cgroup table (recorded by an older "
			 "ksight, or without cgroup v2)" : "report: --cgroup %s: %s", args.cgroup,
			 err == -ENOMEM ? "out of memory" : t->err);
		goto out;
	}
	if (args.cgroup)
		args.o.pids = &args.cgroup_pids;
	r = malloc(sizeof(*r));
	if (!r) {
		ks_error("report: out of memory");
		goto out;
	}
	err = report_compute(r, t, &args.o);
	if (err) {
		ks_error("%s", t->err);
		goto out_report;
	}
	r->hist_per_syscall = args.hist;
	if (args.json) {
		json_t *doc = report_json(r);

		out = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
		json_decref(doc);
		if (out)
			len = strlen(out);
	} else {
		FILE *f = open_memstream(&out, &len);

		if (f && args.html) {
			err = report_html(f, r);
			fclose(f);
			if (err) {
				ks_error("%s", t->err[0] ? t->err : "report: out of memory");
				goto out_report;
			}
		} else if (f) {
			report_text(f, r);
			if (fclose(f)) {
				free(out);
				out = NULL;
			}
		}
	}
	if (!out) {
		ks_error("report: out of memory formatting the report");
		goto out_report;
	}
	if (args.json && out) {
		char *nl = realloc(out, len + 2);

		if (nl) {
			out = nl;
			out[len++] = '\n';
			out[len] = 0;
		}
	}
	if (replay_incomplete_line(t, msg, sizeof(msg)))
		ks_error("%s", msg);
	rc = emit(out, len, args.out);
out_report:
	report_free(r);
out:
	free(out);
	free(r);
	ks_hmap_free(&args.cgroup_pids);
	replay_close(t);
	return rc;
}
