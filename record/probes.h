/* Loading and attaching the BPF probes (the embedded skeletons, or a custom
 * object), with fallbacks for kernels that lack a feature. */
#ifndef KSIGHT_PROBES_H
#define KSIGHT_PROBES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/events.h"
#include "record/features.h"

struct probes_opts {
	uint64_t ring_bytes;    /* event buffer size, a power of two >= page size */
	bool sched;             /* scheduler and page-fault probes too */
	bool trace_all;         /* -a: every task but the recorder's */
	uint32_t cg_count;      /* --cgroup: tasks in these cgroups v2 (or below) */
	const uint64_t *cg_ids; /* cg_count ids (at most KS_CGROUP_MAX) ... */
	const uint32_t *cg_levels; /* ... and their depths below the root */
	bool no_args;           /* leave out syscall arguments */
	const char *btf_path;   /* BTF for CO-RE relocations; NULL: the system's */
	const char *custom_obj; /* --ebpf-program: load this object for the syscall family */
	enum probe_attach attach;
	enum probe_set set;
	enum probe_transport transport;
	bool no_batch;          /* syscall records one by one, not in per-CPU batches */
	bool no_cache;          /* no per-CPU in-flight cache (task storage each time) */
};

struct probes;
struct loader;

/* Opens, loads and attaches every probe as the plan of record/features.h says
 * (tp_btf -> raw tracepoint -> classic tracepoint, task storage -> hash map,
 * ring buffer -> perf buffer, page faults when the kernel has the tracepoint);
 * when a planned kind fails to load after all, plans again without it (each step
 * logged under --debug). On failure *why names the step that failed (static or
 * in p's buffer). Returns 0 or a negative errno: -EPERM when no privilege lets
 * BPF load, -EOPNOTSUPP when the plan finds the kernel lacks what is needed (or
 * the request cannot hold), *why then being the plan's one line. */
int probes_open(const struct probes_opts *o, struct probes **out, const char **why);
/* Adds a thread (its process tgid, its tid, and a pidfd of the thread for task
 * storage) to the traced set; its children follow. */
int probes_trace_task(struct probes *p, pid_t tgid, pid_t tid, int pidfd);
/* The event transport's map fd (ring buffer or perf event array). */
int probes_event_fd(struct probes *p);
void probes_get_mode(struct probes *p, struct probes_mode *m);
/* The loader the families went through, for families loaded elsewhere (the
 * files probes): its knobs, BTF and the maps they share. */
struct loader *probes_loader(struct probes *p);
/* Sums the per-CPU drop counters into drops[KS_DROP_MAX]. */
int probes_read_drops(struct probes *p, uint64_t drops[KS_DROP_MAX]);
/* Makes every CPU send the syscall records its batch holds (the calling thread
 * runs once on each CPU: each move is a task switch there). Returns 0 or a
 * negative errno. */
int probes_flush_batches(struct probes *p);
/* A comma-separated list of the attached probes, for the trace metadata. */
const char *probes_describe(struct probes *p);
void probes_close(struct probes *p);

#endif
