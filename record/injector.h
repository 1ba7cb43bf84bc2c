/* --injector-cmd: a command run for every exec of the traced set, with the pid
 * as argv[1] and KSIGHT_PID, KSIGHT_COMM, KSIGHT_EXE, KSIGHT_CGROUP and
 * KSIGHT_CONTAINER_ID in its environment. Runs on its own thread, never holding
 * up the drain; rate-limited; each run killed past a deadline. The hooks are the
 * recorder's children, which the probes never adopt (bpf/common.bpf.h ignored). */
#ifndef KSIGHT_RECORD_INJECTOR_H
#define KSIGHT_RECORD_INJECTOR_H

#include <stdint.h>
#include <sys/types.h>

struct injector;

struct injector_opts {
	const char *cmd;       /* run by /bin/sh -c, the pid appended as its argument */
	uint64_t timeout_ns;   /* a run still going after this is killed (its group) */
	unsigned max_running;  /* runs at once */
	unsigned max_per_sec;  /* runs started per second */
	unsigned queue;        /* execs waiting to run; more are skipped */
};

struct injector_stats {
	uint64_t execs;    /* execs seen */
	uint64_t started;
	uint64_t ok;       /* exited 0 */
	uint64_t failed;   /* exited non-zero or killed by a signal */
	uint64_t timeouts; /* killed at the deadline (or still running at the end) */
	uint64_t skipped;  /* over the rate or queue limits, or at the end */
	uint64_t spawn_errors;
};

/* Starts the hook thread. Returns 0 or a negative errno. */
int injector_start(const struct injector_opts *o, struct injector **out);
/* Queues a run for an exec (any thread; copies the strings, which may be NULL). */
void injector_exec(struct injector *inj, pid_t pid, const char *comm, const char *exe,
		   const char *cgroup, const char *container_id);
/* Lets running hooks finish for up to grace_ns, kills the rest, stops the
 * thread and frees inj; *st gets the counts (may be NULL). */
void injector_stop(struct injector *inj, uint64_t grace_ns, struct injector_stats *st);

#endif
