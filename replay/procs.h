/* The process table of a trace, rebuilt from its fork/exec/exit events: one
 * record per process (pid reuse starts a new one) and each pid's comm over time. */
#ifndef KSIGHT_REPLAY_PROCS_H
#define KSIGHT_REPLAY_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "util/hmap.h"

/* Whether pid passes the selection: the set (report --cgroup) when there is one,
 * else --pid (has_pid, want). */
static inline bool replay_pid_wanted(bool has_pid, uint32_t want, const struct ks_hmap *set,
				     uint32_t pid)
{
	return set ? ks_hmap_get(set, pid) != NULL : !has_pid || pid == want;
}

/* An index into one of the replay's arrays that points nowhere. */
#define REPLAY_NONE UINT32_MAX

/* The index map m holds for key (pid, tid), or REPLAY_NONE. */
static inline uint32_t replay_index(const struct ks_hmap *m, uint64_t key)
{
	const uint64_t *v = ks_hmap_get(m, key);

	return v ? (uint32_t)*v : REPLAY_NONE;
}

struct replay_proc {
	uint32_t pid, ppid;
	uint64_t start_ts; /* fork, else the first event seen */
	uint64_t exit_ts;  /* valid when exited */
	bool forked, execed, exited;
	bool argv_inherited; /* argv is its parent's: it forked and has not exec'd */
	bool seen_running;   /* named by a START or JOIN record: running before */
	bool argv_truncated; /* the exec's argv was longer than argv holds */
	uint64_t cgroup;     /* its cgroup v2 id, last known; 0: unknown */
	int32_t wstatus; /* wait(2) status, valid when exited */
	char comm[KS_COMM_MAX + 1];
	uint32_t argv_len; /* bytes of argv, NUL-separated (at most KS_ARGV_MAX) */
	char *argv;        /* malloc'd, argv_len bytes; NULL when empty */
	char exe[KS_EXE_MAX]; /* from a START record, else "" */
};

/* One successful exec, for the execsnoop-style list. */
struct replay_exec {
	uint64_t ts;
	uint32_t pid, ppid;
	uint32_t rec; /* index in replay_procs.v of the process */
	char comm[KS_COMM_MAX + 1];
	bool argv_truncated;
	uint32_t argv_len;
	char *argv;        /* malloc'd, argv_len bytes; NULL when empty */
};

struct replay_comm_change {
	uint32_t pid;
	uint64_t ts;
	char comm[KS_COMM_MAX + 1];
};

struct replay_procs {
	struct replay_proc *v; /* in order of appearance */
	size_t n, cap;
	struct replay_comm_change *changes; /* sorted by pid, then time */
	size_t nchanges, capchanges;
	struct replay_exec *execs; /* in stored order */
	size_t nexecs, capexecs;
	struct ks_hmap current; /* pid -> index in v of its latest record */
};

/* Applies n proc events (in stored order). Returns 0 or -ENOMEM. */
int replay_procs_add(struct replay_procs *p, const struct ks_proc *rows, size_t n);

/* Makes the comm history searchable; call once after the last replay_procs_add.
 * Returns 0. */
int replay_procs_finish(struct replay_procs *p);

/* Returns the comm pid had at ts (the last fork/exec at or before ts), or "?". */
const char *replay_procs_comm_at(const struct replay_procs *p, uint32_t pid, uint64_t ts);

/* Returns the record pid had at ts: the latest one started at or before ts, else
 * its earliest; NULL when pid has none. */
const struct replay_proc *replay_procs_at(const struct replay_procs *p, uint32_t pid,
					  uint64_t ts);

/* Returns the latest record of pid, or NULL. */
const struct replay_proc *replay_procs_find(const struct replay_procs *p, uint32_t pid);

/* Converts a wait(2) status to a shell-style exit code (128 + signal if killed). */
int replay_exit_code(int32_t wstatus);

/* Frees the table's memory and empties it. */
void replay_procs_free(struct replay_procs *p);

#endif
