/* Segment codec: the unit record/ writes and replay/ reads. Rows -> columns
 * (column.c) -> one msgpack document -> one zstd frame -> header with an XXH64. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>
#include <zstd.h>

#include "format/column.h"
#include "format/event.h"
#include "format/kserr.h"
#include "format/segment.h"
#include "util/bytes.h"

#define DEFAULT_LEVEL 3
#define MAX_LEVEL 19
#define MAX_FIELDS 32
/* Document bytes besides its columns (keys, headers), with room to spare. */
#define DOC_SLACK (64u << 10)
/* Elements all containers of a document may declare together: 4 root entries
 * and a map of columns, with room for many columns added later. */
#define DOC_MAX_ITEMS 4096

enum hdr_off {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_KIND = 6,
	OFF_COUNT = 8,
	OFF_RAW = 12,
	OFF_COMP = 16,
	OFF_FLAGS = 20,
	OFF_FIRST = 24,
	OFF_LAST = 32,
	OFF_CSUM = 40,
};

_Static_assert(OFF_CSUM + 8 == KS_SEG_HDR_SIZE, "header layout");

/* A buffer reused from call to call: it grows, never shrinks. */
struct buf {
	uint8_t *p;
	size_t cap;
};

struct ks_seg_encoder {
	/* one context per level in use (two at most: the consumer switches between a
	 * fast and a tight level), so no context's workspace is resized back and forth:
	 * zstd grows a context to the larger level and frees it again later, which made
	 * the recorder's memory swing by ~12 MB */
	struct {
		ZSTD_CCtx *cctx;
		int level;
	} ctx[2];
	ZSTD_CCtx *cctx; /* the current one */
	msgpack_sbuffer doc; /* the document, reused */
	struct buf col;      /* one encoded column before it joins the document */
	struct buf out;      /* header + compressed document */
};

struct ks_seg_decoder {
	ZSTD_DCtx *dctx;
	msgpack_unpacked doc; /* its bins point into raw */
	struct buf raw;
	struct buf rows;
	struct buf dict; /* the tables of dictionary-plane columns */
};

/* Makes b hold at least need bytes; its contents are not kept. */
static int buf_reserve(struct buf *b, size_t need)
{
	uint8_t *p;

	if (need <= b->cap)
		return 0;
	p = malloc(need);
	if (!p)
		return -ENOMEM;
	free(b->p);
	b->p = p;
	b->cap = need;
	return 0;
}

/* ---- schema helpers ---------------------------------------------------- */

static const struct ks_field *field_named(const struct ks_schema *s,
					  const char *name, size_t len)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct ks_field *f = &s->fields[i];

		if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
			return f;
	}
	return NULL;
}

/* A field that only holds the length of a KS_F_BYTES field has no column of
 * its own: the bytes column carries it. */
static bool field_derived(const struct ks_schema *s, const struct ks_field *f)
{
	for (size_t i = 0; i < s->nfields; i++) {
		const struct ks_field *g = &s->fields[i];

		if (g->type == KS_F_BYTES && g->len_field &&
		    strcmp(g->len_field, f->name) == 0)
			return true;
	}
	return false;
}

/* The length field of a KS_F_BYTES field, the ref field of a gap field. */
static const struct ks_field *len_field_of(const struct ks_schema *s,
					   const struct ks_field *f)
{
	if ((f->enc & KS_ENC_BASE_MASK) == KS_ENC_GAP && f->ref_field)
		return field_named(s, f->ref_field, strlen(f->ref_field));
	if (f->type != KS_F_BYTES || !f->len_field)
		return NULL;
	return field_named(s, f->len_field, strlen(f->len_field));
}

/* Most document bytes one row can take: bounds raw_size by count. */
static uint64_t row_doc_max(const struct ks_schema *s)
{
	uint64_t max = 0;

	for (size_t i = 0; i < s->nfields; i++)
		max += ks_col_bound(&s->fields[i], 1);
	return max;
}

