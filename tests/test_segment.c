/* Unit tests of the segment codec (format/segment.c, column.c): round trips of
 * both kinds, the byte layout against an independent reading of it, and every
 * way the decoder must refuse a damaged or hostile segment. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>
#include <xxhash.h>
#include <zstd.h>

#include "format/event.h"
#include "format/kserr.h"
#include "format/segment.h"
#include "format/varint.h"

struct fixture {
	struct ks_seg_encoder *enc;
	struct ks_seg_decoder *dec;
};

static int group_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx || ks_seg_encoder_new(0, &fx->enc) || ks_seg_decoder_new(&fx->dec))
		return -1;
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *fx = *state;

	ks_seg_encoder_free(fx->enc);
	ks_seg_decoder_free(fx->dec);
	free(fx);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: fixed seeds make every run the same */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void gen_syscalls(uint64_t *seed, struct ks_syscall *rows, size_t n)
{
	uint64_t ts = 1700000000000000000ull + rng_next(seed) % 1000000000;
	uint32_t pid = 1000 + rng_next(seed) % 1000;

	memset(rows, 0, n * sizeof(*rows));
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng_next(seed);
		struct ks_syscall *e = &rows[i];

		if (r % 16 == 0)
			pid = 1000 + rng_next(seed) % 1000;
		ts += rng_next(seed) % 50000;
		e->ts = ts;
		e->dur = rng_next(seed) % (r % 7 == 0 ? 100000000 : 20000);
		e->pid = pid;
		e->tid = pid + (r % 5 == 0);
		e->nr = rng_next(seed) % 450;
		switch (r % 10) {
		case 0:
			e->ret = -(int64_t)(rng_next(seed) % 133) - 1;
			break;
		case 1:
			e->ret = (int64_t)(0x7f0000000000ull + rng_next(seed) % (1ull << 40));
			break;
		default:
			e->ret = (int64_t)(rng_next(seed) % 4096);
		}
		if (r % 97 == 0) { /* extremes now and then */
			e->ts = rng_next(seed);
			e->dur = rng_next(seed);
			e->ret = (int64_t)rng_next(seed);
			e->pid = (uint32_t)rng_next(seed);
			e->tid = (uint32_t)rng_next(seed);
			e->nr = (uint32_t)rng_next(seed);
			e->flags = (uint32_t)rng_next(seed);
		} else if (r % 31 == 0) {
			e->flags = KS_SYSF_NORET;
			e->dur = 0;
		}
	}
}

/* Rows as the decoder returns them: strings zero past their end. */
static void gen_procs(uint64_t *seed, struct ks_proc *rows, size_t n)
{
	uint64_t ts = 5000000000ull;

	memset(rows, 0, n * sizeof(*rows));
	for (size_t i = 0; i < n; i++) {
		struct ks_proc *p = &rows[i];
		size_t clen = rng_next(seed) % (KS_COMM_MAX + 1);

		ts += rng_next(seed) % 10000000;
		p->ts = ts;
		p->what = 1 + rng_next(seed) % 3;
		p->pid = 100 + rng_next(seed) % 50000;
		p->tid = p->pid;
		p->ppid = rng_next(seed) % 100;
		p->exit_code = (int32_t)rng_next(seed);
		for (size_t j = 0; j < clen; j++)
			p->comm[j] = (char)('a' + rng_next(seed) % 26);
		p->argv_len = rng_next(seed) % (KS_ARGV_MAX + 1);
		for (size_t j = 0; j < p->argv_len; j++)
			p->argv[j] = (char)(rng_next(seed) % 8 ? 'a' + j % 26 : 0);
	}
}

/* Encodes then decodes rows and checks everything came back. */
static void round_trip(struct fixture *fx, unsigned kind, const void *rows, size_t n)
{
	const struct ks_schema *s = ks_schema_get(kind);
	const uint8_t *seg;
	size_t len;
	struct ks_seg_header h;
	const void *out;
	uint64_t lo = UINT64_MAX, hi = 0;
	uint8_t *copy;

	assert_int_equal(ks_seg_encode(fx->enc, kind, rows, n, &seg, &len), 0);
	copy = malloc(len); /* exact size: ASan sees any read past the end */
	assert_non_null(copy);
	memcpy(copy, seg, len);
	assert_int_equal(ks_seg_decode(fx->dec, copy, len, &h, &out), 0);
	assert_int_equal(h.count, n);
	assert_int_equal(h.kind, kind);
	assert_int_equal(h.comp_size + KS_SEG_HDR_SIZE, len);
	for (size_t i = 0; i < n; i++) {
		uint64_t ts;

		memcpy(&ts, (const uint8_t *)rows + i * s->row_size + s->ts_offset, 8);
		lo = ts < lo ? ts : lo;
		hi = ts > hi ? ts : hi;
	}
	assert_int_equal(h.first_ts, n ? lo : 0);
	assert_int_equal(h.last_ts, n ? hi : 0);
	if (n)
		assert_memory_equal(out, rows, n * s->row_size);
	free(copy);
}

static uint8_t *encode_copy(struct fixture *fx, unsigned kind, const void *rows,
			    size_t n, size_t *len)
{
	const uint8_t *seg;
	uint8_t *copy;

	assert_int_equal(ks_seg_encode(fx->enc, kind, rows, n, &seg, len), 0);
	copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, seg, *len);
	return copy;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Recomputes the checksum as segment.h defines it, so a test reaches the
 * checks behind it. */
static void reseal(uint8_t *seg, size_t len)
{
	put_le64(seg + 40, 0);
	put_le64(seg + 40, XXH64(seg, len, 0));
}

/* A segment around a hand-made document, with a valid checksum. */
static uint8_t *wrap_doc(unsigned kind, uint32_t count, uint64_t first, uint64_t last,
			 const void *doc, size_t doc_len, size_t *len)
{
	size_t bound = ZSTD_compressBound(doc_len);
	uint8_t *seg = calloc(1, KS_SEG_HDR_SIZE + bound);
	size_t comp;

	assert_non_null(seg);
	comp = ZSTD_compress(seg + KS_SEG_HDR_SIZE, bound, doc, doc_len, 1);
	assert_false(ZSTD_isError(comp));
	put_le32(seg + 0, KS_SEG_MAGIC);
	seg[4] = KS_FORMAT_VERSION;
	seg[6] = (uint8_t)kind;
	put_le32(seg + 8, count);
	put_le32(seg + 12, (uint32_t)doc_len);
	put_le32(seg + 16, (uint32_t)comp);
	put_le64(seg + 24, first);
	put_le64(seg + 32, last);
	*len = KS_SEG_HDR_SIZE + comp;
	reseal(seg, *len);
	return seg;
}

/* A document under construction, with an independent LEB128 writer. */
struct doc {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void doc_init(struct doc *d)
{
	msgpack_sbuffer_init(&d->sb);
	msgpack_packer_init(&d->pk, &d->sb, msgpack_sbuffer_write);
}

static void doc_key(struct doc *d, const char *k)
{
	msgpack_pack_str(&d->pk, strlen(k));
	msgpack_pack_str_body(&d->pk, k, strlen(k));
}

static void doc_uint(struct doc *d, const char *k, uint64_t v)
{
	doc_key(d, k);
	msgpack_pack_uint64(&d->pk, v);
}

static void doc_bin(struct doc *d, const char *k, const void *b, size_t len)
{
	doc_key(d, k);
	msgpack_pack_bin(&d->pk, len);
	if (len)
		msgpack_pack_bin_body(&d->pk, b, len);
}

static size_t leb(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/* Column of count values, all v, as LEB128 bytes. */
static size_t leb_run(uint8_t *p, uint64_t v, size_t count)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++)
		n += leb(p + n, v);
	return n;
}

