/* Delta records of the deltas database: their checked decoding for restore and
 * timeline, and the writer that chunks, deduplicates and compresses payloads for
 * the recorder. See delta.h for the layout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "format/delta.h"
#include "format/kserr.h"
#include "util/bytes.h"
#include "util/grow.h"
#include "util/hmap.h"

static const char *const op_names[KS_DOP_MAX] = {
	[KS_DOP_MKDIR] = "mkdir",       [KS_DOP_CREATE] = "create",
	[KS_DOP_WRITE] = "write",       [KS_DOP_TRUNCATE] = "truncate",
	[KS_DOP_CONTENT] = "content",   [KS_DOP_UNLINK] = "unlink",
	[KS_DOP_RMDIR] = "rmdir",       [KS_DOP_RENAME] = "rename",
	[KS_DOP_SYMLINK] = "symlink",   [KS_DOP_LINK] = "link",
	[KS_DOP_CHMOD] = "chmod",       [KS_DOP_CHOWN] = "chown",
	[KS_DOP_FALLOCATE] = "fallocate",
};

const char *ks_delta_op_name(unsigned op)
{
	return op && op < KS_DOP_MAX ? op_names[op] : "?";
}

void ks_delta_key(uint64_t file, uint64_t seq, uint8_t key[KS_DELTA_KEY_LEN])
{
	ks_put_be64(key, file);
	ks_put_be64(key + 8, seq);
}

void ks_chunk_key(const uint8_t hash[16], uint8_t key[KS_CHUNK_KEY_LEN])
{
	memset(key, 0xff, 8);
	memcpy(key + 8, hash, 16);
}

bool ks_is_chunk_key(const void *key, size_t klen)
{
	static const uint8_t ff[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	return klen == KS_CHUNK_KEY_LEN && !memcmp(key, ff, 8);
}

bool ks_is_pack_key(const void *key, size_t klen)
{
	static const uint8_t pre[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	return klen == KS_PACK_KEY_LEN && !memcmp(key, pre, sizeof(pre));
}

void ks_pack_key(uint64_t pack, uint8_t key[KS_PACK_KEY_LEN])
{
	memset(key, 0xff, 8);
	memset(key + 8, 0, 4);
	ks_put_be64(key + 12, pack);
}

int ks_pack_slice(const void *val, size_t vlen, const struct ks_chunk_ref *ref,
		  const void **chunk, size_t *clen)
{
	const uint8_t *v = val;

	if (vlen < KS_PACK_HDR_SIZE)
		return -KS_ETRUNC;
	if (v[0] != 'K' || v[1] != 'P' || v[2] != 1 || v[3])
		return -KS_EMAGIC;
	if (ks_get_le32(v + 4) != vlen - KS_PACK_HDR_SIZE)
		return -KS_ESIZES;
	if ((uint64_t)ref->off + ref->slen > vlen - KS_PACK_HDR_SIZE)
		return -KS_ETRUNC;
	*chunk = v + KS_PACK_HDR_SIZE + ref->off;
	*clen = ref->slen;
	return 0;
}

void ks_chunk_hash(const void *data, size_t len, uint8_t hash[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	memcpy(hash, c.digest, 16);
}

/* The header's 64 bytes seed the hash of the payload. */
static uint64_t delta_sum(const uint8_t *hdr, const void *payload, size_t plen)
{
	return XXH3_64bits_withSeed(payload, plen, XXH3_64bits(hdr, 64));
}

