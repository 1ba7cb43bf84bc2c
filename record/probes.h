/* Loading and attaching the BPF probes (the embedded skeleton). */
#ifndef KSIGHT_PROBES_H
#define KSIGHT_PROBES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/events.h"

struct probes_opts {
	uint64_t ring_bytes; /* ring buffer size, a power of two >= page size */
	bool trace_all;
	bool sched; /* scheduler and page-fault probes too */
	const char *btf_path; /* BTF for CO-RE relocations; NULL: the system's */
};

struct probes;

/* Opens, loads and attaches every probe. On failure *why names the step that
 * failed. Returns 0 or a negative errno. */
int probes_open(const struct probes_opts *o, struct probes **out, const char **why);
/* Adds the task behind pidfd to the traced set (its children follow). */
int probes_trace_task(struct probes *p, int pidfd);
/* The ring buffer map's fd, for the consumer. */
int probes_ring_fd(struct probes *p);
/* The maps every probe family shares, for families loaded elsewhere
 * (bpf_map__reuse_fd before their load). */
void probes_shared_fds(struct probes *p, int *traced_fd, int *ring_fd, int *drops_fd);
/* Sums the per-CPU drop counters into drops[KS_DROP_MAX]. */
int probes_read_drops(struct probes *p, uint64_t drops[KS_DROP_MAX]);
/* A comma-separated list of the attached probes, for the trace metadata. */
const char *probes_describe(struct probes *p);
void probes_close(struct probes *p);

#endif
