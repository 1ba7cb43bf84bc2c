/* Column codec: turns one field of a batch of rows into LEB128 varints (zigzag
 * for signed and delta fields) or length-prefixed strings, and back. The loops are
 * specialised per field type and encoding: they run once per event. */
#include <stdbool.h>
#include <string.h>

#include "format/column.h"
#include "format/kserr.h"
#include "format/varint.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Integers travel as uint64: 32-bit signed values sign-extended, so a delta
 * between two of them is the same whatever their width. */
ALWAYS_INLINE uint64_t load_int(const uint8_t *p, unsigned type)
{
	uint32_t u32;
	int32_t s32;
	uint64_t u64;

	switch (type) {
	case KS_F_U32:
		memcpy(&u32, p, sizeof(u32));
		return u32;
	case KS_F_S32:
		memcpy(&s32, p, sizeof(s32));
		return (uint64_t)(int64_t)s32;
	default:
		memcpy(&u64, p, sizeof(u64));
		return u64;
	}
}

ALWAYS_INLINE bool fits_int(uint64_t v, unsigned type)
{
	switch (type) {
	case KS_F_U32:
		return v <= UINT32_MAX;
	case KS_F_S32:
		return (int64_t)v >= INT32_MIN && (int64_t)v <= INT32_MAX;
	default:
		return true;
	}
}

ALWAYS_INLINE void store_int(uint8_t *p, unsigned type, uint64_t v)
{
	uint32_t u32 = (uint32_t)v;

	if (type == KS_F_U32 || type == KS_F_S32)
		memcpy(p, &u32, sizeof(u32));
	else
		memcpy(p, &v, sizeof(v));
}

ALWAYS_INLINE bool is_signed(unsigned type)
{
	return type == KS_F_S32 || type == KS_F_S64;
}

ALWAYS_INLINE size_t encode_ints(const uint8_t *row, size_t n, size_t stride,
				 unsigned type, unsigned enc, uint8_t *out)
{
	uint8_t *p = out;
	uint64_t prev = 0;

	for (size_t i = 0; i < n; i++, row += stride) {
		uint64_t v = load_int(row, type);
		uint64_t u;

		if (enc == KS_ENC_DELTA) {
			u = ks_zigzag((int64_t)(v - prev));
			prev = v;
		} else {
			u = is_signed(type) ? ks_zigzag((int64_t)v) : v;
		}
		p = ks_uvarint_put(p, u);
	}
	return (size_t)(p - out);
}

/* One decoded value into its row: undo delta and zigzag, check the width. */
ALWAYS_INLINE int put_value(uint8_t *row, uint64_t u, uint64_t *prev,
			    unsigned type, unsigned enc)
{
	uint64_t v;

	if (enc == KS_ENC_DELTA) {
		v = *prev + (uint64_t)ks_unzigzag(u);
		*prev = v;
	} else {
		v = is_signed(type) ? (uint64_t)ks_unzigzag(u) : u;
	}
	if (!fits_int(v, type))
		return -KS_ERANGE;
	store_int(row, type, v);
	return 0;
}

ALWAYS_INLINE int decode_ints(struct ks_col_cursor *c, uint8_t *row, size_t n,
			      size_t stride, unsigned type, unsigned enc)
{
	const uint8_t *p = c->p, *end = c->end;
	uint64_t prev = c->prev;
	int err = 0;

	for (size_t i = 0; i < n; i++, row += stride) {
		uint64_t u;

		err = ks_uvarint_get(&p, end, &u);
		if (!err)
			err = put_value(row, u, &prev, type, enc);
		if (err)
			break;
	}
	c->p = p;
	c->prev = prev;
	return err;
}

static size_t field_len(const struct ks_field *f, const struct ks_field *len_f,
			const uint8_t *row)
{
	uint32_t len;

	if (f->type == KS_F_STR)
		return strnlen((const char *)row + f->offset, f->size);
	memcpy(&len, row + len_f->offset, sizeof(len));
	return len < f->size ? len : f->size;
}

static size_t encode_bytes(const struct ks_field *f, const struct ks_field *len_f,
			   const uint8_t *row, size_t n, size_t stride,
			   uint8_t *out)
{
	uint8_t *p = out;

	for (size_t i = 0; i < n; i++, row += stride) {
		size_t len = field_len(f, len_f, row);

		p = ks_uvarint_put(p, len);
		memcpy(p, row + f->offset, len);
		p += len;
	}
	return (size_t)(p - out);
}

