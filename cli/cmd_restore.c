/* `ksight restore`: rebuild the recorded state directories under a directory, as
 * they were at the end of the recording or at any moment of it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/args.h"
#include "replay/restore.h"
#include "replay/trace.h"
#include "util/clock.h"

static const char usage_text[] =
	"usage: ksight restore FILE --to DIR [--at TIME] [--flat]\n"
	"\n"
	"Rebuilds each state directory recorded in FILE (ksight record --state-dir)\n"
	"under DIR at its recorded absolute path, leading '/' stripped as tar does:\n"
	"/srv/data is restored as DIR/srv/data. Contents, symlinks, hard links and\n"
	"modes are restored byte-exact; ownership too when run as root. DIR must be\n"
	"empty or missing. Nothing is written outside DIR: no symlink is followed, and\n"
	"a trace naming '..', NUL bytes or paths outside its state dirs is refused\n"
	"before anything is written.\n"
	"\n"
	"options:\n"
	"  -t, --to DIR     where to restore (required)\n"
	"  -a, --at TIME    the state at TIME: exactly the changes of the syscalls\n"
	"                   completed by then. TIME is RFC 3339\n"
	"                   (2025-01-31T12:00:00.25Z, 2025-01-31 12:00:00+02:00), Unix\n"
	"                   seconds with a fraction (1738324800.25) or an offset from\n"
	"                   the start of the recording (+2.5s, +150ms)\n"
	"  -f, --flat       put the contents of the (single) state dir directly in DIR\n"
	"  -q, --quiet      no summary line\n"
	"  -h, --help       this text\n"
	"\n"
	"A trace whose recorder was killed restores the state of its last commit;\n"
	"a change that was only partly committed is left out whole.\n"
	"Exit status: 0, 1 if the trace is damaged or a change could not be applied,\n"
	"2 for bad arguments.\n"
	"\n"
	"examples:\n"
	"  ksight restore trace.lmdb --to /tmp/restored\n"
	"  ksight restore trace.lmdb --to /tmp/at2s --at +2s --flat\n"
	"  ksight timeline trace.lmdb   # when did what change\n";

static int bad_usage(const char *what)
{
	return replay_usage_error("restore", what);
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "at", required_argument, NULL, 'a' },
		{ "flat", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct restore_opts o = { .at = UINT64_MAX };
	struct restore_stats st;
	struct replay_trace *t = NULL;
	uint64_t t0, t1;
	const char *at = NULL, *path;
	bool quiet = false;
	char msg[700], line[2048];
	int c, err;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":t:a:fqh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.to = optarg;
			break;
		case 'a':
			at = optarg;
			break;
		case 'f':
			o.flat = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return KS_EXIT_OK;
		default:
			return replay_bad_option("restore", c, argv);
		}
	}
	const char *file;
	int op = replay_trace_operand("restore", argc, argv, "give the trace file to restore from", &file);
	if (op >= 0)
		return op;
	if (!o.to || !*o.to)
		return bad_usage("give the directory to restore into with --to DIR");
	path = file;
	if (replay_open(path, &t, msg, sizeof(msg))) {
		ks_error("%s", msg);
		return KS_EXIT_FAIL;
	}
	if (at) {
		err = restore_parse_time(t, at, &o.at);
		if (err) {
			replay_close(t);
			if (err == -ENOENT) {
				ks_error("%s: the trace lacks the clock to place --at '%s' (an offset "
					 "needs its start, a date its clock offset); use the other "
					 "form", path, at);
				return KS_EXIT_FAIL;
			}
			snprintf(msg, sizeof(msg), "--at '%s' is not a time (RFC 3339, Unix seconds "
				 "or +OFFSET such as +2.5s)", at);
			return bad_usage(msg);
		}
	}
	if (replay_incomplete_line(t, line, sizeof(line))) {
		if (t->whole.state_damaged && t->whole.damaged) {
			ks_error("%s; refusing to restore from it", line);
			replay_close(t);
			return KS_EXIT_FAIL;
		}
		ks_error("%s", line);
	}
	t0 = ks_mono_ns();
	err = restore_trace(t, &o, &st);
	t1 = ks_mono_ns();
	if (err) {
		ks_error("%s", t->err);
		replay_close(t);
		return KS_EXIT_FAIL;
	}
	if (!quiet) {
		double secs = (double)(t1 - t0) / 1e9;

		fprintf(stderr,
			"ksight: restored %d state dir%s into %s: %llu of %llu changes applied",
			st.dirs, st.dirs == 1 ? "" : "s", o.to, (unsigned long long)st.applied,
			(unsigned long long)st.deltas);
		if (st.later)
			fprintf(stderr, ", %llu after --at", (unsigned long long)st.later);
		if (st.torn)
			fprintf(stderr, ", %llu of an unfinished change left out",
				(unsigned long long)st.torn);
		fprintf(stderr, "; %.1f MiB written in %.3f s (%.0f MB/s)\n",
			(double)st.bytes / (1 << 20), secs,
			secs > 0 ? (double)st.bytes / 1e6 / secs : 0.0);
	}
	replay_close(t);
	return KS_EXIT_OK;
}
