/* util: the open-addressing hash map (see hmap.h). Linear probing; deletion
 * shifts the following entries back, so no tombstones pile up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/hmap.h"

uint64_t ks_hash_bytes(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

static int rehash(struct ks_hmap *m, size_t ncap)
{
	struct ks_hmap n = { .cap = ncap };

	if (ncap > SIZE_MAX / sizeof(*n.slot))
		return -ENOMEM;
	n.slot = malloc(ncap * sizeof(*n.slot));
	n.used = calloc(ncap, 1);
	if (!n.slot || !n.used) {
		free(n.slot);
		free(n.used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->used[i])
			continue;
		for (j = ks_hash_u64(m->slot[i].key) & (ncap - 1); n.used[j]; j = (j + 1) & (ncap - 1))
			;
		n.slot[j] = m->slot[i];
		n.used[j] = 1;
	}
	n.n = m->n;
	free(m->slot);
	free(m->used);
	*m = n;
	return 0;
}

int ks_hmap_reserve(struct ks_hmap *m, size_t n)
{
	size_t cap = m->cap ? m->cap : 16;

	if (n > SIZE_MAX / 4)
		return -ENOMEM;
	while (n * 2 > cap)
		cap *= 2;
	return cap == m->cap ? 0 : rehash(m, cap);
}

/* The free slot key goes to, after making room. */
static int insert(struct ks_hmap *m, uint64_t key, uint64_t val, uint64_t **at)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		int err = ks_hmap_reserve(m, m->n + 1);

		if (err)
			return err;
	}
	for (i = ks_hash_u64(key) & (m->cap - 1); m->used[i]; i = (i + 1) & (m->cap - 1))
		;
	m->slot[i].key = key;
	m->slot[i].val = val;
	m->used[i] = 1;
	m->n++;
	if (at)
		*at = &m->slot[i].val;
	return 0;
}

uint64_t *ks_hmap_next(const struct ks_hmap *m, uint64_t key, const uint64_t *prev)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)((const struct ks_hslot *)((const char *)prev -
						      offsetof(struct ks_hslot, val)) - m->slot);

	for (i = (i + 1) & mask; m->used[i]; i = (i + 1) & mask)
		if (m->slot[i].key == key)
			return &m->slot[i].val;
	return NULL;
}

int ks_hmap_put(struct ks_hmap *m, uint64_t key, uint64_t val)
{
	uint64_t *v = ks_hmap_get(m, key);

	if (v) {
		*v = val;
		return 0;
	}
	return insert(m, key, val, NULL);
}

int ks_hmap_add(struct ks_hmap *m, uint64_t key, uint64_t val)
{
	return insert(m, key, val, NULL);
}

uint64_t *ks_hmap_upsert(struct ks_hmap *m, uint64_t key, uint64_t dflt, bool *added)
{
	uint64_t *v = ks_hmap_get(m, key);

	if (added)
		*added = !v;
	if (!v && insert(m, key, dflt, &v))
		return NULL;
	return v;
}

void ks_hmap_remove(struct ks_hmap *m, uint64_t *at)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)((struct ks_hslot *)((char *)at - offsetof(struct ks_hslot, val)) - m->slot);
	size_t j = i;

	m->used[i] = 0;
	m->n--;
	/* Shift back every entry of the run after i that may not stay past the hole. */
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->used[j])
			return;
		home = ks_hash_u64(m->slot[j].key) & mask;
		/* j stays where it is when its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		m->slot[i] = m->slot[j];
		m->used[i] = 1;
		m->used[j] = 0;
		i = j;
	}
}

bool ks_hmap_del(struct ks_hmap *m, uint64_t key)
{
	uint64_t *v = ks_hmap_get(m, key);

	if (v)
		ks_hmap_remove(m, v);
	return v != NULL;
}

void ks_hmap_clear(struct ks_hmap *m)
{
	if (m->cap)
		memset(m->used, 0, m->cap);
	m->n = 0;
}

void ks_hmap_free(struct ks_hmap *m)
{
	free(m->slot);
	free(m->used);
	memset(m, 0, sizeof(*m));
}