static int decode_bytes(const struct ks_field *f, const struct ks_field *len_f,
			struct ks_col_cursor *c, uint8_t *row, size_t n,
			size_t stride)
{
	const uint8_t *p = c->p, *end = c->end;
	int err = 0;

	for (size_t i = 0; i < n; i++, row += stride) {
		uint64_t len;
		uint32_t len32;

		err = ks_uvarint_get(&p, end, &len);
		if (err)
			break;
		if (len > f->size) {
			err = -KS_ERANGE;
			break;
		}
		if (len > (size_t)(end - p)) {
			err = -KS_ECOUNT;
			break;
		}
		/* A string is stored trimmed at its first NUL: one inside it would
		 * decode into a row that does not encode back to the same column. */
		if (f->type == KS_F_STR && memchr(p, 0, len)) {
			err = -KS_ESCHEMA;
			break;
		}
		memcpy(row + f->offset, p, len);
		memset(row + f->offset + len, 0, f->size - len);
		p += len;
		if (len_f) {
			len32 = (uint32_t)len;
			memcpy(row + len_f->offset, &len32, sizeof(len32));
		}
	}
	c->p = p;
	return err;
}

/* Returns the most bytes ks_col_encode can write for n rows of f. */
size_t ks_col_bound(const struct ks_field *f, size_t n)
{
	if (f->type == KS_F_STR || f->type == KS_F_BYTES)
		return n * (KS_VARINT_MAX + (size_t)f->size);
	return n * KS_VARINT_MAX;
}

#define CASE(t, e) ((t) * 2 + (e))

/* Encodes field f of n rows into out; returns the bytes written. */
size_t ks_col_encode(const struct ks_field *f, const struct ks_field *len_f,
		     const void *rows, size_t n, size_t row_size, uint8_t *out)
{
	const uint8_t *row = (const uint8_t *)rows + f->offset;

	switch (CASE(f->type, f->enc)) {
	case CASE(KS_F_U32, KS_ENC_PLAIN):
		return encode_ints(row, n, row_size, KS_F_U32, KS_ENC_PLAIN, out);
	case CASE(KS_F_U32, KS_ENC_DELTA):
		return encode_ints(row, n, row_size, KS_F_U32, KS_ENC_DELTA, out);
	case CASE(KS_F_S32, KS_ENC_PLAIN):
		return encode_ints(row, n, row_size, KS_F_S32, KS_ENC_PLAIN, out);
	case CASE(KS_F_S32, KS_ENC_DELTA):
		return encode_ints(row, n, row_size, KS_F_S32, KS_ENC_DELTA, out);
	case CASE(KS_F_U64, KS_ENC_PLAIN):
		return encode_ints(row, n, row_size, KS_F_U64, KS_ENC_PLAIN, out);
	case CASE(KS_F_U64, KS_ENC_DELTA):
		return encode_ints(row, n, row_size, KS_F_U64, KS_ENC_DELTA, out);
	case CASE(KS_F_S64, KS_ENC_PLAIN):
		return encode_ints(row, n, row_size, KS_F_S64, KS_ENC_PLAIN, out);
	case CASE(KS_F_S64, KS_ENC_DELTA):
		return encode_ints(row, n, row_size, KS_F_S64, KS_ENC_DELTA, out);
	case CASE(KS_F_STR, KS_ENC_PLAIN):
	case CASE(KS_F_BYTES, KS_ENC_PLAIN):
		return encode_bytes(f, len_f, rows, n, row_size, out);
	default:
		return 0; /* not a field of any table: tests/test_schema.c */
	}
}

/* Decodes the next n values of f from c into rows. */
int ks_col_decode(const struct ks_field *f, const struct ks_field *len_f,
		  struct ks_col_cursor *c, void *rows, size_t n, size_t row_size)
{
	uint8_t *row = (uint8_t *)rows + f->offset;

	switch (CASE(f->type, f->enc)) {
	case CASE(KS_F_U32, KS_ENC_PLAIN):
		return decode_ints(c, row, n, row_size, KS_F_U32, KS_ENC_PLAIN);
	case CASE(KS_F_U32, KS_ENC_DELTA):
		return decode_ints(c, row, n, row_size, KS_F_U32, KS_ENC_DELTA);
	case CASE(KS_F_S32, KS_ENC_PLAIN):
		return decode_ints(c, row, n, row_size, KS_F_S32, KS_ENC_PLAIN);
	case CASE(KS_F_S32, KS_ENC_DELTA):
		return decode_ints(c, row, n, row_size, KS_F_S32, KS_ENC_DELTA);
	case CASE(KS_F_U64, KS_ENC_PLAIN):
		return decode_ints(c, row, n, row_size, KS_F_U64, KS_ENC_PLAIN);
	case CASE(KS_F_U64, KS_ENC_DELTA):
		return decode_ints(c, row, n, row_size, KS_F_U64, KS_ENC_DELTA);
	case CASE(KS_F_S64, KS_ENC_PLAIN):
		return decode_ints(c, row, n, row_size, KS_F_S64, KS_ENC_PLAIN);
	case CASE(KS_F_S64, KS_ENC_DELTA):
		return decode_ints(c, row, n, row_size, KS_F_S64, KS_ENC_DELTA);
	case CASE(KS_F_STR, KS_ENC_PLAIN):
	case CASE(KS_F_BYTES, KS_ENC_PLAIN):
		return decode_bytes(f, len_f, c, rows, n, row_size);
	default:
		return -KS_ESCHEMA;
	}
}