/* A 3-row syscall document whose "pid" column is pid_col; the other columns are
 * well formed (ts 10, 11, 12: with no durations, gaps 10, 1, 1 zigzagged, as
 * one byte plane after the width byte). */
static uint8_t *syscall_doc_with(const char *name, const void *col, size_t col_len,
				 size_t *len)
{
	static const uint8_t ts[] = { 1, 20, 2, 2 };
	static const uint8_t zero3[] = { 0, 0, 0 };
	struct doc d;
	uint8_t *seg;

	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", KS_KIND_SYSCALL);
	doc_uint(&d, "n", 3);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 3);
	doc_bin(&d, "ts", ts, sizeof(ts));
	doc_bin(&d, "nr", zero3, sizeof(zero3));
	doc_bin(&d, name, col, col_len);
	seg = wrap_doc(KS_KIND_SYSCALL, 3, 10, 12, d.sb.data, d.sb.size, len);
	msgpack_sbuffer_destroy(&d.sb);
	return seg;
}

static int decode_buf(struct fixture *fx, const void *buf, size_t len)
{
	struct ks_seg_header h;
	const void *rows;

	return ks_seg_decode(fx->dec, buf, len, &h, &rows);
}

static int decode_col(struct fixture *fx, const char *name, const void *col,
		      size_t col_len)
{
	size_t len;
	uint8_t *seg = syscall_doc_with(name, col, col_len, &len);
	int err = decode_buf(fx, seg, len);

	free(seg);
	return err;
}

/* Wraps a document built by the caller and decodes it. */
static int decode_doc(struct fixture *fx, struct doc *d, unsigned kind,
		      uint32_t count, uint64_t first, uint64_t last)
{
	size_t len;
	uint8_t *seg = wrap_doc(kind, count, first, last, d->sb.data, d->sb.size, &len);
	int err = decode_buf(fx, seg, len);

	free(seg);
	msgpack_sbuffer_destroy(&d->sb);
	return err;
}

static void small_syscalls(struct ks_syscall *rows, size_t n)
{
	uint64_t seed = 42;

	gen_syscalls(&seed, rows, n);
}

/* ---- round trips -------------------------------------------------------- */

static void test_roundtrip_syscall_random(void **state)
{
	static const size_t sizes[] = { 1, 2, 7, 100, 1000, 4096, 65536, 100000 };
	uint64_t seed = 0x5eed;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct ks_syscall *rows = malloc(sizes[k] * sizeof(*rows));

		assert_non_null(rows);
		gen_syscalls(&seed, rows, sizes[k]);
		round_trip(*state, KS_KIND_SYSCALL, rows, sizes[k]);
		free(rows);
	}
}

static void test_roundtrip_proc_random(void **state)
{
	static const size_t sizes[] = { 1, 3, 50, 1000, 20000 };
	uint64_t seed = 0xfeed;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct ks_proc *rows = malloc(sizes[k] * sizeof(*rows));

		assert_non_null(rows);
		gen_procs(&seed, rows, sizes[k]);
		round_trip(*state, KS_KIND_PROC, rows, sizes[k]);
		free(rows);
	}
}

static void test_roundtrip_edges(void **state)
{
	static const int64_t rets[] = { INT64_MIN, INT64_MIN + 1, -4096, -4095, -1, 0,
					1, INT64_MAX };
	static const uint64_t tss[] = { UINT64_MAX, 0, UINT64_MAX, 1, UINT64_MAX - 1,
					1ull << 63, (1ull << 63) - 1, 0 };
	struct ks_syscall rows[8];

	memset(rows, 0, sizeof(rows));
	for (size_t i = 0; i < 8; i++) {
		rows[i].ts = tss[i]; /* not monotonic: deltas of the full range */
		rows[i].dur = i % 2 ? UINT64_MAX : 0;
		rows[i].ret = rets[i];
		rows[i].pid = i % 2 ? UINT32_MAX : 0;
		rows[i].tid = i % 3 ? 0 : UINT32_MAX;
		rows[i].nr = UINT32_MAX - (uint32_t)i;
		rows[i].flags = i % 2 ? UINT32_MAX : KS_SYSF_NORET;
	}
	for (size_t n = 1; n <= 8; n++)
		round_trip(*state, KS_KIND_SYSCALL, rows, n);
	/* a single event, ordinary */
	rows[0] = (struct ks_syscall){ .ts = 123456789, .dur = 42, .ret = -2,
				       .pid = 7, .tid = 8, .nr = 257 };
	round_trip(*state, KS_KIND_SYSCALL, rows, 1);
}

static void test_roundtrip_proc_edges(void **state)
{
	struct ks_proc rows[4];

	memset(rows, 0, sizeof(rows));
	memset(rows[0].comm, 'x', KS_COMM_MAX); /* full: no NUL */
	memset(rows[0].argv, 0xff, KS_ARGV_MAX);
	rows[0].argv_len = KS_ARGV_MAX;
	rows[0].exit_code = INT32_MIN;
	rows[0].pid = rows[0].tid = rows[0].ppid = UINT32_MAX;
	rows[0].ts = UINT64_MAX;
	rows[1].exit_code = INT32_MAX; /* everything else empty */
	rows[2].exit_code = -1;
	strcpy(rows[2].comm, "sh");
	memcpy(rows[2].argv, "sh\0-c\0true", 11);
	rows[2].argv_len = 11;
	rows[2].what = KS_PROC_EXEC;
	rows[3].argv_len = 1; /* one NUL byte */
	rows[3].what = UINT32_MAX;
	round_trip(*state, KS_KIND_PROC, rows, 4);
}

/* The encoder trims strings at their first NUL and clamps a length over the
 * field: what it writes is what the row means. */
static void test_encode_normalises_strings(void **state)
{
	struct fixture *fx = *state;
	struct ks_proc row, want;
	const uint8_t *seg;
	size_t len;
	struct ks_seg_header h;
	const void *out;

	memset(&row, 0, sizeof(row));
	memcpy(row.comm, "ab\0garbage", 10);
	memset(row.argv, 'z', KS_ARGV_MAX);
	row.argv_len = KS_ARGV_MAX + 100;
	want = row;
	memset(want.comm, 0, KS_COMM_MAX);
	strcpy(want.comm, "ab");
	want.argv_len = KS_ARGV_MAX;
	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_PROC, &row, 1, &seg, &len), 0);
	assert_int_equal(ks_seg_decode(fx->dec, seg, len, &h, &out), 0);
	assert_memory_equal(out, &want, sizeof(want));
}

static void test_empty_segment(void **state)
{
	struct fixture *fx = *state;
	const uint8_t *seg;
	size_t len;
	struct ks_seg_header h;
	const void *out;

	round_trip(fx, KS_KIND_SYSCALL, NULL, 0);
	round_trip(fx, KS_KIND_PROC, NULL, 0);
	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_PROC, NULL, 0, &seg, &len), 0);
	assert_int_equal(ks_seg_decode(fx->dec, seg, len, &h, &out), 0);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.first_ts, 0);
	assert_int_equal(h.last_ts, 0);
}

/* The decoder's buffers are reused: a big segment, a small one, a big one. */
static void test_decoder_reuse(void **state)
{
	struct ks_syscall *big = malloc(50000 * sizeof(*big));
	struct ks_proc small[3];
	uint64_t seed = 7;

	assert_non_null(big);
	gen_syscalls(&seed, big, 50000);
	gen_procs(&seed, small, 3);
	round_trip(*state, KS_KIND_SYSCALL, big, 50000);
	round_trip(*state, KS_KIND_PROC, small, 3);
	round_trip(*state, KS_KIND_SYSCALL, big, 20000);
	round_trip(*state, KS_KIND_PROC, small, 3);
	free(big);
}

/* Rows of any kind with a schema, filled field by field from its table: new
 * kinds are covered as soon as they have one. */