void ks_delta_encode(const struct ks_delta *d, const void *payload, uint8_t *out)
{
	out[0] = KS_DELTA_VERSION;
	out[1] = d->op;
	out[2] = d->enc;
	out[3] = d->flags;
	ks_put_le32(out + 4, d->pid);
	ks_put_le64(out + 8, d->ts);
	ks_put_le64(out + 16, d->file2);
	ks_put_le64(out + 24, d->offset);
	ks_put_le64(out + 32, d->length);
	ks_put_le32(out + 40, d->mode);
	ks_put_le32(out + 44, d->uid);
	ks_put_le32(out + 48, d->gid);
	ks_put_le32(out + 52, d->arg);
	ks_put_le32(out + 56, d->plen);
	ks_put_le32(out + 60, d->rlen);
	if (d->plen)
		memcpy(out + KS_DELTA_HDR_SIZE, payload, d->plen);
	ks_put_le64(out + 64, delta_sum(out, out + KS_DELTA_HDR_SIZE, d->plen));
}

void ks_delta_chunk_ref(const struct ks_delta *d, size_t i, struct ks_chunk_ref *r)
{
	const uint8_t *p = d->payload + i * KS_CHUNK_REF_SIZE;

	r->kind = p[0];
	r->len = ks_get_le32(p + 1);
	memcpy(r->hash, p + 5, 16);
	r->pack = ks_get_le64(p + 21);
	r->off = ks_get_le32(p + 29);
	r->slen = ks_get_le32(p + 33);
}

/* The payload encoding each op may carry. */
static int check_payload(struct ks_delta *d)
{
	uint64_t sum = 0;

	switch (d->enc) {
	case KS_DENC_NONE:
		if (d->plen || d->rlen)
			return -KS_ESCHEMA;
		return 0;
	case KS_DENC_RAW:
		if (d->plen != d->rlen || !d->rlen || d->rlen > KS_DELTA_RAW_MAX)
			return -KS_ESCHEMA;
		d->dlen = d->rlen;
		return 0;
	case KS_DENC_ZSTD:
		if (!d->plen || !d->rlen || d->rlen > KS_DELTA_RAW_MAX)
			return -KS_ESCHEMA;
		d->dlen = d->rlen;
		return 0;
	case KS_DENC_CHUNKS:
		if (!d->plen || d->plen % KS_CHUNK_REF_SIZE || d->rlen)
			return -KS_ESCHEMA;
		for (size_t i = 0; i < ks_delta_chunk_count(d); i++) {
			struct ks_chunk_ref r;

			ks_delta_chunk_ref(d, i, &r);
			if (r.kind > KS_CHUNK_ZERO || !r.len || r.len > KS_CHUNK_MAX)
				return -KS_ESCHEMA;
			if (r.kind == KS_CHUNK_ZERO ? r.pack || r.off || r.slen :
			    r.slen <= KS_CHUNK_HDR_SIZE || r.slen > 2 * KS_CHUNK_MAX ||
			    (!r.pack && r.off))
				return -KS_ESCHEMA;
			sum += r.len;
		}
		d->dlen = sum;
		return 0;
	default:
		return -KS_ESCHEMA;
	}
}

int ks_delta_decode(const void *key, size_t klen, const void *val, size_t vlen,
		    struct ks_delta *d)
{
	const uint8_t *v = val;
	int err;

