/* cli: ksight's entry point: a table from subcommand names to cmd_* functions, in the
 * style of git.c and perf.c. Each command parses its own options. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "record", cmd_record, "run a command under the probes and write a trace" },
	{ "report", cmd_report, "replay a trace into syscall, latency and behaviour statistics" },
	{ "info", cmd_info, "show a trace's metadata, event counts, losses and sizes" },
	{ "dump", cmd_dump, "print every event of a trace, one per line" },
	{ "export", cmd_export, "write a trace for Perfetto or as NDJSON tables for fleet engines" },
	{ "doctor", cmd_doctor, "check whether this machine can record, and why not" },
	{ "restore", cmd_restore, "rebuild the recorded state directories, at the end or at a time" },
	{ "timeline", cmd_timeline, "list each recorded file's versions over time" },
	{ "stacks", cmd_stacks, "print the on-CPU or off-CPU stacks, folded" },
	{ "flame", cmd_flame, "write an interactive SVG flame graph of the stacks" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ksight COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'ksight COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return KS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return KS_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ksight %s\n", KSIGHT_VERSION);
		return KS_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	ks_error("'%s' is not a command; 'ksight --help' lists them", argv[1]);
	return KS_EXIT_USAGE;
}