static void gen_rows(uint64_t *seed, const struct ks_schema *s, void *rows, size_t n)
{
	memset(rows, 0, n * s->row_size);
	for (size_t i = 0; i < n; i++) {
		uint8_t *row = (uint8_t *)rows + i * s->row_size;

		for (size_t k = 0; k < s->nfields; k++) {
			const struct ks_field *f = &s->fields[k];
			uint64_t v = rng_next(seed) >> (rng_next(seed) % 64);
			uint32_t v32 = (uint32_t)v, len;

			switch (f->type) {
			case KS_F_U32:
			case KS_F_S32:
				memcpy(row + f->offset, &v32, 4);
				break;
			case KS_F_U64:
			case KS_F_S64:
				memcpy(row + f->offset, &v, 8);
				break;
			case KS_F_STR:
				len = (uint32_t)(rng_next(seed) % (f->size + 1u));
				for (uint32_t j = 0; j < len; j++)
					row[f->offset + j] = (uint8_t)(1 + rng_next(seed) % 255);
				break;
			case KS_F_BYTES:
				break; /* below, once its length field has its value */
			}
		}
		for (size_t k = 0; k < s->nfields; k++) {
			const struct ks_field *f = &s->fields[k];
			uint32_t len = (uint32_t)(rng_next(seed) % (f->size + 1u));

			if (f->type != KS_F_BYTES)
				continue;
			for (size_t j = 0; j < s->nfields; j++)
				if (strcmp(s->fields[j].name, f->len_field) == 0)
					memcpy(row + s->fields[j].offset, &len, 4);
			for (uint32_t j = 0; j < len; j++)
				row[f->offset + j] = (uint8_t)rng_next(seed);
		}
	}
}

static void test_roundtrip_every_kind(void **state)
{
	static const size_t sizes[] = { 1, 2, 17, 1000, 5000 };
	uint64_t seed = 0xabcdef;
	unsigned kinds = 0;

	for (unsigned kind = 0; kind < KS_KIND_MAX; kind++) {
		const struct ks_schema *s = ks_schema_get(kind);

		if (!s)
			continue;
		kinds++;
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			void *rows = malloc(sizes[k] * s->row_size);

			assert_non_null(rows);
			gen_rows(&seed, s, rows, sizes[k]);
			round_trip(*state, kind, rows, sizes[k]);
			free(rows);
		}
	}
	assert_true(kinds >= 2);
}

/* The varint codec against an independent LEB128 writer, around every power of
 * two, on the fast path and on the bounds-checked one near a column's end. */
static void test_varint_boundaries(void **state)
{
	(void)state;
	for (unsigned bit = 0; bit < 64; bit++) {
		const uint64_t base = 1ull << bit;
		const uint64_t vals[] = { base - 1, base, base + 1, base | (base >> 1),
					  bit ? base * 2 - 1 : 1 };

		for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
			uint8_t want[16], got[16 + KS_VARINT_MAX];
			size_t n = leb(want, vals[k]);
			uint64_t v = 0;
			const uint8_t *p;

			memset(got, 0xee, sizeof(got));
			assert_int_equal(ks_uvarint_put(got, vals[k]) - got, n);
			assert_memory_equal(got, want, n);
			p = got; /* fast path: 0xee bytes follow */
			assert_int_equal(ks_uvarint_get(&p, got + sizeof(got), &v), 0);
			assert_int_equal(v, vals[k]);
			assert_ptr_equal(p, got + n);
			p = got; /* the value ends the column */
			assert_int_equal(ks_uvarint_get(&p, got + n, &v), 0);
			assert_int_equal(v, vals[k]);
			assert_ptr_equal(p, got + n);
			if (n > 1) { /* cut short */
				p = got;
				assert_int_equal(ks_uvarint_get(&p, got + n - 1, &v), -KS_EVARINT);
			}
		}
	}
	{
		const uint8_t eleven[11] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					     0x80, 0x80, 0x80, 0x00 };
		const uint8_t over[10] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					   0xff, 0xff, 0x02 };
		const uint8_t *p = eleven;
		uint64_t v;

		assert_int_equal(ks_uvarint_get(&p, eleven + 11, &v), -KS_EVARINT);
		p = over;
		assert_int_equal(ks_uvarint_get(&p, over + 10, &v), -KS_EVARINT);
		p = over;
		assert_int_equal(ks_uvarint_get(&p, over, &v), -KS_ECOUNT);
	}
	assert_int_equal(ks_unzigzag(ks_zigzag(INT64_MIN)), INT64_MIN);
	assert_int_equal(ks_zigzag(-1), 1);
	assert_int_equal(ks_zigzag(INT64_MAX), UINT64_MAX - 1);
}

/* ---- the byte layout, read independently of the decoder ----------------- */

static const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == strlen(key) &&
		    memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
			return &kv->val;
	}
	return NULL;
}

static void test_layout(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall rows[3] = {
		{ .ts = 1000, .dur = 5, .ret = -2, .pid = 10, .tid = 10, .nr = 257 },
		{ .ts = 900, .dur = 6, .ret = 3, .pid = 10, .tid = 11, .nr = 0 },
		{ .ts = 1300, .dur = 7, .ret = 0, .pid = 9, .tid = 9, .nr = 1 },
	};
	/* ts against the previous end (ts + dur): 1000, 900 - 1005, 1300 - 906,
	 * zigzagged 2000, 209, 788, as two byte planes after the width byte */
	static const uint8_t ts_col[] = { 2, 0xd0, 0xd1, 0x14, 0x07, 0x00, 0x03 };
	static const uint8_t dur_col[] = { 1, 5, 6, 7 };
	static const uint8_t ret_col[] = { 3, 6, 0 };
	static const uint8_t pid_col[] = { 20, 0, 1 };
	static const uint8_t nr_col[] = { 0x81, 0x02, 0, 1 };
	const uint8_t *seg;
	size_t len, off = 0;
	char *raw;
	msgpack_unpacked u;
	const msgpack_object *cols, *c;

	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_SYSCALL, rows, 3, &seg, &len), 0);
	assert_memory_equal(seg, "KSEG", 4);
	assert_int_equal(seg[4] | seg[5] << 8, KS_FORMAT_VERSION);
	assert_int_equal(seg[6] | seg[7] << 8, KS_KIND_SYSCALL);
	assert_int_equal(seg[8], 3);
	assert_int_equal(get_le64(seg + 24), 900);
	assert_int_equal(get_le64(seg + 32), 1300);
	{
		uint8_t *copy = malloc(len);
		uint64_t sum = get_le64(seg + 40);

		memcpy(copy, seg, len);
		put_le64(copy + 40, 0);
		assert_int_equal(XXH64(copy, len, 0), sum);
		free(copy);
	}
	raw = malloc(seg[12] | seg[13] << 8);
	assert_int_equal(ZSTD_getFrameContentSize(seg + 48, len - 48),
			 (unsigned)(seg[12] | seg[13] << 8));
	assert_int_equal(ZSTD_decompress(raw, seg[12] | seg[13] << 8, seg + 48, len - 48),
			 (unsigned)(seg[12] | seg[13] << 8));
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, raw, seg[12] | seg[13] << 8, &off),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(map_get(&u.data, "v")->via.u64, KS_FORMAT_VERSION);
	assert_int_equal(map_get(&u.data, "kind")->via.u64, KS_KIND_SYSCALL);
	assert_int_equal(map_get(&u.data, "n")->via.u64, 3);
	cols = map_get(&u.data, "cols");
	assert_non_null(cols);
	assert_int_equal(cols->via.map.size, 10);
	c = map_get(cols, "ts");
	assert_int_equal(c->type, MSGPACK_OBJECT_BIN);
	assert_int_equal(c->via.bin.size, sizeof(ts_col));
	assert_memory_equal(c->via.bin.ptr, ts_col, sizeof(ts_col));
	c = map_get(cols, "dur");
	assert_int_equal(c->via.bin.size, sizeof(dur_col));
	assert_memory_equal(c->via.bin.ptr, dur_col, sizeof(dur_col));
	c = map_get(cols, "ret");
	assert_memory_equal(c->via.bin.ptr, ret_col, sizeof(ret_col));
	c = map_get(cols, "pid");
	assert_memory_equal(c->via.bin.ptr, pid_col, sizeof(pid_col));
	c = map_get(cols, "nr");
	assert_int_equal(c->via.bin.size, sizeof(nr_col));
	assert_memory_equal(c->via.bin.ptr, nr_col, sizeof(nr_col));
	msgpack_unpacked_destroy(&u);
	free(raw);
}

