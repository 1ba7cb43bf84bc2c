/* Column codec: turns one field of a batch of rows into LEB128 varints (zigzag
 * for signed, delta and gap fields) or fixed-width byte planes, or
 * length-prefixed strings, and back. The loops are
 * specialised per field type and encoding: they run once per event. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "format/column.h"
#include "format/kserr.h"
#include "format/sysargs.h"
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

/* KS_ENC_SYSRET: what a syscall row's ret is expected to be, the byte count it
 * asked for when it is a read or a write whose arguments were recorded (it mostly
 * returns that), else 0. row is the start of the struct ks_syscall. */
ALWAYS_INLINE int64_t sysret_expected(const uint8_t *row)
{
	const struct ks_syscall *r = (const struct ks_syscall *)row;
	const struct ks_sysargs *a;
	int64_t arg;
	int slot = -1;

	if (!(r->flags & KS_SYSF_ARGS) || !(a = ks_sysargs_get(r->nr)) ||
	    (a->role != KS_R_READ && a->role != KS_R_WRITE))
		return 0;
	for (unsigned i = 0; i < a->nargs && slot < 0; i++)
		if (a->arg[i] == KS_A_SIZE)
			slot = ks_sysargs_slot(a, i);
	if (slot < 0)
		return 0;
	memcpy(&arg, row + offsetof(struct ks_syscall, arg0) + (size_t)slot * sizeof(arg),
	       sizeof(arg));
	return arg;
}

/* v[i] -> the unsigned number stored for it, per the field's base encoding.
 * prev carries the previous value (delta) or previous value + ref (gap). For
 * KS_ENC_SYSRET row + ref_off is the start of the row. */
ALWAYS_INLINE uint64_t to_stored(uint64_t v, const uint8_t *row, ptrdiff_t ref_off,
				 uint64_t *prev, unsigned type, unsigned base)
{
	uint64_t u;

	switch (base) {
	case KS_ENC_DELTA:
		u = ks_zigzag((int64_t)(v - *prev));
		*prev = v;
		return u;
	case KS_ENC_GAP:
		u = ks_zigzag((int64_t)(v - *prev));
		*prev = v + load_int(row + ref_off, KS_F_U64);
		return u;
	case KS_ENC_SYSRET:
		return ks_zigzag((int64_t)(v - (uint64_t)sysret_expected(row + ref_off)));
	default:
		return is_signed(type) ? ks_zigzag((int64_t)v) : v;
	}
}

ALWAYS_INLINE size_t encode_ints(const uint8_t *row, size_t n, size_t stride,
				 ptrdiff_t ref_off, unsigned type, unsigned base,
				 uint8_t *out)
{
	uint8_t *p = out;
	uint64_t prev = 0;

	for (size_t i = 0; i < n; i++, row += stride)
		p = ks_uvarint_put(p, to_stored(load_int(row, type), row, ref_off, &prev,
						type, base));
	return (size_t)(p - out);
}

/* Dictionary planes (the width byte's KS_COL_DICT bit): a column whose values
 * repeat (durations on a clock with coarse steps, the few costs one syscall
 * takes) stores its distinct values once, ascending, as varint deltas after
 * their count, and each row as its index in that table, in byte planes. The
 * indices' planes are narrower and far more regular than the values': zstd codes
 * them in fewer bytes. Used when every distinct value repeats DICT_REPEAT times
 * on average and the table is at most KS_COL_DICT_MAX values. */
#define DICT_REPEAT 8

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Writes u[0..n) as dictionary planes into out; returns the bytes written, or 0
 * when the values do not repeat enough (or memory is short): then plain planes. */
