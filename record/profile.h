/* The CPU profile: on-CPU samples (a perf_event program on every CPU) and
 * off-CPU spans (at the scheduler's switches), their stacks turned into module +
 * offset frames while the processes live and deduplicated into the trace's stack
 * table; at the end, the symbols every frame needs archived in the trace. */
#ifndef KSIGHT_RECORD_PROFILE_H
#define KSIGHT_RECORD_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "record/consumer.h"
#include "record/probes.h"

/* The highest round rate whose sampling costs a CPU-bound workload under 1%
 * (bench/profile.py: about 19 us a sample on a VM's cpu-clock, perf's cost too,
 * so 1% is near 500 Hz; 199 leaves room for the off-CPU probe). */
#define PROFILE_DEFAULT_HZ 199

struct profile_kallsyms;

struct profile_opts {
	unsigned hz;  /* on-CPU sampling rate; 0: no on-CPU samples */
	bool offcpu;  /* off-CPU spans */
	struct profile_kallsyms *kallsyms; /* taken by profile_start, even when it
					     * fails (NULL: it starts one) */
};

struct profile_stats {
	uint64_t samples, offcpu, stacks, modules;
	uint64_t ktrunc, utrunc, missing, unresolved; /* samples with such stacks */
	uint64_t symbols, unnamed;                    /* archived, and frames left unnamed */
};

struct profile;

/* Starts reading /proc/kallsyms (the kernel takes 40-60 ms of CPU to print it)
 * in a thread at the lowest priority, for a profile_start to come: call it
 * early, while the privilege to see the addresses is held. Returns NULL when the
 * file cannot be opened (the profile then names no kernel frame). */
struct profile_kallsyms *profile_kallsyms_start(void);
/* Waits for and frees a snapshot no profile took (NULL is fine). */
void profile_kallsyms_free(struct profile_kallsyms *kj);

/* Loads and attaches what o asks for beside the probes p (sharing their traced
 * set, transport and drop counters) and routes its records from c. What cannot
 * attach is left out: *what says what runs ("cpu-clock 99 Hz, off-CPU"), *missing
 * what could not and why (empty when nothing is missing); both in the
 * profile's memory. Returns 0 (possibly with parts missing), -ENOMEM, or a
 * negative errno when nothing could be attached (*missing says why). */
int profile_start(const struct profile_opts *o, struct probes *p, struct consumer *c,
		  struct profile **out, const char **what, const char **missing);

/* A process event from the consumer: an exec makes the process's mappings stale. */
void profile_proc(struct profile *pf, const struct ks_proc *p);

/* Names the function at file offset off of the file (path: readable, maybe
 * /proc/self/fd/N; build_id hex or ""). Returns 0 with name filled, or a
 * negative errno when it has none. */
typedef int (*profile_resolve_fn)(void *ctx, const char *path, const char *build_id,
				  uint64_t off, char *name, size_t size);

/* After the last drain: adds to the stack table the name of every frame hit,
 * kernel ones from /proc/kallsyms, file ones through resolve. Returns 0 or a
 * negative errno. */
int profile_archive(struct profile *pf, profile_resolve_fn resolve, void *ctx);

void profile_get_stats(const struct profile *pf, struct profile_stats *st);
/* The on-CPU rate in effect (0 when off) and the event ("cycles", "cpu-clock"). */
unsigned profile_hz(const struct profile *pf, const char **event);

/* Detaches and frees (NULL is fine). */
void profile_free(struct profile *pf);

#endif