/* proc documents carry argv_len inside the argv column, not as a column. */
static void test_layout_proc(void **state)
{
	struct fixture *fx = *state;
	struct ks_proc row;
	const uint8_t *seg;
	size_t len, off = 0, raw_len;
	char *raw;
	msgpack_unpacked u;
	const msgpack_object *cols, *c;

	memset(&row, 0, sizeof(row));
	strcpy(row.comm, "make");
	memcpy(row.argv, "make\0-j2", 8);
	row.argv_len = 8;
	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_PROC, &row, 1, &seg, &len), 0);
	raw_len = ZSTD_getFrameContentSize(seg + 48, len - 48);
	raw = malloc(raw_len);
	assert_int_equal(ZSTD_decompress(raw, raw_len, seg + 48, len - 48), raw_len);
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, raw, raw_len, &off), MSGPACK_UNPACK_SUCCESS);
	cols = map_get(&u.data, "cols");
	assert_null(map_get(cols, "argv_len"));
	c = map_get(cols, "comm");
	assert_int_equal(c->via.bin.size, 5);
	assert_memory_equal(c->via.bin.ptr, "\004make", 5);
	c = map_get(cols, "argv");
	assert_int_equal(c->via.bin.size, 9);
	assert_memory_equal(c->via.bin.ptr, "\010make\0-j2", 9);
	msgpack_unpacked_destroy(&u);
	free(raw);
}

/* ---- the encoder's own errors ------------------------------------------- */

static void test_encode_errors(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall row = { .ts = 1 };
	struct ks_seg_encoder *enc;
	const uint8_t *seg;
	size_t len;

	assert_int_equal(ks_seg_encode(fx->enc, 0, &row, 1, &seg, &len), -KS_EKIND);
	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_MAX - 1, &row, 1, &seg, &len), -KS_EKIND);
	assert_int_equal(ks_seg_encode(fx->enc, 999, &row, 1, &seg, &len), -KS_EKIND);
	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_SYSCALL, &row,
				       KS_SEG_MAX_EVENTS + 1, &seg, &len), -KS_ETOOBIG);
	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_SYSCALL, NULL, 1, &seg, &len), -EINVAL);
	assert_int_equal(ks_seg_encoder_new(-1, &enc), -EINVAL);
	assert_int_equal(ks_seg_encoder_new(20, &enc), -EINVAL);
	assert_int_equal(ks_seg_encoder_new(19, &enc), 0);
	ks_seg_encoder_free(enc);
	ks_seg_encoder_free(NULL);
	ks_seg_decoder_free(NULL);
}

/* More than KS_SEG_MAX_RAW of document: the most events, each with a full argv. */
static void test_encode_too_big(void **state)
{
	struct fixture *fx = *state;
	size_t n = KS_SEG_MAX_EVENTS;
	struct ks_proc *rows = calloc(n, sizeof(*rows));
	struct ks_seg_encoder *enc;
	const uint8_t *seg;
	size_t len;

	assert_non_null(rows);
	for (size_t i = 0; i < n; i++)
		rows[i].argv_len = KS_ARGV_MAX;
	/* an encoder of its own, so the fixture's does not keep the big buffers */
	assert_int_equal(ks_seg_encoder_new(1, &enc), 0);
	assert_int_equal(ks_seg_encode(enc, KS_KIND_PROC, rows, n, &seg, &len), -KS_ETOOBIG);
	ks_seg_encoder_free(enc);
	free(rows);
	(void)fx;
}

/* ---- damaged input ------------------------------------------------------ */

static void test_truncated_every_length(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall rows[5];
	struct ks_proc procs[2];
	uint64_t seed = 3;
	size_t len;
	uint8_t *seg;

	small_syscalls(rows, 5);
	gen_procs(&seed, procs, 2);
	for (unsigned kind = KS_KIND_SYSCALL; kind <= KS_KIND_PROC; kind++) {
		seg = kind == KS_KIND_SYSCALL ?
			      encode_copy(fx, kind, rows, 5, &len) :
			      encode_copy(fx, kind, procs, 2, &len);
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *part = malloc(cut ? cut : 1);
			struct ks_seg_header h;

			memcpy(part, seg, cut);
			assert_int_equal(decode_buf(fx, part, cut), -KS_ETRUNC);
			assert_int_equal(ks_seg_read_header(part, cut, &h), -KS_ETRUNC);
			free(part);
		}
		{
			uint8_t *longer = malloc(len + 1);

			memcpy(longer, seg, len);
			longer[len] = 0;
			assert_int_equal(decode_buf(fx, longer, len + 1), -KS_ETRAILING);
			assert_int_equal(decode_buf(fx, longer, len), 0);
			free(longer);
		}
		free(seg);
	}
	assert_int_equal(decode_buf(fx, NULL, 0), -KS_ETRUNC);
}

/* Every single-bit flip is refused: the checksum covers every byte, and the
 * header checks come first for the header's own bits. */
static void test_every_bit_flip(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall rows[4];
	struct ks_proc procs[2];
	uint64_t seed = 11;
	size_t len;
	uint8_t *seg;
	unsigned seen[KS_ERR_END - KS_ERR_BASE] = { 0 };

	small_syscalls(rows, 4);
	gen_procs(&seed, procs, 2);
	for (unsigned kind = KS_KIND_SYSCALL; kind <= KS_KIND_PROC; kind++) {
		seg = kind == KS_KIND_SYSCALL ?
			      encode_copy(fx, kind, rows, 4, &len) :
			      encode_copy(fx, kind, procs, 2, &len);
		for (size_t bit = 0; bit < len * 8; bit++) {
			int err;

			seg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			err = decode_buf(fx, seg, len);
			seg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_true(err < 0);
			assert_true(-err > KS_ERR_BASE && -err < KS_ERR_END);
			seen[-err - KS_ERR_BASE]++;
		}
		assert_int_equal(decode_buf(fx, seg, len), 0);
		free(seg);
	}
	assert_true(seen[KS_ECHECKSUM - KS_ERR_BASE] > 0);
	assert_true(seen[KS_EMAGIC - KS_ERR_BASE] == 64);
}

/* The same flips with the checksum recomputed: what stands behind it must still
 * refuse or decode, never crash (ASan) or read out of bounds. */