/* True when the fields leave bytes of the row uncovered (padding). */
static bool row_has_gaps(const struct ks_schema *s)
{
	size_t covered = 0;

	for (size_t i = 0; i < s->nfields; i++)
		covered += s->fields[i].size;
	return covered != s->row_size;
}

static void ts_range(const struct ks_schema *s, const void *rows, size_t n,
		     uint64_t *first, uint64_t *last)
{
	const uint8_t *p;
	uint64_t lo = UINT64_MAX, hi = 0;

	*first = *last = 0;
	if (n == 0) /* rows may be NULL */
		return;
	p = (const uint8_t *)rows + s->ts_offset;
	for (size_t i = 0; i < n; i++, p += s->row_size) {
		uint64_t ts;

		memcpy(&ts, p, sizeof(ts));
		lo = ts < lo ? ts : lo;
		hi = ts > hi ? ts : hi;
	}
	*first = lo;
	*last = hi;
}

/* ---- header ------------------------------------------------------------- */

static void header_put(const struct ks_seg_header *h, uint8_t *p)
{
	ks_put_le32(p + OFF_MAGIC, h->magic);
	ks_put_le16(p + OFF_VERSION, h->version);
	ks_put_le16(p + OFF_KIND, h->kind);
	ks_put_le32(p + OFF_COUNT, h->count);
	ks_put_le32(p + OFF_RAW, h->raw_size);
	ks_put_le32(p + OFF_COMP, h->comp_size);
	ks_put_le32(p + OFF_FLAGS, h->flags);
	ks_put_le64(p + OFF_FIRST, h->first_ts);
	ks_put_le64(p + OFF_LAST, h->last_ts);
	ks_put_le64(p + OFF_CSUM, h->checksum);
}

static void header_get(const uint8_t *p, struct ks_seg_header *h)
{
	h->magic = ks_get_le32(p + OFF_MAGIC);
	h->version = ks_get_le16(p + OFF_VERSION);
	h->kind = ks_get_le16(p + OFF_KIND);
	h->count = ks_get_le32(p + OFF_COUNT);
	h->raw_size = ks_get_le32(p + OFF_RAW);
	h->comp_size = ks_get_le32(p + OFF_COMP);
	h->flags = ks_get_le32(p + OFF_FLAGS);
	h->first_ts = ks_get_le64(p + OFF_FIRST);
	h->last_ts = ks_get_le64(p + OFF_LAST);
	h->checksum = ks_get_le64(p + OFF_CSUM);
}

/* XXH64 of the header with its checksum field zero, then the payload. */
static uint64_t seg_checksum(const uint8_t *hdr, const uint8_t *payload,
			     size_t comp_size)
{
	uint8_t zeroed[KS_SEG_HDR_SIZE];
	XXH64_state_t st;

	memcpy(zeroed, hdr, KS_SEG_HDR_SIZE);
	memset(zeroed + OFF_CSUM, 0, 8);
	XXH64_reset(&st, 0);
	XXH64_update(&st, zeroed, KS_SEG_HDR_SIZE);
	XXH64_update(&st, payload, comp_size);
	return XXH64_digest(&st);
}

/* Sizes that no encoder writes: they would make the decoder allocate for data
 * the segment cannot hold. */
static int check_sizes(const struct ks_schema *s, const struct ks_seg_header *h)
{
	if (h->raw_size == 0 || h->comp_size == 0)
		return -KS_ESIZES;
	/* an encoder writes at least one column, of at least a byte per row */
	if (h->count > h->raw_size)
		return -KS_ESIZES;
	if (h->raw_size > DOC_SLACK + (uint64_t)h->count * 2 * row_doc_max(s))
		return -KS_ESIZES;
	if (h->comp_size > ZSTD_compressBound(h->raw_size))
		return -KS_ESIZES;
	return 0;
}

/* Parses and checks the header alone. Returns 0 or -KS_ETRUNC, -KS_EMAGIC,
 * -KS_EVERSION, -KS_EFLAGS, -KS_EKIND, -KS_ETOOBIG, -KS_ETRAILING (bytes after
 * the payload), -KS_ESIZES (sizes contradict the count), -KS_ETIMESTAMP. */