	memset(d, 0, sizeof(*d));
	if (klen != KS_DELTA_KEY_LEN || ks_is_chunk_key(key, klen))
		return -KS_ESCHEMA;
	if (vlen < KS_DELTA_HDR_SIZE)
		return -KS_ETRUNC;
	if (v[0] != KS_DELTA_VERSION)
		return -KS_EVERSION;
	d->file = ks_get_be64(key);
	d->seq = ks_get_be64((const uint8_t *)key + 8);
	d->op = v[1];
	d->enc = v[2];
	d->flags = v[3];
	d->pid = ks_get_le32(v + 4);
	d->ts = ks_get_le64(v + 8);
	d->file2 = ks_get_le64(v + 16);
	d->offset = ks_get_le64(v + 24);
	d->length = ks_get_le64(v + 32);
	d->mode = ks_get_le32(v + 40);
	d->uid = ks_get_le32(v + 44);
	d->gid = ks_get_le32(v + 48);
	d->arg = ks_get_le32(v + 52);
	d->plen = ks_get_le32(v + 56);
	d->rlen = ks_get_le32(v + 60);
	d->payload = v + KS_DELTA_HDR_SIZE;
	if (d->plen != vlen - KS_DELTA_HDR_SIZE)
		return vlen - KS_DELTA_HDR_SIZE < d->plen ? -KS_ETRUNC : -KS_ETRAILING;
	if (ks_get_le64(v + 64) != delta_sum(v, d->payload, d->plen))
		return -KS_ECHECKSUM;
	if (d->flags & ~KS_DF_KNOWN)
		return -KS_EFLAGS;
	if (!d->file || !d->seq || d->mode & ~07777u)
		return -KS_ESCHEMA;
	if (d->offset > KS_FILE_SIZE_MAX || d->length > KS_FILE_SIZE_MAX ||
	    d->offset + d->length > KS_FILE_SIZE_MAX)
		return -KS_ERANGE;
	err = check_payload(d);
	if (err)
		return err;
	switch (d->op) {
	case KS_DOP_WRITE:
		if (d->enc == KS_DENC_NONE || d->dlen != d->length)
			return -KS_ESIZES;
		break;
	case KS_DOP_CONTENT:
		if (d->offset || d->dlen > d->length)
			return -KS_ESIZES;
		break;
	case KS_DOP_SYMLINK:
		if (d->enc != KS_DENC_RAW && d->enc != KS_DENC_ZSTD)
			return -KS_ESCHEMA;
		if (d->dlen > KS_LINK_MAX)
			return -KS_ERANGE;
		break;
	case KS_DOP_RENAME:
	case KS_DOP_LINK:
		if (!d->file2 || d->enc != KS_DENC_NONE)
			return -KS_ESCHEMA;
		break;
	case KS_DOP_MKDIR:
	case KS_DOP_CREATE:
	case KS_DOP_TRUNCATE:
	case KS_DOP_UNLINK:
	case KS_DOP_RMDIR:
	case KS_DOP_CHMOD:
	case KS_DOP_CHOWN:
	case KS_DOP_FALLOCATE:
		if (d->enc != KS_DENC_NONE)
			return -KS_ESCHEMA;
		break;
	default:
		return -KS_ESCHEMA;
	}
	return 0;
}

/* ---- reading payloads ------------------------------------------------------- */

struct ks_delta_reader {
	ZSTD_DCtx *z;
	uint8_t *buf; /* KS_DELTA_RAW_MAX >= KS_CHUNK_MAX bytes */
};

