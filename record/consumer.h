/* The ring-buffer consumer: drains events into per-kind batches on the calling
 * thread and hands full batches to a writer thread that encodes, compresses and
 * commits them. */
#ifndef KSIGHT_CONSUMER_H
#define KSIGHT_CONSUMER_H

#include <stdint.h>

#include "format/event.h"

struct ks_store;
struct consumer;

struct consumer_stats {
	uint64_t events[KS_KIND_MAX];
	uint64_t segments;
	uint64_t segment_bytes; /* encoded, compressed */
};

/* Starts the writer thread on store (which it owns for writing until
 * consumer_finish). Returns 0 or a negative errno. */
int consumer_start(int ring_fd, struct ks_store *store, struct consumer **out);
/* Drains what the ring buffer holds now. Returns events drained or a negative errno. */
int consumer_drain(struct consumer *c);
/* Hands partial batches to the writer (so they commit within the commit interval). */
int consumer_flush(struct consumer *c);
/* Drains everything, flushes, stops the writer thread and frees the consumer.
 * Returns 0 or the first error of the writer thread. */
int consumer_finish(struct consumer *c, struct consumer_stats *stats);
/* The ring buffer's epoll fd (readable on a forced wake-up). */
int consumer_epoll_fd(struct consumer *c);

#endif