int ks_seg_read_header(const void *buf, size_t len, struct ks_seg_header *hdr)
{
	struct ks_seg_header h;
	const struct ks_schema *s;
	int err;

	if (!buf || len < KS_SEG_HDR_SIZE)
		return -KS_ETRUNC;
	header_get(buf, &h);
	if (h.magic != KS_SEG_MAGIC)
		return -KS_EMAGIC;
	if (h.version < KS_FORMAT_VERSION_MIN || h.version > KS_FORMAT_VERSION)
		return -KS_EVERSION;
	if (h.flags)
		return -KS_EFLAGS;
	s = ks_schema_get(h.kind);
	if (!s)
		return -KS_EKIND;
	if (h.count > KS_SEG_MAX_EVENTS || h.raw_size > KS_SEG_MAX_RAW)
		return -KS_ETOOBIG;
	if ((uint64_t)h.comp_size + KS_SEG_HDR_SIZE > len)
		return -KS_ETRUNC;
	if ((uint64_t)h.comp_size + KS_SEG_HDR_SIZE < len)
		return -KS_ETRAILING;
	err = check_sizes(s, &h);
	if (err)
		return err;
	if (h.first_ts > h.last_ts || (h.count == 0 && h.last_ts))
		return -KS_ETIMESTAMP;
	if (hdr)
		*hdr = h;
	return 0;
}

/* ---- encoder ------------------------------------------------------------ */

/* Makes *cctx (created when NULL) compress at level. Returns 0, -ENOMEM, -EINVAL. */
static int cctx_setup(ZSTD_CCtx **cctx, int *at, int level)
{
	if (!*cctx && !(*cctx = ZSTD_createCCtx()))
		return -ENOMEM;
	*at = 0;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(*cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(*cctx, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(*cctx, ZSTD_c_checksumFlag, 0)))
		return -EINVAL;
	*at = level;
	return 0;
}

/* Changes the zstd level of the next segments (0: the default). Returns 0,
 * -EINVAL (level out of range). */
int ks_seg_encoder_set_level(struct ks_seg_encoder *enc, int level)
{
	if (level == 0)
		level = DEFAULT_LEVEL;
	if (!enc || level < 1 || level > MAX_LEVEL)
		return -EINVAL;
	for (int i = 0; i < 2; i++)
		if (enc->ctx[i].level == level) {
			enc->cctx = enc->ctx[i].cctx;
			return 0;
		}
	/* the slot not in use takes the new level */
	int i = enc->cctx == enc->ctx[0].cctx ? 1 : 0;
	int err = cctx_setup(&enc->ctx[i].cctx, &enc->ctx[i].level, level);

	if (!err)
		enc->cctx = enc->ctx[i].cctx;
	return err;
}

/* Creates an encoder compressing at level (0: 3). Returns 0, -EINVAL (level
 * out of 1..19), -ENOMEM. */
int ks_seg_encoder_new(int level, struct ks_seg_encoder **out)
{
	struct ks_seg_encoder *enc = NULL;
	int err = -EINVAL;

	if (level == 0)
		level = DEFAULT_LEVEL;
	if (level < 1 || level > MAX_LEVEL || !out)
		goto out;
	err = -ENOMEM;
	enc = calloc(1, sizeof(*enc));
	if (!enc)
		goto out;
	msgpack_sbuffer_init(&enc->doc);
	err = cctx_setup(&enc->ctx[0].cctx, &enc->ctx[0].level, level);
	if (err)
		goto out;
	enc->cctx = enc->ctx[0].cctx;
	*out = enc;
	enc = NULL;
	err = 0;
out:
	ks_seg_encoder_free(enc);
	return err;
}

/* Frees enc and its buffers; NULL is a no-op. */
void ks_seg_encoder_free(struct ks_seg_encoder *enc)
{
	if (!enc)
		return;
	ZSTD_freeCCtx(enc->ctx[0].cctx);
	ZSTD_freeCCtx(enc->ctx[1].cctx);
	msgpack_sbuffer_destroy(&enc->doc);
	free(enc->col.p);
	free(enc->out.p);
	free(enc);
}

