/* `ksight stacks`: a trace's on-CPU or off-CPU stacks, folded (one line per
 * distinct stack: "comm;outermost;...;innermost COUNT"), the input of
 * flamegraph.pl, speedscope, inferno and Perfetto. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/stacks.h"
#include "util/escape.h"
#include "util/units.h"

static const char usage_text[] =
	"usage: ksight stacks FILE [--offcpu] [--pid PID] [--time FROM,TO]\n"
	"\n"
	"Prints the trace's stacks folded, one line per distinct stack of a process:\n"
	"'comm;outermost;...;innermost COUNT', COUNT being on-CPU samples, or with\n"
	"--offcpu the microseconds the threads spent off the CPU there (blocked or\n"
	"preempted). Frames are named from the symbols stored in the trace, else from\n"
	"the files on this machine; 'module+0xOFF' or '[unknown]' when neither knows.\n"
	"\n"
	"options:\n"
	"      --offcpu          off-CPU stacks instead of on-CPU samples\n"
	STACKS_OPTIONS_HELP
	"\n"
	"examples:\n"
	"  ksight stacks trace.lmdb | flamegraph.pl > cpu.svg\n"
	"  ksight stacks trace.lmdb --offcpu --pid 4242\n";

int stacks_parse(const char *cmd, int argc, char **argv, const char *usage, bool flame,
		 struct stacks_args *a)
{
	static const struct option opts[] = {
		{ "offcpu", no_argument, NULL, 'O' },
		{ "pid", required_argument, NULL, 'p' },
		{ "time", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-live-symbols", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, rc;

	memset(a, 0, sizeof(*a));
	a->o.to_ns = UINT64_MAX;
	a->o.live_symbols = true;
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, flame ? ":p:t:o:h" : ":p:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'O':
			a->offcpu = true;
			break;
		case 'L':
			a->o.live_symbols = false;
			break;
		case 'o':
			if (!flame)
				return replay_bad_option(cmd, '?', argv);
			a->output = optarg;
			break;
		case 'p':
			if ((rc = replay_opt_pid(cmd, optarg, &a->o.pid)) >= 0)
				return rc;
			a->o.has_pid = true;
			break;
		case 't':
			if ((rc = replay_opt_time(cmd, optarg, &a->o.from_ns, &a->o.to_ns)) >= 0)
				return rc;
			break;
		case 'h':
			fputs(usage, stdout);
			return KS_EXIT_OK;
		default:
			return replay_bad_option(cmd, c, argv);
		}
	}
	return replay_trace_operand(cmd, argc, argv, "give the trace file", &a->path);
}

int stacks_load(const struct stacks_args *a, struct replay_trace **t, struct prof_result *r)
{
	int err;

	if (replay_open_said(a->path, t))
		return KS_EXIT_FAIL;
	err = prof_compute(r, *t, &a->o);
	if (err) {
		ks_error("%s", err == -ENOMEM ? "out of memory" : (*t)->err);
		replay_close(*t);
		*t = NULL;
		return KS_EXIT_FAIL;
	}
	if (!r->any)
		ks_error("%s has no stacks (recorded with --no-profile --no-offcpu, or by a "
			 "ksight without them)", a->path);
	return 0;
}

int cmd_stacks(int argc, char **argv)
{
	struct stacks_args a;
	struct replay_trace *t = NULL;
	struct prof_result r;
	struct prof_line *lines = NULL;
	size_t n = 0;
	int rc;

	rc = stacks_parse("stacks", argc, argv, usage_text, false, &a);
	if (rc >= 0)
		return rc;
	rc = stacks_load(&a, &t, &r);
	if (rc)
		return rc;
	if (prof_folded(&r, a.offcpu, &lines, &n)) {
		ks_error("stacks: out of memory");
		rc = KS_EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t v = a.offcpu ? lines[i].value / 1000 : lines[i].value;

		/* names come from the traced programs: no control character gets through */
		if (v) {
			ks_fput_escaped(stdout, lines[i].text, strlen(lines[i].text));
			printf(" %llu\n", (unsigned long long)v);
		}
	}
	if (fflush(stdout)) {
		ks_error("stacks: writing the output failed: %s", strerror(errno));
		rc = KS_EXIT_FAIL;
	}
out:
	prof_lines_free(lines, n);
	prof_free(&r);
	replay_close(t);
	return rc;
}
