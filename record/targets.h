/* Running processes to attach to (record -p PID[,PID]): parsing, seeding every
 * thread into the traced set, and noticing when they have all exited. */
#ifndef KSIGHT_TARGETS_H
#define KSIGHT_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct probes;

struct targets {
	pid_t *pids;
	int *pidfds; /* readable once the process has exited */
	size_t n, cap_pids, cap_pidfds;
};

/* Parses "PID[,PID...]" and opens a pidfd on each. On failure *bad names the
 * offending item. Returns 0, -EINVAL (not a pid list), -ESRCH (no such process),
 * -ENOMEM. */
int targets_open(const char *list, struct targets *t, const char **bad);
/* Adds every thread of every target to the traced set. Returns the number of
 * threads added, or a negative errno when none could be. */
int targets_seed(struct targets *t, struct probes *p);
/* True when every target has exited. */
bool targets_all_exited(const struct targets *t);
void targets_close(struct targets *t);

#endif
