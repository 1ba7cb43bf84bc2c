/* `ksight export`: a trace for other tools: Perfetto's protobuf for its UI and
 * trace_processor, NDJSON tables for engines such as ClickHouse. The trace is
 * verified (report_compute) before the first byte is written. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/args.h"
#include "replay/export.h"

static const char usage_text[] =
	"usage: ksight export FILE --format perfetto|ndjson [--table T] [-o OUT]\n"
	"                     [--pid PID] [--time FROM,TO]\n"
	"\n"
	"Writes a trace in a format other tools load.\n"
	"  perfetto  Perfetto's native protobuf (TrackEvent), for ui.perfetto.dev and\n"
	"            trace_processor: a process track per process, a thread track per\n"
	"            thread with every syscall as a slice (ret, errno and the call with\n"
	"            its arguments as annotations), a state track per thread (running,\n"
	"            runnable, blocked), fork/exec/exit instants, counters per process\n"
	"            (CPU %%, RSS, file read/write, storage and network bytes/s), and\n"
	"            the CPU samples with their stacks; on CLOCK_MONOTONIC.\n"
	"  ndjson    one JSON object per line of one table (--table, default syscalls),\n"
	"            each with \"host\" and \"trace_id\" so the traces of many hosts load\n"
	"            into one table (e.g. ClickHouse: INSERT ... FORMAT JSONEachRow).\n"
	"\n"
	"options:\n"
	"  -f, --format F        perfetto or ndjson\n"
	"  -T, --table T         the ndjson table (see below)\n"
	"  -o, --output OUT      write to OUT (created 0600, never through a symlink);\n"
	"                        default stdout (perfetto: not a terminal)\n"
	"  -p, --pid PID         only process PID (its thread group id)\n"
	"  -t, --time FROM,TO    only events between FROM and TO after the trace start\n"
	"  -h, --help            this text\n"
	"\n"
	"ndjson tables:\n"
	"%s"
	"\n"
	"Exit status: 0, 1 if the trace cannot be read in full or the output cannot be\n"
	"written, 2 for bad arguments.\n"
	"\n"
	"examples:\n"
	"  ksight export trace.lmdb --format perfetto -o trace.pftrace\n"
	"  ksight export trace.lmdb --format ndjson --table syscalls > syscalls.ndjson\n"
	"  ksight export trace.lmdb -f ndjson -T processes | clickhouse-client -q \\\n"
	"      'INSERT INTO processes FORMAT JSONEachRow'\n";

struct export_args {
	const char *path, *format, *table, *out;
	struct analyze_opts o;
};

static int bad_usage(const char *what)
{
	return replay_usage_error("export", what);
}

static void print_usage(void)
{
	char tables[2048];
	size_t n = 0;

	tables[0] = 0;
	for (size_t i = 0; export_ndjson_tables[i] && n < sizeof(tables); i++)
		n += (size_t)snprintf(tables + n, sizeof(tables) - n, "  %-10s %s\n",
				      export_ndjson_tables[i],
				      export_ndjson_describe(export_ndjson_tables[i]));
	printf(usage_text, tables);
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct export_args *a)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "table", required_argument, NULL, 'T' },
		{ "output", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char msg[256];
	int c, rc;

	analyze_opts_default(&a->o);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":f:T:o:p:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->format = optarg;
			break;
		case 'T':
			a->table = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'p':
			if ((rc = replay_opt_pid("export", optarg, &a->o.pid)) >= 0)
				return rc;
			a->o.has_pid = true;
			break;
		case 't':
			if ((rc = replay_opt_time("export", optarg, &a->o.from_ns,
						  &a->o.to_ns)) >= 0)
				return rc;
			break;
		case 'h':
			print_usage();
			return KS_EXIT_OK;
		default:
			return replay_bad_option("export", c, argv);
		}
	}
	if (!a->format)
		return bad_usage("give --format perfetto or --format ndjson");
	if (strcmp(a->format, "perfetto") && strcmp(a->format, "ndjson")) {
		snprintf(msg, sizeof(msg), "--format '%s' is not perfetto or ndjson", a->format);
		return bad_usage(msg);
	}
	if (a->table && strcmp(a->format, "ndjson"))
		return bad_usage("--table goes with --format ndjson");
	if (!a->table)
		a->table = "syscalls";
	if (!export_ndjson_describe(a->table)) {
		snprintf(msg, sizeof(msg), "--table '%s' is not a table; 'ksight export --help' lists them",
			 a->table);
		return bad_usage(msg);
	}
	return replay_trace_operand("export", argc, argv, "give the trace file to export", &a->path);
}

/* Opens the output: OUT (replay_create_output), or stdout. */
static FILE *open_output(const struct export_args *a)
{
	FILE *f;

	if (!a->out)
		return stdout;
	f = replay_create_output(a->out);
	if (!f)
		ks_error("export: cannot create %s: %s", a->out, strerror(errno));
	return f;
}

int cmd_export(int argc, char **argv)
{
	struct export_args args = { 0 };
	struct export_stats st = { 0 };
	struct replay_trace *t = NULL;
	struct report *r = NULL;
	FILE *f = NULL;
	char msg[512];
	bool perfetto;
	int rc, err;

	rc = parse_args(argc, argv, &args);
	if (rc >= 0)
		return rc;
	perfetto = !strcmp(args.format, "perfetto");
	if (perfetto && !args.out && isatty(STDOUT_FILENO))
		return bad_usage("the Perfetto trace is binary: give -o OUT or redirect stdout");
	if (replay_open_said(args.path, &t))
		return KS_EXIT_FAIL;
	rc = KS_EXIT_FAIL;
	r = malloc(sizeof(*r));
	if (!r) {
		ks_error("export: out of memory");
		goto out;
	}
	err = report_compute(r, t, &args.o);
	if (err) {
		ks_error("%s", t->err);
		goto out_report;
	}
	f = open_output(&args);
	if (!f)
		goto out_report;
	err = perfetto ? export_perfetto(r, f, &st) : export_ndjson(r, args.table, f, &st);
	if (err == -EIO || (!err && ferror(f))) {
		ks_error("export: writing %s failed: %s", args.out ? args.out : "the output",
			 strerror(errno ? errno : EIO));
	} else if (err) {
		ks_error("%s", t->err[0] ? t->err : strerror(-err));
	} else {
		rc = KS_EXIT_OK;
	}
	if (f != stdout && fclose(f) && rc == KS_EXIT_OK) {
		ks_error("export: writing %s failed: %s", args.out, strerror(errno));
		rc = KS_EXIT_FAIL;
	}
	if (rc == KS_EXIT_OK && replay_incomplete_line(t, msg, sizeof(msg)))
		ks_error("%s", msg);
	if (rc == KS_EXIT_OK && args.out) {
		if (perfetto)
			fprintf(stderr, "ksight: %s: %llu tracks, %llu slices (%llu syscalls), "
				"%llu CPU samples, %llu packets\n", args.out,
				(unsigned long long)st.tracks, (unsigned long long)st.slices,
				(unsigned long long)st.syscalls, (unsigned long long)st.samples,
				(unsigned long long)st.rows);
		else
			fprintf(stderr, "ksight: %s: %llu rows of %s\n", args.out,
				(unsigned long long)st.rows, args.table);
	}
out_report:
	report_free(r);
out:
	free(r);
	replay_close(t);
	return rc;
}