static size_t encode_dict(const uint64_t *u, size_t n, uint8_t *out)
{
	size_t limit = n / DICT_REPEAT, cap = 4, k = 0, len = 0;
	uint64_t *keys = NULL, *vals = NULL;
	uint32_t *idx = NULL;
	uint8_t *used = NULL, *p;
	unsigned iw = 0;

	if (limit > KS_COL_DICT_MAX)
		limit = KS_COL_DICT_MAX;
	if (limit < 2)
		return 0;
	while (cap < 2 * limit)
		cap *= 2;
	keys = malloc(cap * sizeof(*keys));
	idx = malloc(cap * sizeof(*idx));
	used = calloc(cap, 1);
	vals = malloc(limit * sizeof(*vals));
	if (!keys || !idx || !used || !vals)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t h = ks_dict_hash(u[i]) & (cap - 1);

		while (used[h] && keys[h] != u[i])
			h = (h + 1) & (cap - 1);
		if (used[h])
			continue;
		if (k == limit)
			goto out; /* too many distinct values */
		used[h] = 1;
		keys[h] = u[i];
		vals[k++] = u[i];
	}
	qsort(vals, k, sizeof(*vals), cmp_u64);
	for (size_t j = 0; j < k; j++) {
		size_t h = ks_dict_hash(vals[j]) & (cap - 1);

		while (keys[h] != vals[j])
			h = (h + 1) & (cap - 1);
		idx[h] = (uint32_t)j;
	}
	while ((k - 1) >> (8 * iw))
		iw++;
	p = out;
	*p++ = (uint8_t)(KS_COL_DICT | iw);
	p = ks_uvarint_put(p, k);
	for (size_t j = 0; j < k; j++)
		p = ks_uvarint_put(p, vals[j] - (j ? vals[j - 1] : 0));
	for (size_t i = 0; i < n; i++) {
		size_t h = ks_dict_hash(u[i]) & (cap - 1);

		while (keys[h] != u[i])
			h = (h + 1) & (cap - 1);
		for (unsigned j = 0; j < iw; j++)
			p[j * n + i] = (uint8_t)(idx[h] >> (8 * j));
	}
	len = (size_t)(p - out) + (size_t)iw * n;
out:
	free(keys);
	free(idx);
	free(used);
	free(vals);
	return len;
}

/* Byte planes: one pass for the width (keeping the values for a dictionary), one
 * to scatter the bytes. */
ALWAYS_INLINE size_t encode_planes(const uint8_t *row, size_t n, size_t stride,
				   ptrdiff_t ref_off, unsigned type, unsigned base,
				   uint8_t *out)
{
	const uint8_t *r = row;
	uint64_t prev = 0, all = 0, *vals;
	unsigned width = 0;
	size_t len;

	/* too few rows for a table to pay: no copy of the values */
	vals = n >= 2 * DICT_REPEAT ? malloc(n * sizeof(*vals)) : NULL;
	for (size_t i = 0; i < n; i++, r += stride) {
		uint64_t u = to_stored(load_int(r, type), r, ref_off, &prev, type, base);

		all |= u;
		if (vals)
			vals[i] = u;
	}
	if (vals && n && (len = encode_dict(vals, n, out))) {
		free(vals);
		return len;
	}
	free(vals);
	while (width < 8 && (all >> (8 * width)))
		width++;
	out[0] = (uint8_t)width;
	prev = 0;
	for (size_t i = 0; i < n; i++, row += stride) {
		uint64_t u = to_stored(load_int(row, type), row, ref_off, &prev, type, base);

		for (unsigned j = 0; j < width; j++)
			out[1 + j * n + i] = (uint8_t)(u >> (8 * j));
	}
	return 1 + (size_t)width * n;
}

/* One decoded value into its row: undo delta, gap and zigzag, check the width. */
ALWAYS_INLINE int put_value(uint8_t *row, uint64_t u, uint64_t *prev, ptrdiff_t ref_off,
			    unsigned type, unsigned base)
{
	uint64_t v;

	switch (base) {
	case KS_ENC_DELTA:
		v = *prev + (uint64_t)ks_unzigzag(u);
		*prev = v;
		break;
	case KS_ENC_GAP:
		v = *prev + (uint64_t)ks_unzigzag(u);
		*prev = v + load_int(row + ref_off, KS_F_U64);
		break;
	case KS_ENC_SYSRET:
		v = (uint64_t)sysret_expected(row + ref_off) + (uint64_t)ks_unzigzag(u);
		break;
	default:
		v = is_signed(type) ? (uint64_t)ks_unzigzag(u) : u;
	}
	if (!fits_int(v, type))
		return -KS_ERANGE;
	store_int(row, type, v);
	return 0;
}

