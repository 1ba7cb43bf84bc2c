/* Linear probing with a multiplicative hash, kept at most half full. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/u32map.h"

static size_t slot_of(uint32_t key, size_t cap)
{
	return (size_t)(((uint64_t)key * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

uint32_t u32map_get(const struct u32map *m, uint32_t key)
{
	if (!m->cap)
		return U32MAP_NONE;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->vals[i] == U32MAP_NONE)
			return U32MAP_NONE;
		if (m->keys[i] == key)
			return m->vals[i];
	}
}

static void insert(uint32_t *keys, uint32_t *vals, size_t cap, uint32_t key, uint32_t val)
{
	size_t i = slot_of(key, cap);

	while (vals[i] != U32MAP_NONE && keys[i] != key)
		i = (i + 1) & (cap - 1);
	keys[i] = key;
	vals[i] = val;
}

static int grow(struct u32map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint32_t *keys = malloc(cap * sizeof(*keys));
	uint32_t *vals = malloc(cap * sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	memset(vals, 0xff, cap * sizeof(*vals));
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] != U32MAP_NONE)
			insert(keys, vals, cap, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int u32map_put(struct u32map *m, uint32_t key, uint32_t val)
{
	int err;

	if ((m->n + 1) * 2 > m->cap && (err = grow(m)))
		return err;
	if (u32map_get(m, key) == U32MAP_NONE)
		m->n++;
	insert(m->keys, m->vals, m->cap, key, val);
	return 0;
}

void u32map_free(struct u32map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
