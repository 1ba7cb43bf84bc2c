/* `ksight timeline`: each recorded file's versions over time. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/args.h"
#include "replay/report.h"
#include "replay/timeline.h"
#include "replay/trace.h"

static const char usage_text[] =
	"usage: ksight timeline FILE [--path PATH] [--json]\n"
	"\n"
	"Lists every change recorded under the state directories of FILE (ksight\n"
	"record --state-dir), file by file: when it completed (UTC, and seconds from\n"
	"the start), the process, the operation, the bytes it carried, and the file's\n"
	"size after it. The baseline taken when recording began, bytes read back from\n"
	"the file and corrections found by verification are marked as such.\n"
	"\n"
	"options:\n"
	"  -p, --path PATH   only PATH and what lies under it (absolute, or relative\n"
	"                    to the current directory)\n"
	"  -j, --json        one JSON document: {\"files\": [{\"path\", \"versions\": [...]}]}\n"
	"  -h, --help        this text\n"
	"\n"
	"Exit status: 0, 1 if the trace is damaged, 2 for bad arguments.\n"
	"\n"
	"examples:\n"
	"  ksight timeline trace.lmdb\n"
	"  ksight timeline trace.lmdb --path /srv/data/db.sqlite\n"
	"  ksight restore trace.lmdb --to /tmp/then --at +2.5s   # a version back\n";

static int bad_usage(const char *what)
{
	return replay_usage_error("timeline", what);
}

int cmd_timeline(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct replay_trace *t = NULL;
	struct timeline tl;
	const char *prefix = NULL;
	char abs[PATH_MAX * 2], cwd[PATH_MAX], line[2048];
	bool json = false;
	int c, rc = KS_EXIT_FAIL;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":p:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return KS_EXIT_OK;
		default:
			return replay_bad_option("timeline", c, argv);
		}
	}
	const char *file;
	int op = replay_trace_operand("timeline", argc, argv, "give the trace file", &file);
	if (op >= 0)
		return op;
	if (prefix && prefix[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return bad_usage("--path is relative and the current directory is unknown");
		snprintf(abs, sizeof(abs), "%s/%s", cwd, prefix);
		prefix = abs;
	}
	if (replay_open_said(file, &t))
		return KS_EXIT_FAIL;
	if (timeline_build(t, prefix, &tl)) {
		ks_error("%s", t->err);
		goto out;
	}
	if (replay_incomplete_line(t, line, sizeof(line)))
		ks_error("%s", line);
	if (json) {
		json_t *doc = timeline_json(&tl);

		if (doc && (json_object_set_new(doc, "complete", json_boolean(t->whole.complete)) ||
			    json_object_set_new(doc, "lost_events",
						json_integer((json_int_t)(t->whole.lost_events & INT64_MAX))) ||
			    json_object_set_new(doc, "incomplete_reasons",
						report_json_reasons(&t->whole)))) {
			json_decref(doc);
			doc = NULL;
		}

		if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF) {
			json_decref(doc);
			ks_error("timeline: writing the output failed");
			goto out_tl;
		}
		json_decref(doc);
	} else {
		if (!tl.n)
			printf("no recorded changes%s%s (record with --state-dir DIR)\n",
			       prefix ? " under " : "", prefix ? prefix : "");
		timeline_text(stdout, &tl);
	}
	if (fflush(stdout)) {
		ks_error("timeline: writing the output failed: %s", strerror(errno));
		goto out_tl;
	}
	rc = KS_EXIT_OK;
out_tl:
	timeline_free(&tl);
out:
	replay_close(t);
	return rc;
}
