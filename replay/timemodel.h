/* Where every thread-second went: each nanosecond of each traced thread's life in
 * exactly one bucket (on a CPU in user or kernel mode, in page faults, waiting for
 * a CPU, or blocked, by what it blocked on), from the scheduler states, the syscall
 * in progress and the kind of fd it waits on. Memory grows with threads, processes
 * and the scheduler transitions a thread makes between two of its syscall exits. */
#ifndef KSIGHT_REPLAY_TIMEMODEL_H
#define KSIGHT_REPLAY_TIMEMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "replay/fdreplay.h"
#include "replay/fdtable.h"
#include "replay/procs.h"
#include "replay/trace.h"
#include "util/hmap.h"

enum tm_bucket {
	TM_CPU_USER = 0, /* on a CPU outside syscalls */
	TM_CPU_KERNEL,   /* on a CPU inside a syscall */
	TM_PAGE_FAULTS,  /* estimated on-CPU time in user page faults; blocked outside syscalls */
	TM_RUN_QUEUE,    /* runnable, waiting for a CPU (inside a syscall too) */
	TM_DISK,         /* blocked on files (paths, regular files, block devices) */
	TM_NETWORK,      /* blocked on sockets, or polling sockets */
	TM_PIPE,         /* blocked on pipes, FIFOs, unix sockets */
	TM_CHILD,        /* wait4, waitid */
	TM_LOCK,         /* futex, flock */
	TM_SLEEP,        /* nanosleep family, pause, sigsuspend */
	TM_POLL,         /* poll/select/epoll or a read on fds of unknown kind */
	TM_OTHER,
	TM_NBUCKETS,
};

/* The resources a class names. */
enum tm_res { TM_RES_CPU = 0, TM_RES_MEM, TM_RES_IO, TM_RES_NET, TM_NRES };

/* One thread's (or, summed, a process's or the trace's) time. */
struct tm_times {
	uint64_t ns[TM_NBUCKETS];
	uint64_t total;      /* the sum of ns[]: thread lifetime in the window */
	/* For the classes: the time each resource took (replay/timemodel.c) */
	double res[TM_NRES];
};

/* Blocked time by what was waited on: syscall nr on object obj. */
struct tm_cause {
	uint32_t nr, obj; /* obj: fdtable object id, 0: none or unknown */
	uint32_t bucket;  /* enum tm_bucket */
	uint64_t ns, calls;
};

/* Scheduler state of a thread between two transitions. */
enum tm_state { TM_ST_ON = 1, TM_ST_RUNQ, TM_ST_BLOCKED, TM_ST_DEAD };

struct tm_mark {
	uint64_t ts;
	uint32_t state; /* enum tm_state from ts on */
	uint32_t fault_ns; /* a switch-out: estimated time in faults of the slice it ends */
};

struct tm_thread {
	uint32_t tid, pid;
	uint32_t rec;         /* tm_finish: record index in the procs, or REPLAY_NONE */
	bool dead, sched_seen;
	uint64_t first_ts;    /* life starts */
	uint64_t floor;       /* nothing before this counts (its process's exec) */
	uint64_t end_ts;      /* life ends (dead), else 0 */
	uint64_t cut;         /* accounted up to here */
	uint32_t cut_state;   /* the state at cut */
	struct tm_mark *marks; /* transitions after cut, by time */
	size_t nmarks, capmarks;
	uint64_t in_ts;       /* switch-in of the current slice */
	uint32_t faults_last;
	uint64_t fault_ns;    /* estimated on-CPU time in faults (SCHED_FAULT_NS per fault) */
	uint64_t faults;
	double win_on[TM_NRES]; /* the current time slice's on-CPU time by resource */
	double win_rq;          /* run-queue wait since the last slice */
	struct tm_times t;
};

struct timemodel {
	uint64_t lo, hi;      /* window: lo <= ts < hi */
	uint64_t base;        /* trace start: a thread seen first has lived since */
	bool has_pid;
	uint32_t pid;
	bool has_sched;       /* scheduler events were applied */

