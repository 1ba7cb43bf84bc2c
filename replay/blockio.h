/* Block I/O from a trace's block rows: per device (requests, bytes, latency
 * percentiles and log2 histogram), per submitting process (kernel threads apart:
 * write-back is theirs, never charged to a guessed process), and the slowest
 * requests (biosnoop's rows). Memory grows with devices and processes only. */
#ifndef KSIGHT_REPLAY_BLOCKIO_H
#define KSIGHT_REPLAY_BLOCKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "replay/hist.h"
#include "replay/iobuckets.h"
#include "util/hmap.h"

#define BLOCKIO_SLOW_MAX 20 /* slowest requests kept */
#define BLOCKIO_NAME_MAX 32

/* REQ_OP_* of the kernel */
enum { BLK_OP_READ = 0, BLK_OP_WRITE = 1, BLK_OP_FLUSH = 2, BLK_OP_DISCARD = 3 };

struct blk_dev {
	uint32_t dev; /* major << 20 | minor */
	char name[BLOCKIO_NAME_MAX]; /* blockio_finish: from the recorder's device list */
	uint64_t reads, writes, others; /* requests (completed parts) */
	uint64_t read_bytes, write_bytes;
	uint64_t queue_ns, service_ns;  /* sums */
	struct ks_hist *lat;            /* queue + service, ns */
	uint64_t log2us[KS_LOG2_SLOTS];
};

struct blk_proc {
	uint32_t pid;
	bool kthread;
	char comm[KS_COMM_MAX];
	uint64_t reads, writes, read_bytes, write_bytes;
	uint64_t time_ns; /* sum of its requests' queue + service time */
};

struct blockio_analysis {
	bool has_pid;
	const struct ks_hmap *pids; /* only these processes (report --cgroup); NULL: all */
	uint32_t pid;
	uint64_t lo, range;
	struct blk_dev *devs;
	size_t ndevs, capdevs;
	struct ks_hmap devmap;  /* dev -> index */
	struct blk_proc *procs; /* sorted by bytes by blockio_finish */
	size_t nprocs, capprocs;
	struct ks_hmap procmap; /* pid -> index (until blockio_finish) */
	struct ks_block slow[BLOCKIO_SLOW_MAX]; /* a min-heap on latency; by time after finish */
	size_t nslow;
	uint64_t requests, bytes, kthread_bytes, errors;
	uint64_t rows; /* read, before filters */
};

/* Prepares b: window [lo, lo + range], --pid. */
void blockio_init(struct blockio_analysis *b, uint64_t lo, uint64_t range, bool has_pid,
		  uint32_t pid);
/* Adds n block rows (and their bytes to bk). Returns 0 or -ENOMEM. */
int blockio_rows(struct blockio_analysis *b, const struct ks_block *rows, size_t n,
		 struct io_buckets *bk);
/* Names the devices from devices_json (the recorder's "major:minor" -> name
 * object; NULL: "major:minor"), sorts processes by bytes and the slow list by
 * time. Returns 0. */
int blockio_finish(struct blockio_analysis *b, const char *devices_json);
/* "R", "W", "F" (flush), "D" (discard), else "?". */
const char *blockio_op_name(uint32_t op);
void blockio_free(struct blockio_analysis *b);

#endif