static int pack_key(msgpack_packer *pk, const char *key)
{
	size_t len = strlen(key);

	return msgpack_pack_str(pk, len) | msgpack_pack_str_body(pk, key, len);
}

static int pack_column(struct ks_seg_encoder *enc, msgpack_packer *pk,
		       const struct ks_schema *s, const struct ks_field *f,
		       const void *rows, size_t n)
{
	size_t len;
	int err;

	err = buf_reserve(&enc->col, ks_col_bound(f, n));
	if (err)
		return err;
	len = n ? ks_col_encode(f, len_field_of(s, f), rows, n, s->row_size, enc->col.p)
		: 0;
	err = pack_key(pk, f->name) | msgpack_pack_bin(pk, len);
	if (len) /* an empty body would make the sbuffer memcpy from NULL */
		err |= msgpack_pack_bin_body(pk, enc->col.p, len);
	return err ? -ENOMEM : 0;
}

/* {"v": version, "kind": kind, "n": count, "cols": {name: bin, ...}} */
static int pack_doc(struct ks_seg_encoder *enc, const struct ks_schema *s,
		    const void *rows, size_t n)
{
	msgpack_packer pk;
	size_t ncols = 0;
	int err = 0;

	for (size_t i = 0; i < s->nfields; i++)
		ncols += !field_derived(s, &s->fields[i]);
	msgpack_packer_init(&pk, &enc->doc, msgpack_sbuffer_write);
	err |= msgpack_pack_map(&pk, 4);
	err |= pack_key(&pk, "v") | msgpack_pack_uint32(&pk, KS_FORMAT_VERSION);
	err |= pack_key(&pk, "kind") | msgpack_pack_uint32(&pk, s->kind);
	err |= pack_key(&pk, "n") | msgpack_pack_uint64(&pk, n);
	err |= pack_key(&pk, "cols") | msgpack_pack_map(&pk, ncols);
	if (err)
		return -ENOMEM;
	for (size_t i = 0; i < s->nfields; i++) {
		if (field_derived(s, &s->fields[i]))
			continue;
		err = pack_column(enc, &pk, s, &s->fields[i], rows, n);
		if (err)
			return err;
	}
	return 0;
}

static int compress_doc(struct ks_seg_encoder *enc, size_t *comp_size)
{
	size_t bound = ZSTD_compressBound(enc->doc.size);
	size_t r;
	int err;

	err = buf_reserve(&enc->out, KS_SEG_HDR_SIZE + bound);
	if (err)
		return err;
	r = ZSTD_compress2(enc->cctx, enc->out.p + KS_SEG_HDR_SIZE, bound,
			   enc->doc.data, enc->doc.size);
	if (ZSTD_isError(r))
		return -KS_ECOMPRESS;
	*comp_size = r;
	return 0;
}

int ks_seg_encoder_reserve(struct ks_seg_encoder *enc, int level, size_t raw_bytes)
{
	size_t bound = ZSTD_compressBound(raw_bytes), r;
	void *zero;
	int err;

	if (!enc || raw_bytes > KS_SEG_MAX_RAW)
		return -EINVAL;
	err = ks_seg_encoder_set_level(enc, level);
	err = err ?: buf_reserve(&enc->out, KS_SEG_HDR_SIZE + bound);
	if (err)
		return err;
	/* zstd sizes (and clears) its tables from the level and the input size only:
	 * zeros, which cost nothing to read or to compress, stand in for the data */
	zero = calloc(1, raw_bytes ? raw_bytes : 1);
	if (!zero)
		return -ENOMEM;
	r = ZSTD_compress2(enc->cctx, enc->out.p + KS_SEG_HDR_SIZE, bound, zero, raw_bytes);
	free(zero);
	return ZSTD_isError(r) ? -KS_ECOMPRESS : 0;
}

/* Encodes n rows of kind into a segment held by enc until its next call.
 * Returns 0, -EINVAL, -KS_EKIND, -KS_ETOOBIG, -KS_ECOMPRESS, -ENOMEM. */
