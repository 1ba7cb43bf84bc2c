/* Scheduler figures from a trace's sched events (switches, wake-ups) and /proc
 * samples: per thread and per process on-CPU time, voluntary and involuntary
 * switches, wake-ups, time slices, off-CPU time, run-queue latency and page faults,
 * the same per process and 1-second bucket (KernelSight's shape), and peak RSS and
 * I/O bytes per process. Memory grows with threads, processes and (process, second)
 * buckets (capped at SCHED_BUCKETS_MAX), never with the number of events. */
#ifndef KSIGHT_REPLAY_SCHED_H
#define KSIGHT_REPLAY_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "replay/hist.h"
#include "replay/procs.h"

#define SCHED_BUCKETS_MAX 100000 /* (process, second) buckets kept; the rest counted */
#define SCHED_TASK_DEAD 0x80     /* TASK_DEAD in a task's __state: its last switch-out */
/* Estimated CPU time of one user page fault, for the share of a time slice spent
 * faulting. What a fault that maps and zeroes a fresh page costs varies with the
 * machine and its state: 0.5-1 us on bare metal; on the 2-vCPU VM here, time slices
 * of a loop touching 1 GiB took 1.5-4 us per fault and 12-14 us per fault within
 * one run (likely guest pages the host had to back too). A slice with at
 * least SCHED_FAULT_DENSE faults and no more than SCHED_FAULT_DENSE_NS of it per
 * fault does little else than fault: it counts in full. Elsewhere a fault counts
 * SCHED_FAULT_NS, at most the slice: one that computes with a few faults barely. */
#define SCHED_FAULT_NS 4000ull
#define SCHED_FAULT_DENSE 64
#define SCHED_FAULT_DENSE_NS 16000ull

/* The on-CPU time in page faults of a slice of ran ns holding faults of them. */
static inline uint64_t sched_fault_ns(uint64_t ran, uint64_t faults)
{
	if (faults >= SCHED_FAULT_DENSE && ran <= faults * SCHED_FAULT_DENSE_NS)
		return ran;
	return faults * SCHED_FAULT_NS < ran ? faults * SCHED_FAULT_NS : ran;
}

/* What one thread (or, summed, one process) did on and off the CPUs. */
struct sched_counts {
	uint64_t on_ns;    /* on-CPU time: switch-in to switch-out */
	uint64_t slices;   /* on-CPU intervals (a time slice each) */
	uint64_t switches; /* switch-outs */
	uint64_t vol;      /* ... not preempted and not runnable: it blocked */
	uint64_t invol;    /* ... preempted, or still runnable (yield, resched) */
	uint64_t wakeups;  /* sched_wakeup and sched_wakeup_new */
	uint64_t runq_ns;  /* wake-up or preemption to the next switch-in */
	uint64_t runq_n;
	uint64_t faults;   /* user page faults */
	uint64_t fault_ns; /* on-CPU time estimated in page faults (SCHED_FAULT_NS) */
	uint64_t life_ns;  /* sched_finish: first to last event (or the trace end) */
};

struct sched_thread {
	uint32_t tid, pid;
	uint32_t proc;     /* index in sched_analysis.procs */
	uint32_t cpu;      /* of its last switch-in */
	bool on_cpu;       /* switched in, not yet out */
	bool dead;         /* its TASK_DEAD switch-out was seen: a new tid user is new */
	bool seen;         /* an event of it was applied */
	uint64_t in_ts;    /* switch-in time, while on_cpu */
	uint64_t wake_ts;  /* entered the run queue; 0: not waiting for a CPU */
	uint64_t first_ts, last_ts;
	uint64_t floor;    /* nothing before it counts: its process's start (sched_set_floor) */
	uint32_t faults_last; /* the cumulative counter at its last switch-out */
	struct sched_counts c;
};

/* A counter the sampler reads cumulatively (/proc/PID/io): the last value before
 * the window and the largest in it. */
struct sched_cum {
	uint64_t before, max;
};

struct sched_proc {
	uint32_t pid;
	uint32_t rec;      /* sched_finish: index in replay_procs.v, or REPLAY_NONE */
	uint32_t older;    /* an earlier process with the same pid, or REPLAY_NONE */
	uint32_t nthreads;
	bool ended;        /* its main thread's TASK_DEAD switch-out was seen */
	bool merged;       /* sched_finish: added into another entry of its record */
	uint64_t first_ts, last_ts;
	struct sched_counts c; /* sched_finish: the sum over its threads */
	uint64_t off_ns;       /* sched_finish: sum over threads of life - on-CPU */
	struct ks_chist *runq; /* run-queue latencies (ns); NULL while there are none */
	uint32_t bucket_cache; /* the bucket of the second starting at sec_lo, or NONE */
	uint64_t sec_lo;
	/* /proc samples in the window */
	uint64_t samples;
	uint64_t first_rss_kb, peak_rss_kb, peak_vsz_kb, max_threads, cpu_ns;
	struct sched_cum read_bytes, write_bytes, rchar, wchar, minflt, majflt;
};

