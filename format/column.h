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
 * ks_col_bound(f, n) bytes. len_f is the length field of a KS_F_BYTES field
 * (lengths over the field size are clamped to it), NULL otherwise.
 * Returns the bytes written. */
size_t ks_col_encode(const struct ks_field *f, const struct ks_field *len_f,
		     const void *rows, size_t n, size_t row_size, uint8_t *out);

/* Decodes exactly n values of f from col[0, len) into rows, and for KS_F_BYTES
 * their lengths into len_f. Returns 0, -KS_ECOUNT (fewer or more than n values),
 * -KS_EVARINT, -KS_ERANGE (a value or length does not fit the field),
 * -KS_ESCHEMA (a NUL inside a string, an unknown field type). */
int ks_col_decode(const struct ks_field *f, const struct ks_field *len_f,
		  const uint8_t *col, size_t len, void *rows, size_t n,
		  size_t row_size);

#endif
