/* What `record` traces beyond one command, apart from cmd_record.c: --cgroup
 * targets, names for the processes running at the start, cgroup attribution of
 * the process events, and the --injector-cmd exec hook. */
#ifndef KSIGHT_CLI_RECORD_SCOPE_H
#define KSIGHT_CLI_RECORD_SCOPE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/event.h"
#include "record/injector.h"
#include "record/procscan.h"

struct cgroups;
struct consumer;
struct injector;
struct ks_store;
struct probes_opts;

struct record_scope {
	/* options */
	const char *cgroup_dirs[8]; /* --cgroup, repeatable (KS_CGROUP_MAX) */
	int ncgroups;
	const char *injector_cmd;
	uint64_t injector_timeout_ns;
	/* state */
	struct cgroups *cg; /* NULL when no cgroup v2 is mounted */
	struct injector *inj;
	struct procscan_stats scan;
	struct injector_stats hooks;
	void (*next)(void *ctx, const struct ks_proc *p); /* the sampler's follower */
	void *next_ctx;
};

/* The long options scope_option handles (their getopt values). */
#define SCOPE_OPT_CGROUP 0x1001
#define SCOPE_OPT_INJECTOR 0x1002
#define SCOPE_OPT_INJECTOR_TIMEOUT 0x1003
#define SCOPE_LONGOPTS                                                        \
	{ "cgroup", required_argument, NULL, SCOPE_OPT_CGROUP },              \
	{ "injector-cmd", required_argument, NULL, SCOPE_OPT_INJECTOR },      \
	{ "injector-timeout", required_argument, NULL, SCOPE_OPT_INJECTOR_TIMEOUT }

/* Takes one of the options above. Returns 0, or -1 after saying why. */
int scope_option(struct record_scope *s, int opt, const char *arg);

/* Before the probes load: finds the cgroup v2 hierarchy and the --cgroup
 * targets, filling po's filter. Returns 0, or -1 after saying why (a v1-only host
 * with --cgroup gets one line). */
int scope_open(struct record_scope *s, struct probes_opts *po);

/* With the probes attached and the consumer running: names the processes already
 * running (those of pids, of the --cgroup targets, or every one with all), starts
 * the exec hook and follows the process events (then calls next). Returns 0, or
 * -1 after saying why. */
int scope_start(struct record_scope *s, struct consumer *c, const pid_t *pids, size_t npids,
		bool all, bool probes);

/* At the end: the hooks given a grace time, then stopped. */
void scope_finish(struct record_scope *s);
/* The meta of the scope (cgroup names, targets, start names, hook counts).
 * Returns 0 or a store error. */
int scope_write_meta(struct record_scope *s, struct ks_store *st);
void scope_free(struct record_scope *s);

#endif