/* One process in one second: KernelSight's sched bucket. */
struct sched_bucket {
	uint64_t sec;   /* seconds since the epoch (CLOCK_MONOTONIC without an offset) */
	uint32_t proc;  /* index in procs */
	uint32_t pid;
	uint64_t switches, vol, invol, wakeups, cpu_ns, slices, faults;
};

struct sched_analysis {
	bool has_pid;
	uint32_t pid;       /* only this process */
	const struct ks_hmap *pids; /* only these (report --cgroup); NULL: has_pid says */
	uint64_t lo, range; /* window: lo <= ts <= lo + range */
	uint64_t base;      /* trace start: a thread first seen leaving a CPU ran since */
	int64_t epoch_off;  /* ns from CLOCK_MONOTONIC to the epoch (0: unknown) */

	struct sched_thread *threads;
	size_t nthreads, capthreads;
	struct ks_hmap tidmap; /* tid -> latest thread entry */
	uint32_t tcache[256]; /* tid & 255 -> thread entry, REPLAY_NONE when empty */

	struct sched_proc *procs;
	size_t nprocs, capprocs;
	struct ks_hmap pidmap; /* pid -> latest process entry */
	struct ks_hmap floors; /* pid -> when it started (sched_set_floor) */

	struct sched_bucket *buckets; /* sorted by (sec, pid) by sched_finish */
	size_t nbuckets, capbuckets;
	struct ks_hmap bucket_map; /* (proc, sec) -> bucket index; key: bucket_key() */
	uint64_t bucket_misses; /* events whose bucket was over SCHED_BUCKETS_MAX */

	struct ks_hist runq;  /* every run-queue latency, ns */
	uint64_t runq_log2us[KS_LOG2_SLOTS];

	uint64_t events, samples; /* applied (selected or not) */
	uint64_t lost_slices; /* a switch-in while already on a CPU: one switch-out lost */

	/* sched_finish: totals over the selected processes */
	struct sched_counts total;
	uint64_t off_ns;
	uint64_t rss_growth_kb; /* sum over processes of peak - first sampled RSS */
	uint64_t peak_rss_kb;   /* sum over processes of their peak RSS */
	uint64_t end_ts;
	uint32_t *rec_proc;     /* record index -> process entry (REPLAY_NONE: none) */
	size_t nrec;
};

/* Prepares s: window [lo, lo + range], --pid, the trace start. Returns 0. */
int sched_init(struct sched_analysis *s, uint64_t lo, uint64_t range, bool has_pid,
	       uint32_t pid, uint64_t base);

/* The threads of pid, when first seen in mid-life, do not live before ts: the
 * command ksight launched starts at its exec (what ran before was the
 * launcher's). Call before the events. Returns 0 or -ENOMEM. */
int sched_set_floor(struct sched_analysis *s, uint32_t pid, uint64_t ts);

/* Applies n sched events in stored order. Returns 0 or -ENOMEM. */
int sched_events(struct sched_analysis *s, const struct ks_sched *rows, size_t n);

/* Applies n /proc samples. Returns 0 or -ENOMEM. */
int sched_samples(struct sched_analysis *s, const struct ks_sample *rows, size_t n);

/* Closes the slices still open at end_ts (the trace end), sums threads into their
 * processes, matches processes with their records in p, and sorts the buckets.
 * Returns 0 or -ENOMEM. */
int sched_finish(struct sched_analysis *s, uint64_t end_ts, const struct replay_procs *p);

/* Returns the process entry of record rec of p (after sched_finish), or NULL. */
const struct sched_proc *sched_find_record(const struct sched_analysis *s, uint32_t rec);

/* Returns the latest process entry of pid, or NULL. */
const struct sched_proc *sched_find_pid(const struct sched_analysis *s, uint32_t pid);

/* Returns the epoch second of a CLOCK_MONOTONIC ts (the bucket it falls in). */
uint64_t sched_sec(const struct sched_analysis *s, uint64_t ts);

/* Returns the last CLOCK_MONOTONIC ns of epoch second sec (for the comm a process
 * had then). */
uint64_t sched_sec_last_ns(const struct sched_analysis *s, uint64_t sec);

/* Returns true when the trace had scheduler events. */
static inline bool sched_available(const struct sched_analysis *s)
{
	return s->events > 0;
}

/* Frees everything s holds. */
void sched_free(struct sched_analysis *s);

#endif