	struct tm_thread *threads;
	size_t nthreads, capthreads;
	struct ks_hmap tidmap; /* tid -> latest thread entry */
	uint32_t tcache[256];  /* tid & 255 -> thread entry + 1 (0: empty) */

	struct tm_cause *causes;
	size_t ncauses, capcauses;
	struct ks_hmap causemap; /* bucket << 56 ^ nr << 32 ^ obj -> index in causes */

	struct ks_hmap epoll;  /* pid << 32 | epfd -> mask of TM_EP_* of its members */
	struct ks_hmap starts; /* pid -> when its life starts (tm_set_start) */
	struct fdreplay fr;    /* tm_run: the fd tables, for the names of the causes */
	bool have_fr;

	uint64_t folded;      /* transitions accounted before their syscall was known */

	/* tm_finish: */
	struct tm_times total;
	struct tm_times *rec; /* per record of the procs */
	size_t nrec;
	uint64_t faults;
};

/* Prepares m: the window [lo, lo + range], --pid, the trace start. Returns 0. */
int tm_init(struct timemodel *m, uint64_t lo, uint64_t range, bool has_pid, uint32_t pid,
	    uint64_t base);

/* Threads of pid do not live before ts (the command ksight launched starts at its
 * exec: what ran before was the launcher's). Call before tm_run. */
int tm_set_start(struct timemodel *m, uint32_t pid, uint64_t ts);

/* Applies one scheduler event. Returns 0 or -ENOMEM. */
int tm_sched(struct timemodel *m, const struct ks_sched *e);

/* Applies one syscall that blocked, when it did, on bucket b (tm_wait_bucket) for
 * object obj. Rows come in the order their calls returned. Returns 0 or -ENOMEM. */
int tm_syscall(struct timemodel *m, const struct ks_syscall *s, enum tm_bucket b, uint32_t obj);

/* Notes an epoll_ctl row (arguments recorded) of the fd table t. */
int tm_epoll_ctl(struct timemodel *m, struct fdtable *t, const struct ks_syscall *s);

/* The bucket a blocked call of s spends its time in, given the object it acts on
 * (NULL: none or unknown); epoll waits look up their members in m. */
enum tm_bucket tm_wait_bucket(const struct timemodel *m, const struct ks_syscall *s,
			      const struct fdt_object *o);

/* Closes every thread's life at end_ts (the trace end), sums threads into the
 * trace's totals and into the records of p. Returns 0 or -ENOMEM. */
int tm_finish(struct timemodel *m, uint64_t end_ts, const struct replay_procs *p);

/* The time of record rec of the procs, or NULL. */
const struct tm_times *tm_record(const struct timemodel *m, uint32_t rec);

/* The cause with the most blocked time in bucket b, or NULL. */
const struct tm_cause *tm_top_cause(const struct timemodel *m, enum tm_bucket b);

struct argindex;

/* Runs the model over t: its scheduler events and syscalls merged in time order,
 * the syscalls' objects from the fd tables replayed over ix and t's process events.
 * Each syscall and sched segment is handed to fn(ctx) as it is read (so the trace
 * is decoded once for every analysis). Then tm_finish. Returns 0, fn's error,
 * -ENOMEM, or a negative error with t->err set. */
int tm_run(struct timemodel *m, struct replay_trace *t, const struct argindex *ix,
	   replay_seg_fn fn, void *ctx);

/* The object of a cause (the unknown object for 0, or without fd tables). */
const struct fdt_object *tm_object(const struct timemodel *m, uint32_t obj);

/* Time calls of syscall nr spent blocked (in every bucket). */
uint64_t tm_blocked_ns(const struct timemodel *m, uint32_t nr);

/* "cpu_user", "disk", ... */
const char *tm_bucket_name(enum tm_bucket b);

void tm_free(struct timemodel *m);

#endif