int ks_delta_reader_new(struct ks_delta_reader **out)
{
	struct ks_delta_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->z = ZSTD_createDCtx();
	r->buf = malloc(KS_DELTA_RAW_MAX);
	if (!r->z || !r->buf) {
		ks_delta_reader_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void ks_delta_reader_free(struct ks_delta_reader *r)
{
	if (!r)
		return;
	ZSTD_freeDCtx(r->z);
	free(r->buf);
	free(r);
}

/* Decompresses exactly want bytes of one frame into r->buf. */
static int unzstd(struct ks_delta_reader *r, const void *src, size_t len, size_t want)
{
	unsigned long long fsz = ZSTD_getFrameContentSize(src, len);
	size_t n;

	if (fsz == ZSTD_CONTENTSIZE_ERROR)
		return -KS_EDECOMPRESS;
	if (fsz != ZSTD_CONTENTSIZE_UNKNOWN && fsz != want)
		return -KS_ERAWSIZE;
	n = ZSTD_decompressDCtx(r->z, r->buf, want, src, len);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ? -KS_ERAWSIZE :
									     -KS_EDECOMPRESS;
	return n == want ? 0 : -KS_ERAWSIZE;
}

int ks_delta_inline(struct ks_delta_reader *r, const struct ks_delta *d, const void **out)
{
	int err;

	if (d->enc == KS_DENC_RAW) {
		*out = d->payload;
		return 0;
	}
	if (d->enc != KS_DENC_ZSTD)
		return -KS_ESCHEMA;
	err = unzstd(r, d->payload, d->plen, d->rlen);
	if (err)
		return err;
	*out = r->buf;
	return 0;
}

int ks_chunk_decode(struct ks_delta_reader *r, const uint8_t hash[16], uint32_t want_len,
		    const void *val, size_t vlen, const void **out)
{
	const uint8_t *v = val;
	uint8_t h[16];
	uint32_t raw;
	int err;

	if (vlen < KS_CHUNK_HDR_SIZE)
		return -KS_ETRUNC;
	raw = ks_get_le32(v + 4);
	if (v[1] || v[2] || v[3] || !raw || raw > KS_CHUNK_MAX)
		return -KS_ESCHEMA;
	if (raw != want_len)
		return -KS_ERAWSIZE;
	if (v[0] == KS_DENC_RAW) {
		if (vlen - KS_CHUNK_HDR_SIZE != raw)
			return -KS_ERAWSIZE;
		*out = v + KS_CHUNK_HDR_SIZE;
	} else if (v[0] == KS_DENC_ZSTD) {
		err = unzstd(r, v + KS_CHUNK_HDR_SIZE, vlen - KS_CHUNK_HDR_SIZE, raw);
		if (err)
			return err;
		*out = r->buf;
	} else {
		return -KS_ESCHEMA;
	}
	ks_chunk_hash(*out, raw, h);
	return memcmp(h, hash, 16) ? -KS_ECHECKSUM : 0;
}

/* ---- writing ---------------------------------------------------------------- */

/* Where a stored chunk is. */
struct loc {
	uint8_t hash[16];
	uint64_t pack;
	uint32_t off, slen;
	uint32_t gen; /* the writer's generation when last referred to */
};

/* A path with its id. */
struct pathent {
	uint64_t id;
	size_t len;
	char path[];
};

struct ks_delta_writer {
	ks_dw_put_fn put;
	void *ctx;
	int level;
	ZSTD_CCtx *z;
	uint8_t *zbuf;
	size_t zcap;
	uint8_t *val;   /* delta value being built */
	size_t vcap;
	struct loc *locs;       /* the stored chunks */
	size_t nlocs, caplocs;
	struct ks_hmap chunks;  /* first 8 bytes of a chunk's digest -> index in locs */
	uint32_t gen;           /* one per checkpoint */
	uint64_t ck_reused;     /* st.reused_bytes when the checkpoint began */
	struct ks_hmap paths;   /* ks_hash_bytes(path) -> its struct pathent */
	uint64_t next_id, next_seq;
	struct ks_dw_stats st;
	/* streaming CONTENT */
	bool streaming;
	struct ks_delta sd;
	uint8_t *part;  /* partial chunk */
	size_t part_len;
	uint8_t *refs;
	size_t nrefs, refs_cap;
	uint64_t stream_off;
	size_t stream_locs; /* nlocs when it began */
	/* the open pack, and the puts of deltas waiting for it */
	uint8_t *pack;
	size_t pack_len, pack_cap;
	uint64_t pack_id, next_pack;
	uint8_t *held;   /* {u32 klen, u32 vlen, key, value}... */
	size_t held_len, held_cap;
};

int ks_dw_new(ks_dw_put_fn put, void *ctx, int level, struct ks_delta_writer **out)
{
	struct ks_delta_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->put = put;
	w->ctx = ctx;
	w->level = level ? level : 1;
	w->next_id = 1;
	w->next_seq = 1;
	w->next_pack = 1;
	w->z = ZSTD_createCCtx();
	w->zcap = ZSTD_compressBound(KS_DELTA_RAW_MAX);
	w->zbuf = malloc(w->zcap);
	w->part = malloc(KS_CHUNK_MAX);
	if (!w->z || !w->zbuf || !w->part) {
		ks_dw_free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

void ks_dw_free(struct ks_delta_writer *w)
{
	if (!w)
		return;
	ZSTD_freeCCtx(w->z);
	free(w->zbuf);
	free(w->val);
	free(w->part);
	free(w->refs);
	free(w->pack);
	free(w->held);
	free(w->locs);
	ks_hmap_free(&w->chunks);
	ks_hmap_each(&w->paths, i)
		free((struct pathent *)(uintptr_t)w->paths.slot[i].val);
	ks_hmap_free(&w->paths);
	free(w);
}

void ks_dw_set_put(struct ks_delta_writer *w, ks_dw_put_fn put, void *ctx)
{
	w->put = put;
	w->ctx = ctx;
}

void ks_dw_checkpoint_begin(struct ks_delta_writer *w)
{
	w->gen++;
	w->ck_reused = w->st.reused_bytes;
}

void ks_dw_checkpoint_end(struct ks_delta_writer *w, uint64_t *reused)
{
	size_t n = 0;

	*reused = w->st.reused_bytes - w->ck_reused;
	ks_hmap_free(&w->chunks);
	for (size_t i = 0; i < w->nlocs; i++) {
		if (w->locs[i].gen != w->gen)
			continue;
		w->locs[n] = w->locs[i];
		/* the table was freed: a failed add forgets the rest */
		if (ks_hmap_add(&w->chunks, ks_load64(w->locs[n].hash), n))
			break;
		n++;
	}
	w->nlocs = n;
}

uint64_t ks_dw_next_seq(const struct ks_delta_writer *w)
{
	return w->next_seq;
}

void ks_dw_get_stats(const struct ks_delta_writer *w, struct ks_dw_stats *st)
{
	*st = w->st;
}

int ks_dw_file(struct ks_delta_writer *w, const char *path, size_t len, uint64_t *id)
{
	uint64_t h = ks_hash_bytes(path, len), *v;
	struct pathent *e;
	uint8_t key[8];
	int err;

	for (v = ks_hmap_get(&w->paths, h); v; v = ks_hmap_next(&w->paths, h, v)) {
		e = (struct pathent *)(uintptr_t)*v;
		if (e->len == len && !memcmp(e->path, path, len)) {
			*id = e->id;
			return 0;
		}
	}
	/* room first: once the entry is put, remembering it must not fail */
	if (ks_hmap_reserve(&w->paths, w->paths.n + 1) || !(e = malloc(sizeof(*e) + len)))
		return -ENOMEM;
	e->id = w->next_id;
	e->len = len;
	memcpy(e->path, path, len);
	ks_put_be64(key, e->id);
	err = w->put(w->ctx, KS_DW_FILES, key, sizeof(key), path, len);
	if (err) {
		free(e);
		return err;
	}
	ks_hmap_add(&w->paths, h, (uintptr_t)e);
	w->next_id++;
	w->st.files++;
	*id = e->id;
	return 0;
}

/* The location of the stored chunk with digest h, or NULL. */
static struct loc *chunk_find(struct ks_delta_writer *w, const uint8_t h[16])
{
	uint64_t key = ks_load64(h);

	for (uint64_t *v = ks_hmap_get(&w->chunks, key); v; v = ks_hmap_next(&w->chunks, key, v))
		if (!memcmp(w->locs[*v].hash, h, 16))
			return &w->locs[*v];
	return NULL;
}

static int chunk_add(struct ks_delta_writer *w, const struct loc *l)
{
	if (KS_GROW(&w->locs, &w->caplocs, w->nlocs + 1) ||
	    ks_hmap_add(&w->chunks, ks_load64(l->hash), w->nlocs))
		return -ENOMEM;
	w->locs[w->nlocs++] = *l;
	return 0;
}

/* Forgets the chunks stored from locs[n] on (the last ones added): no delta
 * refers to them, and a drop's sweep deletes what none refers to. */
static void forget_since(struct ks_delta_writer *w, size_t n)
{
	while (w->nlocs > n) {
		size_t i = --w->nlocs;
		uint64_t key = ks_load64(w->locs[i].hash);

		for (uint64_t *v = ks_hmap_get(&w->chunks, key); v;
		     v = ks_hmap_next(&w->chunks, key, v))
			if (*v == i) {
				ks_hmap_remove(&w->chunks, v);
				break;
			}
	}
}

static bool all_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zero[256];

	while (len >= sizeof(zero)) {
		if (memcmp(p, zero, sizeof(zero)))
			return false;
		p += sizeof(zero);
		len -= sizeof(zero);
	}
	return !memcmp(p, zero, len);
}

/* Compresses src into w->zbuf; returns the size, or 0 when it does not shrink. */
static size_t try_zstd(struct ks_delta_writer *w, const void *src, size_t len)
{
	size_t n = ZSTD_compressCCtx(w->z, w->zbuf, w->zcap, src, len, w->level);

	return ZSTD_isError(n) || n >= len ? 0 : n;
}

/* Stores one chunk (unless it is stored already: in a pack when it is small)
 * and appends its reference. */
static int add_chunk(struct ks_delta_writer *w, const uint8_t *data, size_t len)
{
	uint8_t key[KS_CHUNK_KEY_LEN], *ref;
	struct loc l = { .gen = w->gen };
	struct loc *found;
	uint8_t kind = KS_CHUNK_DATA;
	int err;

	if (KS_GROW(&w->refs, &w->refs_cap, (w->nrefs + 1) * KS_CHUNK_REF_SIZE))
		return -ENOMEM;
	if (all_zero(data, len)) {
		kind = KS_CHUNK_ZERO;
		w->st.chunks_zero++;
	} else {
		ks_chunk_hash(data, len, l.hash);
		found = chunk_find(w, l.hash);
		if (found) {
			found->gen = w->gen;
			l = *found;
			w->st.chunks_dup++;
			w->st.reused_bytes += l.slen + (l.pack ? 0 : KS_CHUNK_KEY_LEN);
		} else {
			size_t z = try_zstd(w, data, len);
			size_t vlen = KS_CHUNK_HDR_SIZE + (z ? z : len);
			uint8_t *v;

			if (vlen < KS_PACK_SMALL) {
				/* into the open pack, which the deltas wait for */
				if (!w->pack_id)
					w->pack_id = w->next_pack++;
				if (KS_GROW(&w->pack, &w->pack_cap, KS_PACK_HDR_SIZE + w->pack_len + vlen))
					return -ENOMEM;
				l.pack = w->pack_id;
				l.off = (uint32_t)w->pack_len;
				v = w->pack + KS_PACK_HDR_SIZE + w->pack_len;
				w->pack_len += vlen;
			} else {
				if (KS_GROW(&w->val, &w->vcap, vlen))
					return -ENOMEM;
				v = w->val;
			}
			l.slen = (uint32_t)vlen;
			v[0] = z ? KS_DENC_ZSTD : KS_DENC_RAW;
			v[1] = v[2] = v[3] = 0;
			ks_put_le32(v + 4, (uint32_t)len);
			memcpy(v + KS_CHUNK_HDR_SIZE, z ? w->zbuf : data, z ? z : len);
			if (!l.pack) {
				ks_chunk_key(l.hash, key);
				err = w->put(w->ctx, KS_DW_DELTAS, key, sizeof(key), v, vlen);
				if (err)
					return err;
				w->st.stored_bytes += sizeof(key) + vlen;
			}
			err = chunk_add(w, &l);
			if (err)
				return err;
			w->st.chunks++;
		}
	}
	ref = w->refs + w->nrefs++ * KS_CHUNK_REF_SIZE;
	memset(ref, 0, KS_CHUNK_REF_SIZE);
	if (w->pack_len >= KS_PACK_TARGET && (err = ks_dw_flush(w)))
		return err;
	ref[0] = kind;
	ks_put_le32(ref + 1, (uint32_t)len);
	if (kind == KS_CHUNK_DATA) {
		memcpy(ref + 5, l.hash, 16);
		ks_put_le64(ref + 21, l.pack);
		ks_put_le32(ref + 29, l.off);
		ks_put_le32(ref + 33, l.slen);
	}
	return 0;
}

/* Cuts data (at absolute file offset off) into chunks at multiples of KS_CHUNK_MAX. */
static int add_chunks(struct ks_delta_writer *w, uint64_t off, const uint8_t *data, size_t len)
{
	while (len) {
		size_t n = KS_CHUNK_MAX - off % KS_CHUNK_MAX;
		int err;

		if (n > len)
			n = len;
		err = add_chunk(w, data, n);
		if (err)
			return err;
		off += n;
		data += n;
		len -= n;
	}
	return 0;
}

static int put_delta(struct ks_delta_writer *w, struct ks_delta *d, const void *payload)
{
	uint8_t key[KS_DELTA_KEY_LEN];
	size_t vlen = KS_DELTA_HDR_SIZE + d->plen;
	int err;

	if (KS_GROW(&w->val, &w->vcap, vlen))
		return -ENOMEM;
	d->seq = w->next_seq;
	ks_delta_encode(d, payload, w->val);
	ks_delta_key(d->file, d->seq, key);
	if (w->pack_id) {
		/* after the pack it may refer to */
		uint8_t *h;

		if (KS_GROW(&w->held, &w->held_cap, w->held_len + 8 + sizeof(key) + vlen))
			return -ENOMEM;
		h = w->held + w->held_len;
		ks_put_le32(h, sizeof(key));
		ks_put_le32(h + 4, (uint32_t)vlen);
		memcpy(h + 8, key, sizeof(key));
		memcpy(h + 8 + sizeof(key), w->val, vlen);
		w->held_len += 8 + sizeof(key) + vlen;
		err = 0;
	} else {
		err = w->put(w->ctx, KS_DW_DELTAS, key, sizeof(key), w->val, vlen);
	}
	if (err)
		return err;
	w->next_seq++;
	w->st.deltas++;
	w->st.stored_bytes += sizeof(key) + vlen;
	if (w->pack_len >= KS_PACK_TARGET || w->held_len >= 16 * KS_PACK_TARGET)
		return ks_dw_flush(w);
	return 0;
}

int ks_dw_flush(struct ks_delta_writer *w)
{
	uint8_t key[KS_PACK_KEY_LEN];
	int err = 0;

	if (!w->pack_id)
		return 0;
	w->pack[0] = 'K';
	w->pack[1] = 'P';
	w->pack[2] = 1;
	w->pack[3] = 0;
	ks_put_le32(w->pack + 4, (uint32_t)w->pack_len);
	ks_pack_key(w->pack_id, key);
	err = w->put(w->ctx, KS_DW_DELTAS, key, sizeof(key), w->pack, KS_PACK_HDR_SIZE + w->pack_len);
	if (err)
		return err;
	w->st.stored_bytes += sizeof(key) + KS_PACK_HDR_SIZE + w->pack_len;
	for (size_t o = 0; o < w->held_len && !err;) {
		uint32_t kl = ks_get_le32(w->held + o), vl = ks_get_le32(w->held + o + 4);

		err = w->put(w->ctx, KS_DW_DELTAS, w->held + o + 8, kl, w->held + o + 8 + kl, vl);
		o += 8 + kl + vl;
	}
	w->pack_id = 0;
	w->pack_len = 0;
	w->held_len = 0;
	return err;
}

int ks_dw_add(struct ks_delta_writer *w, struct ks_delta *d, const void *data, size_t len)
{
	size_t n;
	int err;

	if (w->streaming || !d->file || d->op == 0 || d->op >= KS_DOP_MAX || len > UINT32_MAX ||
	    (d->op == KS_DOP_CONTENT && len > d->length) ||
	    (d->op == KS_DOP_WRITE && len != d->length))
		return -EINVAL;
	w->st.payload_bytes += len;
	d->enc = KS_DENC_NONE;
	d->plen = d->rlen = 0;
	d->dlen = len;
	if (!len)
		return put_delta(w, d, NULL);
	if (d->op == KS_DOP_SYMLINK || (d->op == KS_DOP_WRITE && len <= KS_DELTA_INLINE_MAX)) {
		size_t z;

		if (len > KS_DELTA_RAW_MAX)
			return -EINVAL;
		d->rlen = (uint32_t)len;
		z = try_zstd(w, data, len);
		d->enc = z ? KS_DENC_ZSTD : KS_DENC_RAW;
		d->plen = (uint32_t)(z ? z : len);
		return put_delta(w, d, z ? w->zbuf : data);
	}
	w->nrefs = 0;
	n = w->nlocs;
	err = add_chunks(w, d->op == KS_DOP_CONTENT ? 0 : d->offset, data, len);
	if (err) {
		forget_since(w, n); /* no delta refers to what it stored */
		return err;
	}
	d->enc = KS_DENC_CHUNKS;
	d->plen = (uint32_t)(w->nrefs * KS_CHUNK_REF_SIZE);
	err = put_delta(w, d, w->refs);
	if (err)
		forget_since(w, n); /* forgetting is safe: the same bytes are stored again */
	return err;
}

int ks_dw_content_begin(struct ks_delta_writer *w, const struct ks_delta *d)
{
	if (w->streaming || d->op != KS_DOP_CONTENT || !d->file)
		return -EINVAL;
	w->streaming = true;
	w->sd = *d;
	w->nrefs = 0;
	w->part_len = 0;
	w->stream_off = 0;
	w->stream_locs = w->nlocs;
	return 0;
}

int ks_dw_content_data(struct ks_delta_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	int err;

	if (!w->streaming)
		return -EINVAL;
	w->st.payload_bytes += len;
	w->stream_off += len;
	while (len) {
		size_t n = KS_CHUNK_MAX - w->part_len;

		if (n > len)
			n = len;
		if (!w->part_len && n == KS_CHUNK_MAX) {
			err = add_chunk(w, p, n); /* a whole chunk: no copy */
		} else {
			memcpy(w->part + w->part_len, p, n);
			w->part_len += n;
			err = 0;
			if (w->part_len == KS_CHUNK_MAX) {
				err = add_chunk(w, w->part, w->part_len);
				w->part_len = 0;
			}
		}
		if (err)
			return err;
		p += n;
		len -= n;
	}
	return 0;
}

void ks_dw_content_abort(struct ks_delta_writer *w)
{
	forget_since(w, w->stream_locs);
	w->streaming = false;
	w->part_len = 0;
}

int ks_dw_content_end(struct ks_delta_writer *w, uint64_t length, uint64_t *seq)
{
	struct ks_delta *d = &w->sd;
	int err;

	if (!w->streaming)
		return -EINVAL;
	w->streaming = false;
	d->length = length;
	if (w->part_len) {
		err = add_chunk(w, w->part, w->part_len);
		w->part_len = 0;
		if (err) {
			forget_since(w, w->stream_locs);
			return err;
		}
	}
	if (w->stream_off > d->length) {
		forget_since(w, w->stream_locs);
		return -EINVAL;
	}
	d->rlen = 0;
	d->dlen = w->stream_off;
	d->enc = w->nrefs ? KS_DENC_CHUNKS : KS_DENC_NONE;
	d->plen = (uint32_t)(w->nrefs * KS_CHUNK_REF_SIZE);
	err = put_delta(w, d, w->refs);
	if (!err && seq)
		*seq = d->seq;
	if (err)
		forget_since(w, w->stream_locs);
	return err;
}
