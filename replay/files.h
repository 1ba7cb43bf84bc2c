/* Where the I/O went: every syscall on an fd or a path attributed, through the
 * replayed fd tables, to the object it acts on (file, socket, pipe), with opens,
 * reads, writes, bytes, errors and time per object, and file bytes per process
 * and second. */
#ifndef KSIGHT_REPLAY_FILES_H
#define KSIGHT_REPLAY_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "replay/argindex.h"
#include "replay/fdreplay.h"
#include "replay/sched.h"
#include "replay/trace.h"
#include "util/hmap.h"

struct file_stat {
	uint32_t obj; /* fdtable object id */
	uint64_t opens, reads, read_bytes, writes, write_bytes, errors, time_ns;
};

struct file_bucket {
	uint64_t sec;
	uint32_t pid;
	uint64_t read_bytes, write_bytes;
};

struct files_analysis {
	bool has_pid;
	const struct ks_hmap *pids; /* report --cgroup: only these processes */
	uint32_t pid;
	uint64_t lo, range;           /* window, as struct analysis has it */
	const struct sched_analysis *sched; /* for the seconds of the buckets */
	bool have_args;               /* the trace recorded arguments */
	struct argindex ix;
	struct fdreplay fr;
	struct file_stat *st;         /* indexed by object id */
	size_t nst;
	struct file_bucket *bk;
	size_t nbk, capbk;
	struct ks_hmap bkmap;         /* hash(sec, pid) -> index in bk (multimap) */
	size_t lastbk;                /* the bucket added to last (nbk: none) */
	struct file_stat **sorted;    /* files only, by time (files_finish) */
	size_t nsorted;
};

/* Loads t's arguments and process events into f (initialised here); the
 * syscalls follow through files_syscalls. Returns 0, -ENOMEM, or t's error. */
int files_load(struct files_analysis *f, struct replay_trace *t, uint64_t lo, uint64_t range,
	       bool has_pid, uint32_t pid, const struct sched_analysis *sched);
/* Replays n syscall rows. Returns 0 or -ENOMEM. */
int files_syscalls(struct files_analysis *f, const struct ks_syscall *rows, size_t n);
/* Orders the files by time. Returns 0 or -ENOMEM. */
int files_finish(struct files_analysis *f);
/* The object behind a file_stat. */
const struct fdt_object *files_object(const struct files_analysis *f, const struct file_stat *s);
/* File bytes of process pid in second sec (0, 0 when none). */
void files_bucket(const struct files_analysis *f, uint64_t sec, uint32_t pid, uint64_t *rb,
		  uint64_t *wb);
void files_free(struct files_analysis *f);

#endif