ALWAYS_INLINE int decode_ints(struct ks_col_cursor *c, uint8_t *row, size_t n,
			      size_t stride, ptrdiff_t ref_off, unsigned type,
			      unsigned base)
{
	const uint8_t *p = c->p, *end = c->end;
	uint64_t prev = c->prev;
	int err = 0;

	for (size_t i = 0; i < n; i++, row += stride) {
		uint64_t u;

		err = ks_uvarint_get(&p, end, &u);
		if (!err)
			err = put_value(row, u, &prev, ref_off, type, base);
		if (err)
			break;
	}
	c->p = p;
	c->prev = prev;
	return err;
}

/* Byte planes are gathered a chunk of rows at a time, one plane after the other:
 * each inner loop is a straight byte-to-word widening the compiler vectorises. */
#define PLANE_CHUNK 256

ALWAYS_INLINE int decode_planes(struct ks_col_cursor *c, uint8_t *row, size_t n,
				size_t stride, ptrdiff_t ref_off, unsigned type,
				unsigned base)
{
	uint64_t prev = c->prev, u[PLANE_CHUNK];
	int err = 0;

	if (n > c->count - c->idx)
		return -KS_ECOUNT;
	for (size_t done = 0; done < n && !err;) {
		size_t m = n - done < PLANE_CHUNK ? n - done : PLANE_CHUNK;
		const uint8_t *plane = c->plane + c->idx + done;

		memset(u, 0, m * sizeof(u[0]));
		for (unsigned j = 0; j < c->width; j++, plane += c->count)
			for (size_t i = 0; i < m; i++)
				u[i] |= (uint64_t)plane[i] << (8 * j);
		if (c->dict) {
			for (size_t i = 0; i < m; i++) {
				if (u[i] >= c->dict_n) {
					err = -KS_ERANGE;
					break;
				}
				u[i] = c->dict[u[i]];
			}
			if (err)
				break;
		}
		for (size_t i = 0; i < m; i++, row += stride) {
			err = put_value(row, u[i], &prev, ref_off, type, base);
			if (err)
				break;
		}
		done += m;
	}
	c->idx += n;
	if (c->idx == c->count)
		c->p = c->end; /* the whole column is used */
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
	return 1 + n * KS_VARINT_MAX;
}

/* One case per integer type, base encoding and layout, so that each loop is
 * compiled with its constants. */
#define CASE(t, e) ((t) * 32 + (e))
#define INT_CASES(X, t)                                                        \
	X(t, KS_ENC_PLAIN) X(t, KS_ENC_DELTA) X(t, KS_ENC_GAP)                 \
	X(t, KS_ENC_SYSRET) X(t, KS_ENC_SYSRET | KS_ENC_PLANES)                \
	X(t, KS_ENC_PLAIN | KS_ENC_PLANES) X(t, KS_ENC_DELTA | KS_ENC_PLANES)  \
	X(t, KS_ENC_GAP | KS_ENC_PLANES)
#define ALL_INT_CASES(X)                                                       \
	INT_CASES(X, KS_F_U32) INT_CASES(X, KS_F_S32) INT_CASES(X, KS_F_U64)   \
	INT_CASES(X, KS_F_S64)

#define ENCODE_CASE(t, e)                                                      \
	case CASE(t, e):                                                       \
		return ((e) & KS_ENC_PLANES) ?                                 \
			encode_planes(row, n, row_size, ref_off, t, (e) & KS_ENC_BASE_MASK, out) : \
			encode_ints(row, n, row_size, ref_off, t, (e) & KS_ENC_BASE_MASK, out);

#define DECODE_CASE(t, e)                                                      \
	case CASE(t, e):                                                       \
		return ((e) & KS_ENC_PLANES) ?                                 \
			decode_planes(c, row, n, row_size, ref_off, t, (e) & KS_ENC_BASE_MASK) : \
			decode_ints(c, row, n, row_size, ref_off, t, (e) & KS_ENC_BASE_MASK);

