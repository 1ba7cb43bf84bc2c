/* LEB128 varints and zigzag, the integer encoding of segment columns. Inline:
 * the column loops run once per event on both the record and the report path. */
#ifndef KSIGHT_VARINT_H
#define KSIGHT_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "format/kserr.h"

#define KS_VARINT_MAX 10 /* bytes of the longest 64-bit varint */

static inline uint64_t ks_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t ks_unzigzag(uint64_t u)
{
	return (int64_t)((u >> 1) ^ -(u & 1));
}

/* Writes v at p (at most KS_VARINT_MAX bytes); returns the end of what it
 * wrote. (A branch-free version that spreads the 7-bit groups with shifts and
 * one 8-byte store measured slower on syscall columns: bench/SEGMENT_LAYOUT.md.) */
static inline uint8_t *ks_uvarint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)v | 0x80;
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* ks_uvarint_get near the end of a column: byte by byte, bounds checked. */
static inline int ks_uvarint_get_slow(const uint8_t **pp, const uint8_t *end,
				      uint64_t *out)
{
	const uint8_t *p = *pp;
	size_t avail = (size_t)(end - p);
	const uint8_t *lim = p + (avail < KS_VARINT_MAX ? avail : KS_VARINT_MAX);
	uint64_t v = 0;
	unsigned shift = 0;

	while (p < lim) {
		uint8_t b = *p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80) {
			if (shift == 63 && b > 1)
				return -KS_EVARINT;
			*out = v;
			*pp = p;
			return 0;
		}
		shift += 7;
	}
	return avail ? -KS_EVARINT : -KS_ECOUNT;
}

#define KS_VARINT_STEP(i)                                                      \
	do {                                                                   \
		b = p[i];                                                      \
		v |= (b & 0x7f) << (7 * (i));                                  \
		if (b < 0x80) {                                                \
			*out = v;                                              \
			*pp = p + (i) + 1;                                     \
			return 0;                                              \
		}                                                              \
	} while (0)

/* A varint of two bytes or more, with KS_VARINT_MAX bytes readable at *pp:
 * unrolled, without a bounds check per byte. */
static inline __attribute__((always_inline)) int
ks_uvarint_get_long(const uint8_t **pp, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = p[0] & 0x7f, b;

	KS_VARINT_STEP(1);
	KS_VARINT_STEP(2);
	KS_VARINT_STEP(3);
	KS_VARINT_STEP(4);
	KS_VARINT_STEP(5);
	KS_VARINT_STEP(6);
	KS_VARINT_STEP(7);
	KS_VARINT_STEP(8);
	b = p[9];
	if (b > 1) /* a continuation bit, or bits past 64 */
		return -KS_EVARINT;
	*out = v | b << 63;
	*pp = p + KS_VARINT_MAX;
	return 0;
}

/* Reads one varint from [*pp, end) and advances *pp past it. Returns 0,
 * -KS_ECOUNT when *pp is already at end (no value left), -KS_EVARINT when the
 * varint runs into end, is longer than KS_VARINT_MAX bytes or overflows 64 bits.
 * Inlined into every column loop: it runs once per value the report reads. */
static inline __attribute__((always_inline)) int
ks_uvarint_get(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;

	if (__builtin_expect(end - p < KS_VARINT_MAX, 0))
		return ks_uvarint_get_slow(pp, end, out);
	if (p[0] < 0x80) {
		*out = p[0];
		*pp = p + 1;
		return 0;
	}
	return ks_uvarint_get_long(pp, out);
}

#undef KS_VARINT_STEP

#endif