static void test_every_bit_flip_resealed(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall rows[4];
	size_t len;
	uint8_t *seg;
	unsigned ok = 0, bad = 0;

	small_syscalls(rows, 4);
	seg = encode_copy(fx, KS_KIND_SYSCALL, rows, 4, &len);
	for (size_t bit = KS_SEG_HDR_SIZE * 8; bit < len * 8; bit++) {
		uint8_t *copy = malloc(len);

		memcpy(copy, seg, len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		reseal(copy, len);
		if (decode_buf(fx, copy, len) == 0)
			ok++;
		else
			bad++;
		free(copy);
	}
	assert_true(bad > 0);
	assert_int_equal(ok + bad, (len - KS_SEG_HDR_SIZE) * 8);
	free(seg);
}

static uint8_t *header_case(struct fixture *fx, size_t *len, size_t off, uint64_t v,
			    unsigned width)
{
	struct ks_syscall rows[3];
	uint8_t *seg;

	small_syscalls(rows, 3);
	seg = encode_copy(fx, KS_KIND_SYSCALL, rows, 3, len);
	for (unsigned i = 0; i < width; i++)
		seg[off + i] = (uint8_t)(v >> (8 * i));
	reseal(seg, *len);
	return seg;
}

static int decode_header_case(struct fixture *fx, size_t off, uint64_t v,
			      unsigned width)
{
	size_t len;
	uint8_t *seg = header_case(fx, &len, off, v, width);
	struct ks_seg_header h;
	int err = decode_buf(fx, seg, len);

	/* the header-only reader agrees, up to what it checks */
	if (err != -KS_ECHECKSUM && ks_seg_read_header(seg, len, &h) != 0)
		assert_int_equal(ks_seg_read_header(seg, len, &h), err);
	free(seg);
	return err;
}

static void test_header_fields(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall rows[3];
	size_t len, comp;
	uint8_t *seg;

	small_syscalls(rows, 3);
	assert_int_equal(decode_header_case(fx, 0, 0x4745534c, 4), -KS_EMAGIC);
	assert_int_equal(decode_header_case(fx, 4, KS_FORMAT_VERSION + 1, 2), -KS_EVERSION);
	assert_int_equal(decode_header_case(fx, 4, 0, 2), -KS_EVERSION);
	assert_int_equal(decode_header_case(fx, 6, 0, 2), -KS_EKIND);
	assert_int_equal(decode_header_case(fx, 6, KS_KIND_MAX - 1, 2), -KS_EKIND);
	assert_int_equal(decode_header_case(fx, 6, KS_KIND_MAX, 2), -KS_EKIND);
	assert_int_equal(decode_header_case(fx, 6, 0xffff, 2), -KS_EKIND);
	assert_int_equal(decode_header_case(fx, 6, KS_KIND_PROC, 2), -KS_EMISMATCH);
	assert_int_equal(decode_header_case(fx, 8, KS_SEG_MAX_EVENTS + 1, 4), -KS_ETOOBIG);
	assert_int_equal(decode_header_case(fx, 8, UINT32_MAX, 4), -KS_ETOOBIG);
	assert_int_equal(decode_header_case(fx, 8, 4, 4), -KS_EMISMATCH);
	assert_int_equal(decode_header_case(fx, 8, 2, 4), -KS_EMISMATCH);
	assert_int_equal(decode_header_case(fx, 8, 10000, 4), -KS_ESIZES);
	assert_int_equal(decode_header_case(fx, 12, KS_SEG_MAX_RAW + 1, 4), -KS_ETOOBIG);
	assert_int_equal(decode_header_case(fx, 12, UINT32_MAX, 4), -KS_ETOOBIG);
	assert_int_equal(decode_header_case(fx, 12, 0, 4), -KS_ESIZES);
	assert_int_equal(decode_header_case(fx, 12, 2, 4), -KS_ESIZES);  /* < count */
	assert_int_equal(decode_header_case(fx, 12, KS_SEG_MAX_RAW, 4), -KS_ESIZES);
	assert_int_equal(decode_header_case(fx, 16, UINT32_MAX, 4), -KS_ETRUNC);
	assert_int_equal(decode_header_case(fx, 16, 0, 4), -KS_ETRAILING);
	assert_int_equal(decode_header_case(fx, 20, 1, 4), -KS_EFLAGS);
	assert_int_equal(decode_header_case(fx, 20, 1u << 31, 4), -KS_EFLAGS);
	assert_int_equal(decode_header_case(fx, 24, UINT64_MAX, 8), -KS_ETIMESTAMP);
	assert_int_equal(decode_header_case(fx, 24, 0, 8), -KS_ETIMESTAMP);
	assert_int_equal(decode_header_case(fx, 32, UINT64_MAX, 8), -KS_ETIMESTAMP);
	assert_int_equal(decode_header_case(fx, 32, 0, 8), -KS_ETIMESTAMP);

	/* raw_size too small for the payload it claims to compress to */
	seg = encode_copy(fx, KS_KIND_SYSCALL, NULL, 0, &len);
	seg = realloc(seg, KS_SEG_HDR_SIZE + 200);
	memset(seg + len, 0, KS_SEG_HDR_SIZE + 200 - len);
	put_le32(seg + 12, 1);
	put_le32(seg + 16, 200);
	reseal(seg, KS_SEG_HDR_SIZE + 200);
	assert_int_equal(decode_buf(fx, seg, KS_SEG_HDR_SIZE + 200), -KS_ESIZES);
	free(seg);

	/* an empty segment with timestamps */
	seg = encode_copy(fx, KS_KIND_SYSCALL, NULL, 0, &len);
	put_le64(seg + 32, 5);
	reseal(seg, len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_ETIMESTAMP);
	free(seg);

	/* the checksum itself */
	seg = encode_copy(fx, KS_KIND_SYSCALL, rows, 3, &len);
	seg[40] ^= 1;
	assert_int_equal(decode_buf(fx, seg, len), -KS_ECHECKSUM);
	seg[40] ^= 1;
	comp = len - KS_SEG_HDR_SIZE;
	seg[KS_SEG_HDR_SIZE + comp / 2] ^= 0x10;
	assert_int_equal(decode_buf(fx, seg, len), -KS_ECHECKSUM);
	free(seg);
}

static void test_read_header(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall rows[3];
	struct ks_seg_header h;
	size_t len;
	uint8_t *seg;

	small_syscalls(rows, 3);
	seg = encode_copy(fx, KS_KIND_SYSCALL, rows, 3, &len);
	assert_int_equal(ks_seg_read_header(seg, len, &h), 0);
	assert_int_equal(h.magic, KS_SEG_MAGIC);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.comp_size, len - KS_SEG_HDR_SIZE);
	assert_int_equal(h.flags, 0);
	seg[len - 1] ^= 1; /* read_header does not verify the checksum */
	assert_int_equal(ks_seg_read_header(seg, len, &h), 0);
	assert_int_equal(decode_buf(fx, seg, len), -KS_ECHECKSUM);
	free(seg);
}

/* ---- zstd frames ---------------------------------------------------------- */

static void test_zstd_frames(void **state)
{
	struct fixture *fx = *state;
	struct ks_syscall rows[3];
	size_t len, raw_len, comp;
	uint8_t *seg, *raw, *bad;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();

	small_syscalls(rows, 3);
	seg = encode_copy(fx, KS_KIND_SYSCALL, rows, 3, &len);
	raw_len = ZSTD_getFrameContentSize(seg + 48, len - 48);
	raw = malloc(raw_len);
	assert_int_equal(ZSTD_decompress(raw, raw_len, seg + 48, len - 48), raw_len);

	/* header raw_size one more than the frame's content size */
	put_le32(seg + 12, (uint32_t)raw_len + 1);
	reseal(seg, len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_ERAWSIZE);
	put_le32(seg + 12, (uint32_t)raw_len - 1);
	reseal(seg, len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_ERAWSIZE);
	free(seg);

	/* a frame that does not declare its content size */
	bad = calloc(1, 48 + ZSTD_compressBound(raw_len));
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
	comp = ZSTD_compress2(cctx, bad + 48, ZSTD_compressBound(raw_len), raw, raw_len);
	assert_false(ZSTD_isError(comp));
	seg = encode_copy(fx, KS_KIND_SYSCALL, rows, 3, &len);
	memcpy(bad, seg, 48);
	put_le32(bad + 16, (uint32_t)comp);
	reseal(bad, 48 + comp);
	assert_int_equal(decode_buf(fx, bad, 48 + comp), -KS_EDECOMPRESS);
	free(bad);

	/* the frame followed by a second, empty frame */
	bad = calloc(1, len + 64);
	memcpy(bad, seg, len);
	comp = ZSTD_compress(bad + len, 64, "", 0, 1);
	assert_false(ZSTD_isError(comp));
	put_le32(bad + 16, (uint32_t)(len - 48 + comp));
	reseal(bad, len + comp);
	assert_int_equal(decode_buf(fx, bad, len + comp), -KS_EDECOMPRESS);

	/* not a zstd frame at all */
	memcpy(bad, seg, len);
	bad[48] ^= 0xff;
	reseal(bad, len);
	assert_int_equal(decode_buf(fx, bad, len), -KS_EDECOMPRESS);

	/* a skippable frame */
	memcpy(bad, seg, 48);
	put_le32(bad + 48, 0x184D2A50);
	put_le32(bad + 52, 4);
	put_le32(bad + 56, 0);
	put_le32(bad + 16, 12);
	reseal(bad, 60);
	assert_int_equal(decode_buf(fx, bad, 60), -KS_EDECOMPRESS);

	/* damage inside the compressed block, checksum recomputed */
	memcpy(bad, seg, len);
	for (size_t i = len - 4; i < len; i++)
		bad[i] ^= 0x5a;
	reseal(bad, len);
	assert_true(decode_buf(fx, bad, len) < 0);
	free(bad);
	free(seg);
	free(raw);
	ZSTD_freeCCtx(cctx);
}