int ks_seg_encode(struct ks_seg_encoder *enc, unsigned kind, const void *rows,
		  size_t n, const uint8_t **out, size_t *out_len)
{
	const struct ks_schema *s = ks_schema_get(kind);
	struct ks_seg_header h = {
		.magic = KS_SEG_MAGIC,
		.version = KS_FORMAT_VERSION,
		.kind = (uint16_t)kind,
		.count = (uint32_t)n,
	};
	size_t comp_size;
	int err;

	if (!s)
		return -KS_EKIND;
	if (n > KS_SEG_MAX_EVENTS)
		return -KS_ETOOBIG;
	if (!enc || !out || !out_len || (n && !rows) || s->nfields > MAX_FIELDS)
		return -EINVAL;
	msgpack_sbuffer_clear(&enc->doc);
	err = pack_doc(enc, s, rows, n);
	if (err)
		return err;
	if (enc->doc.size > KS_SEG_MAX_RAW)
		return -KS_ETOOBIG;
	err = compress_doc(enc, &comp_size);
	if (err)
		return err;
	h.raw_size = (uint32_t)enc->doc.size;
	h.comp_size = (uint32_t)comp_size;
	ts_range(s, rows, n, &h.first_ts, &h.last_ts);
	header_put(&h, enc->out.p);
	ks_put_le64(enc->out.p + OFF_CSUM,
	      seg_checksum(enc->out.p, enc->out.p + KS_SEG_HDR_SIZE, comp_size));
	*out = enc->out.p;
	*out_len = KS_SEG_HDR_SIZE + comp_size;
	return 0;
}

/* ---- decoder ------------------------------------------------------------ */

/* Creates a decoder. Returns 0, -EINVAL, -ENOMEM. */
int ks_seg_decoder_new(struct ks_seg_decoder **out)
{
	struct ks_seg_decoder *dec = NULL;
	int err = -EINVAL;

	if (!out)
		goto out;
	err = -ENOMEM;
	dec = calloc(1, sizeof(*dec));
	if (!dec)
		goto out;
	msgpack_unpacked_init(&dec->doc);
	dec->dctx = ZSTD_createDCtx();
	if (!dec->dctx)
		goto out;
	*out = dec;
	dec = NULL;
	err = 0;
out:
	ks_seg_decoder_free(dec);
	return err;
}

/* Frees dec and its buffers, the rows it returned included; NULL is a no-op. */
void ks_seg_decoder_free(struct ks_seg_decoder *dec)
{
	if (!dec)
		return;
	ZSTD_freeDCtx(dec->dctx);
	msgpack_unpacked_destroy(&dec->doc);
	free(dec->raw.p);
	free(dec->rows.p);
	free(dec->dict.p);
	free(dec);
}

static int decompress(struct ks_seg_decoder *dec, const uint8_t *src,
		      const struct ks_seg_header *h)
{
	unsigned long long content;
	size_t r;
	int err;

	/* Only a plain zstd frame: no skippable or legacy ones. */
	if (h->comp_size < 4 || ks_get_le32(src) != ZSTD_MAGICNUMBER)
		return -KS_EDECOMPRESS;
	content = ZSTD_getFrameContentSize(src, h->comp_size);
	if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
		return -KS_EDECOMPRESS;
	if (content != h->raw_size)
		return -KS_ERAWSIZE;
	r = ZSTD_findFrameCompressedSize(src, h->comp_size);
	if (ZSTD_isError(r) || r != h->comp_size)
		return -KS_EDECOMPRESS;
	err = buf_reserve(&dec->raw, h->raw_size);
	if (err)
		return err;
	r = ZSTD_decompressDCtx(dec->dctx, dec->raw.p, h->raw_size, src, h->comp_size);
	if (ZSTD_isError(r))
		return -KS_EDECOMPRESS;
	return r == h->raw_size ? 0 : -KS_ERAWSIZE;
}

enum mp_shape { MP_BAD = 0, MP_SKIP, MP_LEN, MP_ARRAY, MP_MAP };

/* msgpack types 0xc0..0xdf: what follows the type byte. For MP_SKIP, n bytes;
 * otherwise an n-byte big-endian length or count (then, for ext, a type byte). */
