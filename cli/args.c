/* Usage errors of the trace-reading commands, worded one way. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/args.h"
#include "replay/trace.h"
#include "util/units.h"

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

int replay_open_said(const char *path, struct replay_trace **t)
{
	char msg[2048];

	if (replay_open(path, t, msg, sizeof(msg))) {
		ks_error("%s", msg);
		return KS_EXIT_FAIL;
	}
	return 0;
}

int replay_opt_pid(const char *cmd, const char *arg, uint32_t *pid)
{
	char msg[256];
	uint64_t v;

	if (ks_parse_u64(arg, &v) || !v || v > UINT32_MAX) {
		snprintf(msg, sizeof(msg), "--pid '%s' is not a process id", arg);
		return replay_usage_error(cmd, msg);
	}
	*pid = (uint32_t)v;
	return -1;
}

int replay_opt_time(const char *cmd, const char *arg, uint64_t *from_ns, uint64_t *to_ns)
{
	char msg[256];

	if (ks_parse_range(arg, from_ns, to_ns)) {
		snprintf(msg, sizeof(msg),
			 "--time '%s' is not FROM,TO with FROM < TO (e.g. 1s,2.5s or ,500ms)", arg);
		return replay_usage_error(cmd, msg);
	}
	return -1;
}

FILE *replay_create_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return f;
}