/* ---- documents with a valid checksum but wrong inside ------------------- */

static void test_doc_not_msgpack(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t never_used[] = { 0xc1 };
	static const uint8_t short_map[] = { 0x84, 0xa1, 'v', 0x01 };
	static const uint8_t huge_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 };
	static const uint8_t huge_map[] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0xc0 };
	static const uint8_t short_bin[] = { 0xc6, 0x00, 0x01, 0x00, 0x00, 1, 2, 3 };
	static const uint8_t short_len[] = { 0xc6, 0x00 };
	uint8_t deep[40];
	struct doc d;
	size_t len;
	uint8_t *seg;

	seg = wrap_doc(KS_KIND_SYSCALL, 0, 0, 0, never_used, sizeof(never_used), &len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_EMSGPACK);
	free(seg);
	seg = wrap_doc(KS_KIND_SYSCALL, 0, 0, 0, short_map, sizeof(short_map), &len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_EMSGPACK);
	free(seg);
	/* msgpack-c would allocate ~96 GiB for these five bytes: the guard stops them */
	seg = wrap_doc(KS_KIND_SYSCALL, 0, 0, 0, huge_array, sizeof(huge_array), &len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_ETOOBIG);
	free(seg);
	seg = wrap_doc(KS_KIND_SYSCALL, 0, 0, 0, huge_map, sizeof(huge_map), &len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_ETOOBIG);
	free(seg);
	seg = wrap_doc(KS_KIND_SYSCALL, 0, 0, 0, short_bin, sizeof(short_bin), &len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_EMSGPACK);
	free(seg);
	seg = wrap_doc(KS_KIND_SYSCALL, 0, 0, 0, short_len, sizeof(short_len), &len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_EMSGPACK);
	free(seg);
	/* nesting deeper than msgpack-c's stack */
	memset(deep, 0x91, sizeof(deep));
	deep[sizeof(deep) - 1] = 0xc0;
	seg = wrap_doc(KS_KIND_SYSCALL, 0, 0, 0, deep, sizeof(deep), &len);
	assert_int_equal(decode_buf(fx, seg, len), -KS_EMSGPACK);
	free(seg);
	/* a valid document followed by one more byte */
	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_uint(&d, "n", 0);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), 0);
	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_uint(&d, "n", 0);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 0);
	msgpack_pack_nil(&d.pk);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_EMSGPACK);
}

/* Root entries: types, missing and duplicate keys, disagreement with the header. */
static void root_doc(struct doc *d, int v_type, uint64_t v, uint64_t kind,
		     uint64_t n, int cols_type, int dup_n, int extra_key)
{
	doc_init(d);
	msgpack_pack_map(&d->pk, 4 - (cols_type < 0) + !!dup_n + !!extra_key);
	doc_key(d, "v");
	if (v_type)
		msgpack_pack_str(&d->pk, 0);
	else
		msgpack_pack_uint64(&d->pk, v);
	doc_uint(d, "kind", kind);
	doc_uint(d, "n", n);
	if (dup_n)
		doc_uint(d, "n", n);
	if (extra_key)
		doc_uint(d, "later", 1);
	if (cols_type >= 0) {
		doc_key(d, "cols");
		if (cols_type == 0)
			msgpack_pack_map(&d->pk, 0);
		else
			msgpack_pack_array(&d->pk, 0);
	}
}

static void test_doc_root(void **state)
{
	struct fixture *fx = *state;
	struct doc d;

	root_doc(&d, 0, KS_FORMAT_VERSION, 1, 0, 0, 0, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), 0);
	root_doc(&d, 0, KS_FORMAT_VERSION, 1, 0, 0, 0, 1); /* unknown root key: ignored */
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), 0);
	root_doc(&d, 1, 1, 1, 0, 0, 0, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETYPE);
	root_doc(&d, 0, KS_FORMAT_VERSION, 1, 0, 1, 0, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETYPE);
	root_doc(&d, 0, KS_FORMAT_VERSION, 1, 0, -1, 0, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ESCHEMA);
	root_doc(&d, 0, KS_FORMAT_VERSION, 1, 0, 0, 1, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ESCHEMA);
	root_doc(&d, 0, KS_FORMAT_VERSION - 1, 1, 0, 0, 0, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_EMISMATCH);
	root_doc(&d, 0, KS_FORMAT_VERSION, 2, 0, 0, 0, 0); /* kind mismatch */
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_EMISMATCH);
	root_doc(&d, 0, KS_FORMAT_VERSION, 1, 1, 0, 0, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_EMISMATCH);

	/* a root that is not a map, a key that is not a string */
	doc_init(&d);
	msgpack_pack_array(&d.pk, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETYPE);
	doc_init(&d);
	msgpack_pack_map(&d.pk, 1);
	msgpack_pack_int(&d.pk, 1);
	msgpack_pack_int(&d.pk, 1);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETYPE);
	/* a negative count */
	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_key(&d, "n");
	msgpack_pack_int64(&d.pk, -1);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETYPE);
}

