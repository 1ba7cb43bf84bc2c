/* Names for what was running when the recording began: a START process record
 * per process (comm, argv, exe, ppid, cgroup from /proc), stored with the events
 * so the replay names processes it saw no exec of. */
#ifndef KSIGHT_RECORD_PROCSCAN_H
#define KSIGHT_RECORD_PROCSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/event.h"

struct cgroups;
struct consumer;

struct procscan_stats {
	uint64_t read;     /* processes named */
	uint64_t vanished; /* listed, but gone before they could be read */
};

/* Reads process pid from /proc into *row (a KS_PROC_START at ts); cg (may be NULL)
 * gives its cgroup id. Returns 0, -ESRCH when it is gone. */
int procscan_read(pid_t pid, uint64_t ts, struct cgroups *cg, struct ks_proc *row);
/* Adds a START record for each of the n pids (or, with all, every process but
 * this one) to the consumer's batch. Returns 0 or a negative errno (-ENOMEM);
 * vanished processes are counted, not errors. */
int procscan_run(struct consumer *c, struct cgroups *cg, const pid_t *pids, size_t n, bool all,
		 uint64_t ts, struct procscan_stats *st);

#endif
