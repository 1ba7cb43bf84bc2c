/* The ring-buffer consumer: drains events into per-kind batches on the calling
 * thread and hands full batches to a writer thread that encodes, compresses and
 * commits them. */
#ifndef KSIGHT_CONSUMER_H
#define KSIGHT_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "bpf/events.h"
#include "format/event.h"
#include "store/store.h"

struct consumer;

/* A handler for ring-buffer records of a type the consumer does not decode
 * itself (probe families added later register theirs). Runs on the drain
 * thread; returns 0 or a negative errno. */
typedef int (*consumer_handler_fn)(void *ctx, const void *data, size_t size);

struct consumer_stats {
	uint64_t events[KS_KIND_MAX];
	uint64_t segments;
	uint64_t segment_bytes; /* encoded, compressed */
	uint64_t perf_lost;     /* records the perf buffer reported lost */
	/* Events of segments that could not be committed (disk full, write error) and
	 * were dropped, per kind; other puts (state-dir deltas) dropped likewise. */
	uint64_t lost_write[KS_KIND_MAX];
	uint64_t lost_puts;
	int write_err;          /* the last commit error met (0: none), e.g. -ENOSPC */
	/* Per-CPU batches received, by what sent them (enum ks_batch_why), and the
	 * largest: what a CPU held back at most. */
	uint64_t batches[KS_BATCH_WHY_MAX];
	uint64_t batch_max_bytes;
	uint64_t batch_max_age_ns; /* the longest a batch's first record waited to be read */
};

struct consumer_opts {
	int fd;             /* ring buffer map, or perf event array with perfbuf */
	bool perfbuf;
	uint64_t perf_bytes; /* perf buffer: total size, split over the CPUs */
	size_t wait_bytes;   /* while commits fail: puts kept up to this (0: 64 MiB) */
};

/* Starts the writer thread on store (which it owns for writing until
 * consumer_finish). Returns 0 or a negative errno. */
int consumer_start(const struct consumer_opts *o, struct ks_store *store,
		   struct consumer **out);
/* Drains what the ring buffer holds now. Returns events drained or a negative errno. */
int consumer_drain(struct consumer *c);
/* Hands partial batches to the writer (so they commit within the commit interval). */
int consumer_flush(struct consumer *c);
/* Drains everything, flushes, stops the writer thread and frees the consumer.
 * Returns 0 or the first error of the writer thread. */
int consumer_finish(struct consumer *c, struct consumer_stats *stats);
/* Routes ring records whose type (low 16 bits) is type to fn. The syscall,
 * process and scheduler types are the consumer's own. Returns 0, -EINVAL. */
int consumer_set_handler(struct consumer *c, unsigned type, consumer_handler_fn fn, void *ctx);
/* Calls fn for every process event drained (drain thread), after it is stored. */
void consumer_on_proc(struct consumer *c, void (*fn)(void *ctx, const struct ks_proc *p),
		      void *ctx);
/* Appends a copy of row (the kind's row struct) to the kind's batch: for
 * producers that are not probes (the /proc sampler). Drain thread only. */
int consumer_add_row(struct consumer *c, unsigned kind, const void *row);
/* Queues a put of key/val into db, done by the writer thread in order with the
 * segments (both are copied). Any thread. Returns 0, -ENOMEM. */
int consumer_put(struct consumer *c, enum ks_db db, const void *key, size_t klen,
		 const void *val, size_t vlen);
/* A call made on the writer thread in order with the puts and segments queued
 * before and after it (bounded recording: epochs, drops, snapshots). fn owns
 * arg (store NULL: the writer stopped on an error; free arg only); it returns 0 or a negative errno (which stops the writer, as a failed
 * put does). */
typedef int (*consumer_call_fn)(void *arg, struct ks_store *store);
int consumer_call(struct consumer *c, consumer_call_fn fn, void *arg);
/* The ring buffer's epoll fd (readable on a forced wake-up). */
int consumer_epoll_fd(struct consumer *c);

#endif