static void test_doc_columns(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t three[] = { 2, 4, 6 };
	static const uint8_t two[] = { 2, 4 };
	static const uint8_t four[] = { 2, 4, 6, 8 };
	static const uint8_t overrun[] = { 2, 4, 0x86 };
	static const uint8_t eleven[] = { 2, 4, 0x80, 0x80, 0x80, 0x80, 0x80,
					  0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	static const uint8_t overflow[] = { 2, 4, 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0x02 };
	static const uint8_t max64[] = { 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0x01 };
	uint8_t pid_big[32];
	size_t n;
	struct doc d;

	assert_int_equal(decode_col(fx, "pid", three, sizeof(three)), 0);
	assert_int_equal(decode_col(fx, "pid", two, sizeof(two)), -KS_ECOUNT);
	assert_int_equal(decode_col(fx, "pid", four, sizeof(four)), -KS_ECOUNT);
	assert_int_equal(decode_col(fx, "pid", NULL, 0), -KS_ECOUNT);
	assert_int_equal(decode_col(fx, "pid", overrun, sizeof(overrun)), -KS_EVARINT);
	assert_int_equal(decode_col(fx, "ret", eleven, sizeof(eleven)), -KS_EVARINT);
	assert_int_equal(decode_col(fx, "ret", overflow, sizeof(overflow)), -KS_EVARINT);
	assert_int_equal(decode_col(fx, "ret", max64, sizeof(max64)), 0);
	{
		/* byte planes: a width byte, then width planes of exactly n bytes */
		static const uint8_t planes_ok[] = { 2, 0, 0, 0, 0, 0, 0 }; /* ts stays 10..12 */
		static const uint8_t planes_zero[] = { 0 };
		static const uint8_t planes_short[] = { 2, 1, 2, 3, 0, 0 };
		static const uint8_t planes_long[] = { 1, 1, 2, 3, 4 };
		static const uint8_t planes_wide[] = { 9, 1, 2, 3 };
		static const uint8_t pid_wide[] = { 5, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
						    0, 0, 0 };

		assert_int_equal(decode_col(fx, "dur", planes_ok, sizeof(planes_ok)), 0);
		assert_int_equal(decode_col(fx, "dur", planes_zero, sizeof(planes_zero)), 0);
		assert_int_equal(decode_col(fx, "dur", planes_short, sizeof(planes_short)),
				 -KS_ECOUNT);
		assert_int_equal(decode_col(fx, "dur", planes_long, sizeof(planes_long)),
				 -KS_ECOUNT);
		assert_int_equal(decode_col(fx, "dur", NULL, 0), -KS_ECOUNT);
		assert_int_equal(decode_col(fx, "dur", planes_wide, sizeof(planes_wide)),
				 -KS_ERANGE);
		(void)pid_wide;
	}
	/* pid deltas reaching 2^32: over a u32 field */
	n = leb(pid_big, ((1ull << 32) - 1) << 1);
	n += leb(pid_big + n, 2);
	n += leb(pid_big + n, 0);
	assert_int_equal(decode_col(fx, "pid", pid_big, n), -KS_ERANGE);
	/* ... and below 0 */
	n = leb(pid_big, 1);
	n += leb(pid_big + n, 0);
	n += leb(pid_big + n, 0);
	assert_int_equal(decode_col(fx, "pid", pid_big, n), -KS_ERANGE);
	/* a plain u32 over 32 bits */
	n = leb(pid_big, 1ull << 32);
	n += leb(pid_big + n, 0);
	n += leb(pid_big + n, 0);
	assert_int_equal(decode_col(fx, "flags", pid_big, n), -KS_ERANGE);
	/* unknown columns are skipped, whatever they hold */
	assert_int_equal(decode_col(fx, "future", four, sizeof(four)), 0);
	/* a column that is not a bin */
	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_uint(&d, "n", 0);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 1);
	doc_key(&d, "ts");
	msgpack_pack_str(&d.pk, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETYPE);
	/* a column name that is not a string */
	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_uint(&d, "n", 0);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 1);
	msgpack_pack_bin(&d.pk, 2);
	msgpack_pack_bin_body(&d.pk, "ts", 2);
	msgpack_pack_bin(&d.pk, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETYPE);
	/* the same column twice */
	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_uint(&d, "n", 0);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 2);
	doc_bin(&d, "ts", NULL, 0);
	doc_bin(&d, "ts", NULL, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ESCHEMA);
}

/* Missing columns read as zero; header timestamps must match the rows. */
static void test_doc_missing_columns(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t ts[] = { 1, 20, 2, 2 };
	static const uint8_t pid[] = { 14, 0, 0 };
	struct ks_syscall want[3] = {
		{ .ts = 10, .pid = 7 }, { .ts = 11, .pid = 7 }, { .ts = 12, .pid = 7 },
	};
	struct ks_seg_header h;
	const void *rows;
	struct doc d;
	size_t len;
	uint8_t *seg;

	for (int pass = 0; pass < 3; pass++) {
		doc_init(&d);
		msgpack_pack_map(&d.pk, 4);
		doc_uint(&d, "v", KS_FORMAT_VERSION);
		doc_uint(&d, "kind", 1);
		doc_uint(&d, "n", 3);
		doc_key(&d, "cols");
		msgpack_pack_map(&d.pk, 2);
		doc_bin(&d, "ts", ts, sizeof(ts));
		doc_bin(&d, "pid", pid, sizeof(pid));
		seg = wrap_doc(KS_KIND_SYSCALL, 3, 10, pass == 2 ? 13 : 12, d.sb.data,
			       d.sb.size, &len);
		msgpack_sbuffer_destroy(&d.sb);
		if (pass == 2) {
			assert_int_equal(ks_seg_decode(fx->dec, seg, len, &h, &rows),
					 -KS_ETIMESTAMP);
		} else {
			assert_int_equal(ks_seg_decode(fx->dec, seg, len, &h, &rows), 0);
			assert_memory_equal(rows, want, sizeof(want));
		}
		free(seg);
		if (pass == 0) { /* dirty the reused rows before the next pass */
			struct ks_syscall junk[3];

			memset(junk, 0xa5, sizeof(junk));
			junk[0].ts = junk[1].ts = junk[2].ts = 1;
			round_trip(fx, KS_KIND_SYSCALL, junk, 3);
		}
	}
	/* no ts column: zero timestamps, so the header must say 0 */
	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_uint(&d, "n", 3);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 3, 0, 0), 0);
}

/* proc documents: string columns, a u32 and an s32 out of range. */
static int proc_doc(struct fixture *fx, const char *name, const void *col,
		    size_t col_len)
{
	static const uint8_t ts[] = { 2 };
	struct doc d;

	doc_init(&d);
	msgpack_pack_map(&d.pk, 4);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", KS_KIND_PROC);
	doc_uint(&d, "n", 1);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 2);
	doc_bin(&d, "ts", ts, sizeof(ts));
	doc_bin(&d, name, col, col_len);
	return decode_doc(fx, &d, KS_KIND_PROC, 1, 1, 1);
}

static void test_doc_proc_columns(void **state)
{
	struct fixture *fx = *state;
	uint8_t col[KS_ARGV_MAX + 16];
	size_t n;

	n = leb(col, 16);
	memset(col + n, 'c', 16);
	assert_int_equal(proc_doc(fx, "comm", col, n + 16), 0);
	n = leb(col, 17);
	memset(col + n, 'c', 17);
	assert_int_equal(proc_doc(fx, "comm", col, n + 17), -KS_ERANGE);
	n = leb(col, 3);
	memcpy(col + n, "a\0b", 3);
	assert_int_equal(proc_doc(fx, "comm", col, n + 3), -KS_ESCHEMA);
	assert_int_equal(proc_doc(fx, "argv", col, n + 3), 0);
	n = leb(col, 10); /* declares 10 bytes, holds 3 */
	memcpy(col + n, "abc", 3);
	assert_int_equal(proc_doc(fx, "argv", col, n + 3), -KS_ECOUNT);
	n = leb(col, KS_ARGV_MAX);
	memset(col + n, 0, KS_ARGV_MAX);
	assert_int_equal(proc_doc(fx, "argv", col, n + KS_ARGV_MAX), 0);
	n = leb(col, KS_ARGV_MAX + 1);
	memset(col + n, 0, KS_ARGV_MAX + 1);
	assert_int_equal(proc_doc(fx, "argv", col, n + KS_ARGV_MAX + 1), -KS_ERANGE);
	n = leb(col, UINT64_MAX);
	assert_int_equal(proc_doc(fx, "argv", col, n), -KS_ERANGE);
	col[0] = 0x80;
	assert_int_equal(proc_doc(fx, "argv", col, 1), -KS_EVARINT);
	/* argv_len travels in argv: a column of that name is not read */
	n = leb(col, 1000);
	assert_int_equal(proc_doc(fx, "argv_len", col, n), 0);
	/* exit_code is s32: zigzag of 2^31 is over it, of -2^31 is not */
	n = leb(col, (1ull << 31) << 1);
	assert_int_equal(proc_doc(fx, "exit_code", col, n), -KS_ERANGE);
	n = leb(col, ((1ull << 31) << 1) - 1);
	assert_int_equal(proc_doc(fx, "exit_code", col, n), 0);
	n = leb(col, 1ull << 32);
	assert_int_equal(proc_doc(fx, "what", col, n), -KS_ERANGE);
	n = leb_run(col, 0, 2);
	assert_int_equal(proc_doc(fx, "what", col, n), -KS_ECOUNT);
}

