/* What the trace-reading commands share when they parse their arguments: the
 * one-line usage errors and the single FILE operand. */
#ifndef KSIGHT_REPLAY_CLI_ARGS_H
#define KSIGHT_REPLAY_CLI_ARGS_H

/* Prints "CMD: WHAT; 'ksight CMD --help' describes the options" and returns
 * KS_EXIT_USAGE. */
int replay_usage_error(const char *cmd, const char *what);
/* The usage error for getopt's ':' (c == ':': a value is missing) or '?'. */
int replay_bad_option(const char *cmd, int c, char **argv);
/* Takes the one operand left after the options as *path. Returns -1 when there
 * is exactly one, else the usage error (missing names what to give). */
int replay_trace_operand(const char *cmd, int argc, char **argv, const char *missing,
			 const char **path);

#endif
