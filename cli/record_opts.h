/* `ksight record`'s options and output file (cli/record_opts.c). */
#ifndef KSIGHT_CLI_RECORD_OPTS_H
#define KSIGHT_CLI_RECORD_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/record_scope.h"
#include "record/btf.h"
#include "record/features.h"

struct record_opts {
	const char *output;
	uint64_t ring_bytes;
	bool quiet;
	bool sched;
	bool no_block, no_net;   /* --no-block, --no-net */
	bool no_args; /* --no-args */
	uint64_t sample_ns; /* 0: no /proc sampling */
	const char *ebpf_program;
	const char *attach_list; /* -p PID[,PID] */
	bool all;                /* -a */
	uint64_t duration_ns;    /* --duration with -p/-a; 0: until they exit or SIGINT */
	enum probe_attach attach;
	enum probe_set set;
	enum probe_transport transport;
	struct btf_opts btf;
	char **state_dirs;       /* --state-dir, repeatable */
	int nstate;
	size_t cap_state;
	bool fallback_fsnotify;  /* inotify when BPF cannot follow the state dirs */
	uint64_t max_size, keep_ns; /* --max-size, --keep: bounded recording */
	unsigned freq;           /* on-CPU samples per second; 0: --no-profile */
	bool offcpu;             /* off-CPU stacks (--no-offcpu) */
	bool archive_symbols;    /* symbols of every frame into the trace */
	char **argv;
	struct record_scope scope; /* --cgroup, --injector-cmd (cli/record_scope.c) */
};

/* Parses record's arguments into o (defaults first); prints the usage and exits
 * for --help. Returns 0, or -1 after one error line. */
int record_parse_args(int argc, char **argv, struct record_opts *o);

/* A ring buffer size: 1..4G with K/M/G, rounded up to a power of two (at least
 * a page). Returns 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);
/* A duration with a unit, or a bare number of seconds ("2.5"); not 0. */
int parse_seconds(const char *arg, uint64_t *ns);
/* A --keep: as parse_seconds, and minutes (10m) or hours (1h). Returns 0 or
 * -EINVAL. */
int parse_keep(const char *s, uint64_t *ns);
/* A --max-size: bytes with K/M/G/T (powers of 1024), 1M to 4T. Returns 0 or
 * -EINVAL. */
int parse_max_size(const char *s, uint64_t *out);

/* Holds an exclusive flock on the trace while it is recorded, so that a second
 * `record -o` of the same name refuses instead of moving it away. Returns the fd
 * (kept open) or -1. */
int lock_trace(const char *path);
/* Checks -o before anything is touched, then moves an existing trace to FILE.old;
 * says why on stderr and returns -1 when it cannot. Returns 0 or -1. */
int make_room(const char *path);

#endif
