/* cli: what `ksight stacks` and `ksight flame` share: their options (FILE,
 * --offcpu, --pid, --time, --no-live-symbols) and the folded stacks they start
 * from. */
#ifndef KSIGHT_CLI_STACKS_H
#define KSIGHT_CLI_STACKS_H

#include <stdbool.h>

#include "replay/profile.h"

struct stacks_args {
	const char *path;
	const char *output; /* flame: -o */
	bool offcpu;
	struct prof_opts o;
};

/* The --help lines of the options stacks_parse takes for both commands. */
#define STACKS_OPTIONS_HELP \
	"  -p, --pid PID         only process PID\n" \
	"  -t, --time FROM,TO    only between FROM and TO after the trace start\n" \
	"      --no-live-symbols name frames from the trace only\n" \
	"  -h, --help            this text\n"

/* Parses cmd's arguments (flame: with -o). Returns -1 to go on, or an exit code. */
int stacks_parse(const char *cmd, int argc, char **argv, const char *usage, bool flame,
		 struct stacks_args *a);

/* Opens the trace and computes its profile into r. Returns 0, or an exit code
 * after saying what failed. */
int stacks_load(const struct stacks_args *a, struct replay_trace **t, struct prof_result *r);

#endif
