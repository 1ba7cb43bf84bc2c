/* Column codec (internal to format/): one schema field over n rows <-> the bytes
 * of one segment column. segment.c wraps the columns in the msgpack document. */
#ifndef KSIGHT_COLUMN_H
#define KSIGHT_COLUMN_H

#include <stddef.h>
#include <stdint.h>

#include "format/event.h"

/* Returns the most bytes ks_col_encode can write for n rows of f. */
size_t ks_col_bound(const struct ks_field *f, size_t n);

/* Encodes field f of n rows (row_size apart) into out, which holds at least
 * ks_col_bound(f, n) bytes. aux is the length field of a KS_F_BYTES field
 * (lengths over the field size are clamped to it) or the ref field of a
 * KS_ENC_GAP field, NULL otherwise. Returns the bytes written. */
size_t ks_col_encode(const struct ks_field *f, const struct ks_field *aux,
		     const void *rows, size_t n, size_t row_size, uint8_t *out);

/* Where the decoding of one column stands: rows are decoded a block at a time
 * across all columns, so the block stays in cache while each column fills it. */
/* The width byte of a byte-plane column with this bit: dictionary planes (a
 * table of at most KS_COL_DICT_MAX distinct values, then their indices). */
#define KS_COL_DICT 0x80
#define KS_COL_DICT_MAX 16384

static inline uint64_t ks_dict_hash(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

struct ks_col_cursor {
	const uint8_t *p;
	const uint8_t *end;
	uint64_t prev;        /* last value (delta), last value + ref (gap) */
	const uint8_t *plane; /* KS_ENC_PLANES: plane 0 */
	const uint64_t *dict; /* dictionary planes: the table */
	size_t dict_n;
	size_t count;         /* rows in the column */
	size_t idx;           /* next row */
	unsigned width;       /* planes */
};

/* Starts decoding a column of count rows of f held in col[0..len). dict (room
 * for KS_COL_DICT_MAX values, may be NULL for a field without byte planes) holds
 * a dictionary column's table until the column is decoded. Returns 0, or
 * -KS_ECOUNT / -KS_ERANGE / -KS_EVARINT when a byte-plane column's size, width or
 * table does not fit count rows of the field. */
int ks_col_cursor_init(struct ks_col_cursor *c, const struct ks_field *f, const void *col,
		       size_t len, size_t count, uint64_t *dict);

/* Decodes the next n values of f from c into rows, and for KS_F_BYTES their
 * lengths into aux (the length field; for KS_ENC_GAP aux is the ref field,
 * already decoded for these rows). The column must end exactly after its last
 * row's value: the caller checks c->p == c->end. Returns 0, -KS_ECOUNT (the
 * column ends early), -KS_EVARINT, -KS_ERANGE (a value or length does not fit
 * the field), -KS_ESCHEMA (a NUL inside a string, an unknown field type). */
int ks_col_decode(const struct ks_field *f, const struct ks_field *aux,
		  struct ks_col_cursor *c, void *rows, size_t n, size_t row_size);

#endif