static void raw_bytes(struct doc *d, const void *b, size_t len)
{
	msgpack_sbuffer_write(&d->sb, b, len);
}

/* An unknown root entry holding one of every msgpack type: the decoder's
 * pre-walk of the document must step over each exactly as msgpack-c does. */
static void test_doc_every_msgpack_type(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t raw32[] = {
		0xc6, 0, 0, 0, 2, 'b', 'b',       /* bin32 (the packer's only over 64 KiB) */
		0xdb, 0, 0, 0, 1, 's',            /* str32 */
		0xc9, 0, 0, 0, 1, 7, 'e',         /* ext32 */
		0xdd, 0, 0, 0, 1, 0xc0,           /* array32 of nil */
		0xdf, 0, 0, 0, 1, 0xa1, 'k', 0x01 /* map32 */
	};
	static const size_t ext_sizes[] = { 1, 2, 4, 8, 16, 3, 300 };
	char *big = calloc(1, 300);
	struct doc d;
	unsigned items = 0;

	doc_init(&d);
	msgpack_pack_map(&d.pk, 5);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_key(&d, "later");
	msgpack_pack_array(&d.pk, 34);
	msgpack_pack_nil(&d.pk), items++;
	msgpack_pack_true(&d.pk), items++;
	msgpack_pack_false(&d.pk), items++;
	msgpack_pack_fix_uint8(&d.pk, 1), items++;
	msgpack_pack_fix_uint16(&d.pk, 1), items++;
	msgpack_pack_fix_uint32(&d.pk, 1), items++;
	msgpack_pack_fix_uint64(&d.pk, 1), items++;
	msgpack_pack_fix_int8(&d.pk, -1), items++;
	msgpack_pack_fix_int16(&d.pk, -1), items++;
	msgpack_pack_fix_int32(&d.pk, -1), items++;
	msgpack_pack_fix_int64(&d.pk, -1), items++;
	msgpack_pack_int(&d.pk, -5), items++;  /* negative fixint */
	msgpack_pack_int(&d.pk, 5), items++;   /* positive fixint */
	msgpack_pack_float(&d.pk, 1.5f), items++;
	msgpack_pack_double(&d.pk, 2.5), items++;
	msgpack_pack_str(&d.pk, 3), msgpack_pack_str_body(&d.pk, big, 3), items++;
	msgpack_pack_str(&d.pk, 40), msgpack_pack_str_body(&d.pk, big, 40), items++;
	msgpack_pack_str(&d.pk, 300), msgpack_pack_str_body(&d.pk, big, 300), items++;
	msgpack_pack_bin(&d.pk, 40), msgpack_pack_bin_body(&d.pk, big, 40), items++;
	msgpack_pack_bin(&d.pk, 300), msgpack_pack_bin_body(&d.pk, big, 300), items++;
	for (size_t i = 0; i < sizeof(ext_sizes) / sizeof(ext_sizes[0]); i++) {
		msgpack_pack_ext(&d.pk, ext_sizes[i], 3);
		msgpack_pack_ext_body(&d.pk, big, ext_sizes[i]);
		items++;
	}
	msgpack_pack_array(&d.pk, 20), items++; /* array16 */
	for (int i = 0; i < 20; i++)
		msgpack_pack_nil(&d.pk);
	msgpack_pack_map(&d.pk, 20), items++; /* map16 */
	for (int i = 0; i < 20; i++)
		msgpack_pack_int(&d.pk, i), msgpack_pack_nil(&d.pk);
	raw_bytes(&d, raw32, sizeof(raw32)), items += 5;
	assert_int_equal(items, 34);
	doc_uint(&d, "n", 0);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 0);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), 0);
	free(big);
}

/* A document that declares more containers than any ksight one is refused
 * before msgpack-c sees it, even when its bytes are all there. */
static void test_doc_too_many_items(void **state)
{
	struct fixture *fx = *state;
	struct doc d;

	doc_init(&d);
	msgpack_pack_map(&d.pk, 5);
	doc_uint(&d, "v", KS_FORMAT_VERSION);
	doc_uint(&d, "kind", 1);
	doc_uint(&d, "n", 0);
	doc_key(&d, "cols");
	msgpack_pack_map(&d.pk, 0);
	doc_key(&d, "padding");
	msgpack_pack_array(&d.pk, 5000);
	for (int i = 0; i < 5000; i++)
		msgpack_pack_nil(&d.pk);
	assert_int_equal(decode_doc(fx, &d, KS_KIND_SYSCALL, 0, 0, 0), -KS_ETOOBIG);
}

/* The codec against what the rows hold. 64 Ki syscalls of a copy loop: each
 * row picks read or write (1 bit), one of 16 durations (4 bits), one of 16
 * user-space gaps before it (4 bits) and one of 4 byte counts (2 bits), and
 * returns its count: 11 bits of information, 1.375 bytes, per row; everything
 * else (pid, fd from nr, flags) follows. A column codec that models each column
 * on its own gets within a half of that; one that stores the noisy values
 * rather than which of the few they are, or ret apart from the count, does
 * not. */
static void test_size_near_entropy(void **state)
{
	struct fixture *fx = *state;
	enum { N = 65536 };
	static const int64_t counts[4] = { 512, 4096, 10240, 65536 };
	struct ks_syscall *rows = calloc(N, sizeof(*rows));
	uint64_t x = 0x9e3779b97f4a7c15ull, ts = 1000000000;
	const double entropy = 11.0 / 8, bound = 1.5 * entropy;
	struct ks_seg_header h;
	const uint8_t *seg;
	const void *back;
	size_t len;

	assert_non_null(rows);
	for (size_t i = 0; i < N; i++) {
		struct ks_syscall *r = &rows[i];

		x ^= x << 13; /* xorshift64 */
		x ^= x >> 7;
		x ^= x << 17;
		r->nr = x & 1; /* read, write */
		r->dur = 400 + 37 * ((x >> 1) & 15);
		ts += 150 + 53 * ((x >> 5) & 15);
		r->ts = ts;
		ts += r->dur;
		r->pid = r->tid = 4242;
		r->flags = KS_SYSF_ARGS;
		r->arg0 = 3 + r->nr;
		r->arg1 = counts[(x >> 9) & 3];
		r->ret = r->arg1;
	}
	assert_int_equal(ks_seg_encode(fx->enc, KS_KIND_SYSCALL, rows, N, &seg, &len), 0);
	print_message("  %.3f bytes per syscall (information: %.3f, bound %.3f)\n",
		      (double)len / N, entropy, bound);
	assert_true((double)len / N <= bound);
	assert_int_equal(ks_seg_decode(fx->dec, seg, len, &h, &back), 0);
	assert_memory_equal(back, rows, (size_t)N * sizeof(*rows));
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_syscall_random),
		cmocka_unit_test(test_roundtrip_proc_random),
		cmocka_unit_test(test_roundtrip_edges),
		cmocka_unit_test(test_roundtrip_proc_edges),
		cmocka_unit_test(test_roundtrip_every_kind),
		cmocka_unit_test(test_varint_boundaries),
		cmocka_unit_test(test_encode_normalises_strings),
		cmocka_unit_test(test_empty_segment),
		cmocka_unit_test(test_decoder_reuse),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_layout_proc),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_encode_too_big),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_every_bit_flip_resealed),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_read_header),
		cmocka_unit_test(test_zstd_frames),
		cmocka_unit_test(test_size_near_entropy),
		cmocka_unit_test(test_doc_not_msgpack),
		cmocka_unit_test(test_doc_root),
		cmocka_unit_test(test_doc_columns),
		cmocka_unit_test(test_doc_missing_columns),
		cmocka_unit_test(test_doc_proc_columns),
		cmocka_unit_test(test_doc_every_msgpack_type),
		cmocka_unit_test(test_doc_too_many_items),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