static const struct {
	uint8_t shape, n, extra;
} mp_types[32] = {
	[0x00] = { MP_SKIP, 0, 0 }, /* nil; 0xc1 is never used */
	[0x02] = { MP_SKIP, 0, 0 },  [0x03] = { MP_SKIP, 0, 0 },
	[0x04] = { MP_LEN, 1, 0 },   [0x05] = { MP_LEN, 2, 0 },
	[0x06] = { MP_LEN, 4, 0 },   [0x07] = { MP_LEN, 1, 1 },
	[0x08] = { MP_LEN, 2, 1 },   [0x09] = { MP_LEN, 4, 1 },
	[0x0a] = { MP_SKIP, 4, 0 },  [0x0b] = { MP_SKIP, 8, 0 },
	[0x0c] = { MP_SKIP, 1, 0 },  [0x0d] = { MP_SKIP, 2, 0 },
	[0x0e] = { MP_SKIP, 4, 0 },  [0x0f] = { MP_SKIP, 8, 0 },
	[0x10] = { MP_SKIP, 1, 0 },  [0x11] = { MP_SKIP, 2, 0 },
	[0x12] = { MP_SKIP, 4, 0 },  [0x13] = { MP_SKIP, 8, 0 },
	[0x14] = { MP_SKIP, 2, 0 },  [0x15] = { MP_SKIP, 3, 0 },
	[0x16] = { MP_SKIP, 5, 0 },  [0x17] = { MP_SKIP, 9, 0 },
	[0x18] = { MP_SKIP, 17, 0 }, [0x19] = { MP_LEN, 1, 0 },
	[0x1a] = { MP_LEN, 2, 0 },   [0x1b] = { MP_LEN, 4, 0 },
	[0x1c] = { MP_ARRAY, 2, 0 }, [0x1d] = { MP_ARRAY, 4, 0 },
	[0x1e] = { MP_MAP, 2, 0 },   [0x1f] = { MP_MAP, 4, 0 },
};

/* Reads the type byte at *pp and what it declares: elements that follow
 * (*items) and bytes to skip (*skip). */
static int mp_item(const uint8_t **pp, const uint8_t *end, uint64_t *items,
		   uint64_t *skip)
{
	const uint8_t *p = *pp;
	uint8_t t = *p++;
	unsigned shape, n = 0;
	uint64_t v = 0;

	if (t <= 0x7f || t >= 0xe0) { /* fixints */
		shape = MP_SKIP;
	} else if (t <= 0x8f) {
		shape = MP_MAP;
		v = t & 0x0f;
	} else if (t <= 0x9f) {
		shape = MP_ARRAY;
		v = t & 0x0f;
	} else if (t <= 0xbf) {
		shape = MP_LEN;
		v = t & 0x1f;
	} else {
		shape = mp_types[t - 0xc0].shape;
		n = mp_types[t - 0xc0].n;
		if (shape == MP_BAD)
			return -KS_EMSGPACK;
		if (shape != MP_SKIP) { /* a big-endian length or count */
			if ((size_t)(end - p) < n)
				return -KS_EMSGPACK;
			for (unsigned i = 0; i < n; i++)
				v = v << 8 | *p++;
			n = mp_types[t - 0xc0].extra;
		}
	}
	*items = shape == MP_ARRAY ? v : shape == MP_MAP ? 2 * v : 0;
	*skip = shape == MP_SKIP ? n : shape == MP_LEN ? v + n : 0;
	*pp = p;
	return 0;
}

/* msgpack-c allocates a container's elements as soon as it reads the
 * container's header, before it knows the input holds them: five hostile bytes
 * would have it allocate up to 96 GiB. So walk the document first and refuse
 * it when its containers declare more elements than a ksight document has. */
