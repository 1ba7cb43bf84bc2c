/* util: the one hash map of ksight, for every table the recorder and the replay
 * keep (pids, inodes, path ids, time buckets, chunk hashes): open addressing from
 * a u64 key to a u64 value, both stored inline. A key that is not a number (a
 * path, a pair, a digest) is stored as its 64-bit hash with the value indexing
 * the caller's own array; such maps add with ks_hmap_add and walk the entries of
 * one hash with ks_hmap_next, comparing the real keys, so a collision is never
 * taken for a match. Memory grows with the entries only (load <= 1/2). */
#ifndef KSIGHT_UTIL_HMAP_H
#define KSIGHT_UTIL_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ks_hslot {
	uint64_t key, val;
};

struct ks_hmap {
	struct ks_hslot *slot;
	uint8_t *used;  /* 1 where slot[i] holds an entry */
	size_t cap;     /* power of two, or 0 */
	size_t n;
};

/* A 64-bit mix of an integer key (the map applies it to every key). */
static inline uint64_t ks_hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* The 64-bit hash of len bytes (XXH3), for keys that are not numbers. */
uint64_t ks_hash_bytes(const void *p, size_t len);

/* The value of the first entry with key, or NULL. The pointer is valid until the
 * next add, put or delete. */
static inline uint64_t *ks_hmap_get(const struct ks_hmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, i;

	if (!m->n)
		return NULL;
	for (i = ks_hash_u64(key) & mask; m->used[i]; i = (i + 1) & mask)
		if (m->slot[i].key == key)
			return &m->slot[i].val;
	return NULL;
}

/* The entry with key that follows prev (a pointer ks_hmap_get or ks_hmap_next
 * returned), or NULL: the way through the entries of a multimap. */
uint64_t *ks_hmap_next(const struct ks_hmap *m, uint64_t key, const uint64_t *prev);

/* Sets key -> val, replacing the value of an existing entry with key.
 * Returns 0 or -ENOMEM. */
int ks_hmap_put(struct ks_hmap *m, uint64_t key, uint64_t val);

/* Adds key -> val even when key is present (multimap). Returns 0 or -ENOMEM. */
int ks_hmap_add(struct ks_hmap *m, uint64_t key, uint64_t val);

/* The value of key, inserted as dflt when missing (*added tells, may be NULL).
 * Returns NULL only on ENOMEM. */
uint64_t *ks_hmap_upsert(struct ks_hmap *m, uint64_t key, uint64_t dflt, bool *added);

/* Makes room for n entries in all: until the map holds n, adding does not
 * allocate, so cannot fail. Returns 0 or -ENOMEM. */
int ks_hmap_reserve(struct ks_hmap *m, size_t n);

/* Removes the entry whose value pointer is at (from get/next/upsert). */
void ks_hmap_remove(struct ks_hmap *m, uint64_t *at);

/* Removes the first entry with key; returns whether there was one. */
bool ks_hmap_del(struct ks_hmap *m, uint64_t key);

/* Empties the map, keeping its memory. */
void ks_hmap_clear(struct ks_hmap *m);

/* Frees the map's memory and empties it. */
void ks_hmap_free(struct ks_hmap *m);

/* Every entry, in no particular order: for (size_t i = 0; i < m->cap; i++)
 * if (m->used[i]) ... m->slot[i] ...; or with this macro. */
#define ks_hmap_each(m, i) \
	for (size_t i = 0; i < (m)->cap; i++) \
		if ((m)->used[i])

#endif
