/* Syscall arguments on the recording side: the probe's per-syscall spec packed
 * from the argument table (format/sysargs.h), and the fds a process already has
 * when its recording starts. */
#ifndef KSIGHT_RECORD_SYSARGS_H
#define KSIGHT_RECORD_SYSARGS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record/consumer.h"

/* Fills spec[0..n) with the probe's spec word of each syscall number
 * (bpf/events.h KS_ARG_*), 0 for the ones whose arguments are not recorded. */
void sysargs_fill_spec(uint32_t *spec, size_t n);

/* Adds one KS_SA_PREFD row per fd process pid has open now (its /proc/PID/fd
 * link and open flags), stamped ts, to the consumer. Drain thread only.
 * Returns the number of fds, or a negative errno (the process is gone, or
 * /proc cannot be read). */
int sysargs_snapshot_fds(struct consumer *c, pid_t pid, uint64_t ts);

#endif
