/* The /proc sampler: RSS, virtual size, I/O bytes, CPU time, faults and threads
 * of every traced process, every interval, as KS_KIND_SAMPLE rows. */
#ifndef KSIGHT_SAMPLER_H
#define KSIGHT_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct consumer;
struct sampler;

/* Returns 0, -ENOMEM. */
int sampler_new(uint64_t interval_ns, struct sampler **out);
/* Starts or stops following a process (thread group). */
void sampler_track(struct sampler *s, pid_t pid);
void sampler_untrack(struct sampler *s, pid_t pid);
/* Without process events (no probes), finds the children of followed processes
 * in /proc at each round and follows them too; gone processes are dropped. */
void sampler_discover_children(struct sampler *s, bool on);
/* Samples every followed process when the interval has passed since the last
 * round, appending rows to c. Drain thread only. Returns 0 or a negative errno. */
int sampler_tick(struct sampler *s, uint64_t now_ns, struct consumer *c);
void sampler_free(struct sampler *s);

#endif