/* The ref field's place relative to the field (gap encoding), else 0. */
static ptrdiff_t ref_offset(const struct ks_field *f, const struct ks_field *aux)
{
	if ((f->enc & KS_ENC_BASE_MASK) == KS_ENC_SYSRET)
		return -(ptrdiff_t)f->offset; /* the row's start */
	if ((f->enc & KS_ENC_BASE_MASK) != KS_ENC_GAP || !aux)
		return 0;
	return (ptrdiff_t)aux->offset - (ptrdiff_t)f->offset;
}

/* Encodes field f of n rows into out; returns the bytes written. */
size_t ks_col_encode(const struct ks_field *f, const struct ks_field *aux,
		     const void *rows, size_t n, size_t row_size, uint8_t *out)
{
	const uint8_t *row = (const uint8_t *)rows + f->offset;
	ptrdiff_t ref_off = ref_offset(f, aux);

	if ((f->enc & KS_ENC_BASE_MASK) == KS_ENC_GAP && !aux)
		return 0; /* not a field of any table: tests/test_schema.c */
	switch (CASE(f->type, f->enc)) {
	ALL_INT_CASES(ENCODE_CASE)
	case CASE(KS_F_STR, KS_ENC_PLAIN):
	case CASE(KS_F_BYTES, KS_ENC_PLAIN):
		return encode_bytes(f, aux, rows, n, row_size, out);
	default:
		return 0; /* not a field of any table: tests/test_schema.c */
	}
}

int ks_col_cursor_init(struct ks_col_cursor *c, const struct ks_field *f, const void *col,
		       size_t len, size_t count, uint64_t *dict)
{
	const uint8_t *end;
	uint64_t k, v = 0;

	c->p = col;
	c->end = end = c->p + len;
	c->prev = 0;
	c->plane = NULL;
	c->dict = NULL;
	c->dict_n = 0;
	c->count = count;
	c->idx = 0;
	c->width = 0;
	if (!(f->enc & KS_ENC_PLANES))
		return 0;
	if (!count)
		return len ? -KS_ECOUNT : 0;
	if (!len)
		return -KS_ECOUNT;
	c->width = *c->p++;
	if (c->width & KS_COL_DICT) {
		c->width &= ~KS_COL_DICT;
		if (!dict || c->width > 2)
			return -KS_ERANGE;
		if (ks_uvarint_get(&c->p, end, &k))
			return -KS_EVARINT;
		if (k == 0 || k > KS_COL_DICT_MAX || k > count)
			return -KS_ERANGE;
		for (uint64_t j = 0; j < k; j++) {
			uint64_t d;

			if (ks_uvarint_get(&c->p, end, &d))
				return -KS_EVARINT;
			if ((j && d == 0) || v + d < v) /* ascending, no wrap */
				return -KS_ERANGE;
			v += d;
			dict[j] = v;
		}
		c->dict = dict;
		c->dict_n = k;
		len = (size_t)(end - c->p) + 1;
	} else if (c->width > 8 || (c->width > 4 && f->size == 4)) {
		return -KS_ERANGE;
	}
	if ((len - 1) / count != c->width || (len - 1) % count)
		return -KS_ECOUNT;
	c->plane = c->p;
	if (!c->width) /* every value is 0 (or the one in the table): no planes */
		c->p = c->end;
	return 0;
}

/* Decodes the next n values of f from c into rows. */
int ks_col_decode(const struct ks_field *f, const struct ks_field *aux,
		  struct ks_col_cursor *c, void *rows, size_t n, size_t row_size)
{
	uint8_t *row = (uint8_t *)rows + f->offset;
	ptrdiff_t ref_off = ref_offset(f, aux);

	if ((f->enc & KS_ENC_BASE_MASK) == KS_ENC_GAP && !aux)
		return -KS_ESCHEMA;
	switch (CASE(f->type, f->enc)) {
	ALL_INT_CASES(DECODE_CASE)
	case CASE(KS_F_STR, KS_ENC_PLAIN):
	case CASE(KS_F_BYTES, KS_ENC_PLAIN):
		return decode_bytes(f, aux, c, rows, n, row_size);
	default:
		return -KS_ESCHEMA;
	}
}
