/* util: byte order at unaligned addresses, the one set of helpers for every
 * on-disk field: little-endian values (segments, deltas), big-endian keys (LMDB
 * sorts them bytewise, so a big-endian number sorts by value) and native loads
 * (LMDB's own pages). The compiler makes each a single load or store. */
#ifndef KSIGHT_UTIL_BYTES_H
#define KSIGHT_UTIL_BYTES_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t ks_load16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t ks_load32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t ks_load64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t ks_get_le16(const void *p) { return le16toh(ks_load16(p)); }
static inline uint32_t ks_get_le32(const void *p) { return le32toh(ks_load32(p)); }
static inline uint64_t ks_get_le64(const void *p) { return le64toh(ks_load64(p)); }
static inline uint32_t ks_get_be32(const void *p) { return be32toh(ks_load32(p)); }
static inline uint64_t ks_get_be64(const void *p) { return be64toh(ks_load64(p)); }

static inline void ks_put_le16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void ks_put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void ks_put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline void ks_put_be32(void *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void ks_put_be64(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

#endif
