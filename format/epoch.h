/* Epochs of a bounded recording: the record that opens each one (its time, where
 * its segments and deltas begin, the events issued before it), kept in the
 * store's meta database under "epoch/" and 16 hex digits of its index (the one
 * binary value there; meta listings leave these keys out). The
 * recorder writes one per epoch and drops the oldest by policy; readers find the
 * window the trace still holds and the checkpoint a restore starts from. */
#ifndef KSIGHT_EPOCH_H
#define KSIGHT_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#define KS_EPOCH_PREFIX "epoch/"
#define KS_EPOCH_KEY_LEN 22 /* "epoch/" + 16 hex digits */
#define KS_EPOCH_KINDS 256

struct ks_epoch {
	uint64_t index;
	uint64_t ts;        /* CLOCK_MONOTONIC ns: the checkpoint that opens it */
	uint64_t delta_seq; /* first delta sequence of its checkpoint (0: no state dirs) */
	uint64_t seq[KS_EPOCH_KINDS];    /* per kind: its first segment sequence */
	uint64_t events[KS_EPOCH_KINDS]; /* per kind: events issued into the trace before it */
};

/* The key of epoch index (KS_EPOCH_KEY_LEN bytes, no NUL). */
void ks_epoch_key(uint64_t index, char key[KS_EPOCH_KEY_LEN]);
/* Returns 1 when key is an epoch key (and its index in *index), else 0. */
int ks_epoch_key_parse(const void *key, size_t klen, uint64_t *index);
/* The value of e, malloc'd. Returns 0, -ENOMEM. */
int ks_epoch_encode(const struct ks_epoch *e, unsigned char **buf, size_t *len);
/* Decodes and checks a value. Returns 0, -KS_ETRUNC, -KS_EMAGIC, -KS_EVERSION,
 * -KS_ECHECKSUM, -KS_ESIZES. */
int ks_epoch_decode(const void *buf, size_t len, struct ks_epoch *e);

#endif
