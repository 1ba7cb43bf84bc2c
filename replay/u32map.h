/* A small open-addressing map from u32 keys (pids, tids) to u32 indexes into the
 * caller's own array. Memory grows with the number of keys only. */
#ifndef KSIGHT_REPLAY_U32MAP_H
#define KSIGHT_REPLAY_U32MAP_H

#include <stddef.h>
#include <stdint.h>

#define U32MAP_NONE UINT32_MAX

struct u32map {
	uint32_t *keys;
	uint32_t *vals; /* U32MAP_NONE marks an empty slot */
	size_t cap;     /* power of two, or 0 */
	size_t n;
};

/* Returns the value stored for key, or U32MAP_NONE. */
uint32_t u32map_get(const struct u32map *m, uint32_t key);
/* Stores key -> val (val != U32MAP_NONE), replacing any old value.
 * Returns 0 or -ENOMEM. */
int u32map_put(struct u32map *m, uint32_t key, uint32_t val);
/* Frees the map's memory and empties it. */
void u32map_free(struct u32map *m);

#endif
