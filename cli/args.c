/* Usage errors of the trace-reading commands, worded one way. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/args.h"

int replay_usage_error(const char *cmd, const char *what)
{
	ks_error("%s: %s; 'ksight %s --help' describes the options", cmd, what, cmd);
	return KS_EXIT_USAGE;
}

int replay_bad_option(const char *cmd, int c, char **argv)
{
	char msg[256];

	snprintf(msg, sizeof(msg), c == ':' ? "option '%s' needs a value" : "unknown option '%s'",
		 argv[optind - 1]);
	return replay_usage_error(cmd, msg);
}

int replay_trace_operand(const char *cmd, int argc, char **argv, const char *missing,
			 const char **path)
{
	char msg[256];

	if (optind >= argc)
		return replay_usage_error(cmd, missing);
	if (optind + 1 < argc) {
		snprintf(msg, sizeof(msg), "one trace file only ('%s' is extra)", argv[optind + 1]);
		return replay_usage_error(cmd, msg);
	}
	*path = argv[optind];
	return -1;
}
