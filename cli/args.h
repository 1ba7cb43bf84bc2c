/* What the trace-reading commands share when they parse their arguments: the
 * one-line usage errors, --pid and --time, the single FILE operand, opening it,
 * and -o OUT. */
#ifndef KSIGHT_REPLAY_CLI_ARGS_H
#define KSIGHT_REPLAY_CLI_ARGS_H

#include <stdint.h>
#include <stdio.h>

/* Prints "CMD: WHAT; 'ksight CMD --help' describes the options" and returns
 * KS_EXIT_USAGE. */
int replay_usage_error(const char *cmd, const char *what);
/* The usage error for getopt's ':' (c == ':': a value is missing) or '?'. */
int replay_bad_option(const char *cmd, int c, char **argv);
/* Takes the one operand left after the options as *path. Returns -1 when there
 * is exactly one, else the usage error (missing names what to give). */
int replay_trace_operand(const char *cmd, int argc, char **argv, const char *missing,
			 const char **path);
struct replay_trace;

/* Opens the trace at path (replay_open) into *t. Returns 0, or KS_EXIT_FAIL
 * after printing why not. */
int replay_open_said(const char *path, struct replay_trace **t);
/* --pid PID: a process id from 1 to UINT32_MAX into *pid. Returns -1, or the
 * usage error. */
int replay_opt_pid(const char *cmd, const char *arg, uint32_t *pid);
/* --time FROM,TO (ks_parse_range) into *from_ns, *to_ns. Returns -1, or the
 * usage error. */
int replay_opt_time(const char *cmd, const char *arg, uint64_t *from_ns, uint64_t *to_ns);
/* Creates the output file path for writing: mode 0600, truncated, never through
 * a symlink. NULL with errno set when it cannot. */
FILE *replay_create_output(const char *path);

#endif