static int doc_guard(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint64_t pending = 1, declared = 0;

	while (pending--) {
		uint64_t items, skip;
		int err;

		if (p == end)
			return -KS_EMSGPACK;
		err = mp_item(&p, end, &items, &skip);
		if (err)
			return err;
		if (skip > (uint64_t)(end - p))
			return -KS_EMSGPACK;
		p += skip;
		declared += items;
		if (declared > DOC_MAX_ITEMS)
			return -KS_ETOOBIG;
		pending += items;
	}
	return p == end ? 0 : -KS_EMSGPACK; /* one document, nothing after it */
}

static bool key_is(const msgpack_object *k, const char *name)
{
	size_t len = strlen(name);

	return k->via.str.size == len && memcmp(k->via.str.ptr, name, len) == 0;
}

/* Parses the document and checks its root against the header; *cols is the map
 * of columns. */
static int parse_doc(struct ks_seg_decoder *dec, const struct ks_seg_header *h,
		     const msgpack_object **cols)
{
	static const char *const keys[] = { "v", "kind", "n", "cols" };
	const msgpack_object *val[4] = { NULL };
	const msgpack_object *root = &dec->doc.data;
	size_t off = 0;
	int err;

	err = doc_guard(dec->raw.p, h->raw_size);
	if (err)
		return err;
	if (msgpack_unpack_next(&dec->doc, (const char *)dec->raw.p, h->raw_size,
				&off) != MSGPACK_UNPACK_SUCCESS ||
	    off != h->raw_size)
		return -KS_EMSGPACK;
	if (root->type != MSGPACK_OBJECT_MAP)
		return -KS_ETYPE;
	for (uint32_t i = 0; i < root->via.map.size; i++) {
		const msgpack_object_kv *kv = &root->via.map.ptr[i];

		if (kv->key.type != MSGPACK_OBJECT_STR)
			return -KS_ETYPE;
		for (unsigned k = 0; k < 4; k++) {
			if (!key_is(&kv->key, keys[k]))
				continue;
			if (val[k])
				return -KS_ESCHEMA; /* duplicate key */
			val[k] = &kv->val;
		}
	}
	for (unsigned k = 0; k < 4; k++)
		if (!val[k])
			return -KS_ESCHEMA;
	for (unsigned k = 0; k < 3; k++)
		if (val[k]->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return -KS_ETYPE;
	if (val[3]->type != MSGPACK_OBJECT_MAP)
		return -KS_ETYPE;
	if (val[0]->via.u64 != h->version || val[1]->via.u64 != h->kind ||
	    val[2]->via.u64 != h->count)
		return -KS_EMISMATCH;
	*cols = val[3];
	return 0;
}

/* Matches the document's columns to the schema's fields: col[i] is field i's
 * bin or NULL. Unknown columns are skipped (a newer writer's). */
static int match_columns(const struct ks_schema *s, const msgpack_object *cols,
			 const msgpack_object_bin **col)
{
	for (uint32_t i = 0; i < cols->via.map.size; i++) {
		const msgpack_object_kv *kv = &cols->via.map.ptr[i];
		const struct ks_field *f;

		if (kv->key.type != MSGPACK_OBJECT_STR ||
		    kv->val.type != MSGPACK_OBJECT_BIN)
			return -KS_ETYPE;
		f = field_named(s, kv->key.via.str.ptr, kv->key.via.str.size);
		if (!f || field_derived(s, f))
			continue;
		if (col[f - s->fields])
			return -KS_ESCHEMA; /* duplicate column */
		col[f - s->fields] = &kv->val.via.bin;
	}
	return 0;
}

/* Rows decoded across all columns before moving on: a block stays in L1/L2
 * while every column writes its field, instead of the whole row array going
 * through the cache once per column. */
#define DECODE_BLOCK_BYTES (32u << 10)

/* Decodes the columns into count rows and finds their first and last
 * timestamps, block by block while each block is in cache. */
static int decode_columns(struct ks_seg_decoder *dec, const struct ks_schema *s,
			  const msgpack_object *cols, size_t count,
			  uint64_t *first_ts, uint64_t *last_ts)
{
	const msgpack_object_bin *col[MAX_FIELDS] = { NULL };
	struct ks_col_cursor cur[MAX_FIELDS];
	size_t block = DECODE_BLOCK_BYTES / s->row_size + 1;
	bool zero = row_has_gaps(s);
	uint64_t lo = UINT64_MAX, hi = 0, *dict;
	size_t nplanes = 0;
	int err;

	*first_ts = *last_ts = 0;
	if (s->nfields > MAX_FIELDS)
		return -KS_ESCHEMA;
	err = match_columns(s, cols, col);
	if (err)
		return err;
	for (size_t i = 0; i < s->nfields; i++)
		nplanes += col[i] && (s->fields[i].enc & KS_ENC_PLANES);
	err = buf_reserve(&dec->dict, nplanes * KS_COL_DICT_MAX * sizeof(uint64_t));
	if (err)
		return err;
	dict = (uint64_t *)dec->dict.p;
	for (size_t i = 0; i < s->nfields; i++) {
		if (col[i]) {
			bool planes = s->fields[i].enc & KS_ENC_PLANES;

			err = ks_col_cursor_init(&cur[i], &s->fields[i], col[i]->ptr,
						 col[i]->size, count, planes ? dict : NULL);
			dict += planes ? KS_COL_DICT_MAX : 0;
			if (err)
				return err;
		} else {
			zero |= !field_derived(s, &s->fields[i]);
		}
	}
	if (count) {
		err = buf_reserve(&dec->rows, count * s->row_size);
		if (err)
			return err;
	}
	if (count && zero) /* missing columns (an older writer's), padding: zero */
		memset(dec->rows.p, 0, count * s->row_size);
	for (size_t start = 0; start < count; start += block) {
		size_t n = count - start < block ? count - start : block;
		uint8_t *rows = dec->rows.p + start * s->row_size;
		uint64_t first, last;

		for (size_t i = 0; i < s->nfields; i++) {
			const struct ks_field *f = &s->fields[i];

			if (!col[i])
				continue;
			err = ks_col_decode(f, len_field_of(s, f), &cur[i], rows, n,
					    s->row_size);
			if (err)
				return err;
		}
		ts_range(s, rows, n, &first, &last);
		lo = first < lo ? first : lo;
		hi = last > hi ? last : hi;
	}
	for (size_t i = 0; i < s->nfields; i++)
		if (col[i] && cur[i].p != cur[i].end)
			return -KS_ECOUNT; /* values left over */
	if (count) {
		*first_ts = lo;
		*last_ts = hi;
	}
	return 0;
}

/* Verifies and decodes a segment into rows owned by dec. Returns 0, -EINVAL,
 * -ENOMEM, a ks_seg_read_header() error, -KS_ECHECKSUM, -KS_EDECOMPRESS,
 * -KS_ERAWSIZE, -KS_EMSGPACK, -KS_ETOOBIG (document declares too many
 * elements), -KS_ETYPE, -KS_ESCHEMA, -KS_EMISMATCH, -KS_ECOUNT, -KS_EVARINT,
 * -KS_ERANGE, -KS_ETIMESTAMP. */
int ks_seg_decode(struct ks_seg_decoder *dec, const void *buf, size_t len,
		  struct ks_seg_header *hdr, const void **rows)
{
	struct ks_seg_header h;
	const struct ks_schema *s;
	const msgpack_object *cols;
	const uint8_t *payload;
	uint64_t first, last;
	int err;

	if (!dec || !hdr || !rows)
		return -EINVAL;
	err = ks_seg_read_header(buf, len, &h);
	if (err)
		return err;
	s = ks_schema_get_version(h.kind, h.version);
	payload = (const uint8_t *)buf + KS_SEG_HDR_SIZE;
	if (seg_checksum(buf, payload, h.comp_size) != h.checksum)
		return -KS_ECHECKSUM;
	err = decompress(dec, payload, &h);
	if (err)
		return err;
	err = parse_doc(dec, &h, &cols);
	if (err)
		return err;
	err = decode_columns(dec, s, cols, h.count, &first, &last);
	if (err)
		return err;
	if (first != h.first_ts || last != h.last_ts)
		return -KS_ETIMESTAMP;
	*hdr = h;
	*rows = dec->rows.p;
	return 0;
}
