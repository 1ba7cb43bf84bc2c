/* File-state deltas: the records of the store's deltas database that restore and
 * timeline replay, and the writer the recorder (and the tests) produce them with.
 *
 * Keys of the deltas database:
 *   file id (u64 BE) + sequence (u64 BE)   16 bytes: one delta
 *   0xff x 8 + XXH3-128 of the bytes       24 bytes: one content chunk
 *   0xff x 8 + 0 x 4 + pack id (u64 BE)    20 bytes: a pack of small chunks
 * The sequence is global: replaying every delta in sequence order rebuilds the
 * state directories; each delta's timestamp (CLOCK_MONOTONIC ns, when the change
 * was complete) decides whether it is part of the state at a given time.
 *
 * A delta value is a 72-byte little-endian header (struct ks_delta's fields, then
 * an XXH3-64 of those 64 bytes and the payload) and plen bytes of payload: the
 * bytes of a write, a file's content or a symlink's target, stored raw, as one
 * zstd frame, or as a list of chunk references (KS_DENC_CHUNKS: 37-byte entries
 * {u8 kind, u32 len, 16-byte hash, u64 pack, u32 offset, u32 stored length}).
 * Chunks are deduplicated by content hash and cut at absolute file offsets that
 * are multiples of KS_CHUNK_MAX, so a rewritten block and the file it lives in
 * share chunks. A chunk value is {u8 enc, u8 zero[3], u32 raw length} and the
 * bytes. Chunk values that would fill LMDB pages badly (an overflow value takes
 * whole pages: 4 KiB of random bytes would take two) go into packs instead: an
 * 8-byte header {"KP", u8 version, u8 zero, u32 bytes} and chunk values one after
 * the other. A reference names its pack and where in it its chunk value lies
 * (pack 0: a chunk value of its own, under its chunk key).
 *
 * format/ knows nothing of the store: the writer hands its puts to a callback. */
#ifndef KSIGHT_DELTA_H
#define KSIGHT_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_DELTA_VERSION 1
#define KS_DELTA_KEY_LEN 16
#define KS_CHUNK_KEY_LEN 24
#define KS_DELTA_HDR_SIZE 72
#define KS_CHUNK_HDR_SIZE 8
#define KS_CHUNK_REF_SIZE 37
#define KS_PACK_KEY_LEN 20
#define KS_PACK_HDR_SIZE 8
#define KS_PACK_SMALL (24u << 10)  /* chunk values below this go into packs */
#define KS_PACK_TARGET (256u << 10) /* a pack is put once this big */
#define KS_CHUNK_MAX (64u << 10)      /* bytes in one chunk */
#define KS_DELTA_INLINE_MAX (1u << 10) /* write payloads up to this are stored inline */
#define KS_DELTA_RAW_MAX (64u << 10)   /* largest inline payload a reader accepts */
#define KS_FILE_SIZE_MAX (1ull << 40)  /* largest file offset or size accepted */
#define KS_LINK_MAX 4095               /* longest symlink target */

enum ks_delta_op {
	KS_DOP_MKDIR = 1,     /* directory with mode (exists: mode only) */
	KS_DOP_CREATE = 2,    /* empty regular file with mode, unless one exists */
	KS_DOP_WRITE = 3,     /* length bytes at offset (payload) */
	KS_DOP_TRUNCATE = 4,  /* size = length */
	KS_DOP_CONTENT = 5,   /* regular file of size length, payload from offset 0,
				 zeros (holes) after it; mode, uid, gid */
	KS_DOP_UNLINK = 6,
	KS_DOP_RMDIR = 7,
	KS_DOP_RENAME = 8,    /* file -> file2; arg: renameat2 flags */
	KS_DOP_SYMLINK = 9,   /* payload: the target */
	KS_DOP_LINK = 10,     /* new name file2 for the existing file */
	KS_DOP_CHMOD = 11,
	KS_DOP_CHOWN = 12,    /* uid, gid; (uint32_t)-1 leaves one unchanged */
	KS_DOP_FALLOCATE = 13, /* arg: fallocate mode; offset, length */
	KS_DOP_MAX
};

enum ks_delta_enc {
	KS_DENC_NONE = 0,
	KS_DENC_RAW = 1,
	KS_DENC_ZSTD = 2,
	KS_DENC_CHUNKS = 3,
};

/* ks_delta.flags */
#define KS_DF_MORE 0x01       /* more deltas of the same change follow (atomic group) */
#define KS_DF_BASELINE 0x02   /* the state dir as it was when recording began */
#define KS_DF_CORRECTION 0x04 /* a difference found by verification, not a syscall */
#define KS_DF_READBACK 0x08   /* bytes read back from the file, not from the syscall */
#define KS_DF_KNOWN 0x0f

/* ks_chunk_ref.kind */
#define KS_CHUNK_DATA 0
#define KS_CHUNK_ZERO 1

struct ks_delta {
	uint64_t file;   /* path id (deltas key) */
	uint64_t seq;    /* global order (deltas key) */
	uint64_t ts;     /* CLOCK_MONOTONIC ns when the change was complete */
	uint64_t file2;  /* RENAME, LINK: the other path's id */
	uint64_t offset;
	uint64_t length;
	uint32_t pid;
	uint32_t mode;   /* permission bits (07777) */
	uint32_t uid, gid;
	uint32_t arg;
	uint8_t op, enc, flags;
	/* decoded: the payload as stored (points into the value) */
	const uint8_t *payload;
	uint32_t plen;   /* stored payload bytes */
	uint32_t rlen;   /* inline payloads: bytes once decoded; chunk lists: 0 */
	uint64_t dlen;   /* decoded: payload bytes (the sum of chunk lengths) */
};

struct ks_chunk_ref {
	uint8_t kind; /* KS_CHUNK_DATA, KS_CHUNK_ZERO */
	uint32_t len;
	uint8_t hash[16];
	uint64_t pack;  /* 0: the chunk is a value of its own (chunk key) */
	uint32_t off;   /* in the pack, after its header */
	uint32_t slen;  /* stored bytes of the chunk value */
};

/* Returns "write", "mkdir", ... or "?" for an unknown op. */
const char *ks_delta_op_name(unsigned op);

void ks_delta_key(uint64_t file, uint64_t seq, uint8_t key[KS_DELTA_KEY_LEN]);
void ks_chunk_key(const uint8_t hash[16], uint8_t key[KS_CHUNK_KEY_LEN]);
/* Returns true when key (klen bytes) is a chunk key / a pack key. */
bool ks_is_chunk_key(const void *key, size_t klen);
bool ks_is_pack_key(const void *key, size_t klen);
void ks_pack_key(uint64_t pack, uint8_t key[KS_PACK_KEY_LEN]);
/* The chunk value ref points to inside pack value val (vlen bytes), checked
 * against the pack's bounds. Returns 0, -KS_ETRUNC, -KS_EMAGIC. */
int ks_pack_slice(const void *val, size_t vlen, const struct ks_chunk_ref *ref,
		  const void **chunk, size_t *clen);
/* The XXH3-128 hash of data, canonical (big-endian) bytes. */
void ks_chunk_hash(const void *data, size_t len, uint8_t hash[16]);

/* Checks and decodes a delta: key and value as stored. d->payload points into
 * val. Every field is checked against its op (sizes, offsets, modes, payload
 * encoding and length); a reader may trust what it returns.
 * Returns 0, -KS_ETRUNC, -KS_ETRAILING, -KS_EVERSION, -KS_ECHECKSUM, -KS_ESCHEMA,
 * -KS_ESIZES, -KS_ERANGE, -KS_EFLAGS. */
int ks_delta_decode(const void *key, size_t klen, const void *val, size_t vlen,
		    struct ks_delta *d);
/* Writes the value of d (d->enc, d->plen and d->rlen as given) with its d->plen
 * bytes of payload into out (KS_DELTA_HDR_SIZE + d->plen bytes). */
void ks_delta_encode(const struct ks_delta *d, const void *payload, uint8_t *out);

/* The i-th chunk reference of a KS_DENC_CHUNKS delta (decoded, so checked). */
void ks_delta_chunk_ref(const struct ks_delta *d, size_t i, struct ks_chunk_ref *r);
static inline size_t ks_delta_chunk_count(const struct ks_delta *d)
{
	return d->enc == KS_DENC_CHUNKS ? d->plen / KS_CHUNK_REF_SIZE : 0;
}

struct ks_delta_reader;
/* A reader owns the zstd context and buffers of payload decoding. Returns 0, -ENOMEM. */
int ks_delta_reader_new(struct ks_delta_reader **out);
void ks_delta_reader_free(struct ks_delta_reader *r);
/* Decodes an inline (RAW or ZSTD) payload: *out points to d->rlen bytes, valid
 * until the next call on r. Returns 0, -KS_EDECOMPRESS, -KS_ERAWSIZE. */
int ks_delta_inline(struct ks_delta_reader *r, const struct ks_delta *d, const void **out);
/* Decodes a chunk value stored under hash, checking its length against
 * want_len and its bytes against the hash: *out points to want_len bytes, valid
 * until the next call on r. Returns 0, -KS_ETRUNC, -KS_EDECOMPRESS, -KS_ERAWSIZE,
 * -KS_ECHECKSUM, -KS_ESCHEMA. */
int ks_chunk_decode(struct ks_delta_reader *r, const uint8_t hash[16], uint32_t want_len,
		    const void *val, size_t vlen, const void **out);

/* ---- writing ---------------------------------------------------------------- */

/* Where the writer's puts go: KS_DW_FILES (key: id u64 BE, value: the path) or
 * KS_DW_DELTAS. Returns 0 or a negative errno, which the writer passes on. */
enum { KS_DW_FILES = 1, KS_DW_DELTAS = 2 };
typedef int (*ks_dw_put_fn)(void *ctx, int db, const void *key, size_t klen,
			    const void *val, size_t vlen);

struct ks_dw_stats {
	uint64_t deltas;
	uint64_t files;        /* paths given an id */
	uint64_t chunks;       /* chunks stored */
	uint64_t chunks_dup;   /* chunk references to a chunk already stored */
	uint64_t chunks_zero;  /* all-zero chunks, stored as holes */
	uint64_t payload_bytes; /* raw payload bytes given to the writer */
	uint64_t stored_bytes;  /* key + value bytes put into the deltas database */
	uint64_t reused_bytes;  /* stored lengths of the chunks chunks_dup refer to */
};

struct ks_delta_writer;

/* level: zstd level for chunks and inline payloads (0: 1, fast). Ids and
 * sequences start at 1. Returns 0, -ENOMEM. */
int ks_dw_new(ks_dw_put_fn put, void *ctx, int level, struct ks_delta_writer **out);
void ks_dw_free(struct ks_delta_writer *w);
/* Sends later puts to put/ctx. */
void ks_dw_set_put(struct ks_delta_writer *w, ks_dw_put_fn put, void *ctx);
/* The id of path (an absolute path, len bytes), giving it the next id (and putting
 * it into the files database) the first time. Returns 0, -ENOMEM, put's error. */
int ks_dw_file(struct ks_delta_writer *w, const char *path, size_t len, uint64_t *id);
/* Puts the open pack, then the deltas that wait for it (a delta that refers to
 * chunks of a pack is put after it, so a committed delta always finds its
 * chunks). Call it every so often (the recorder: every ~100 ms) and before the
 * last commit. Returns 0 or put's error. */
int ks_dw_flush(struct ks_delta_writer *w);
/* Writes delta d (op, file, ts, and the op's fields; seq, enc, plen and rlen are
 * set here) with payload data (len bytes: a WRITE's bytes at d->offset, a
 * CONTENT's bytes from 0, a SYMLINK's target). d->seq is set. Returns 0, -EINVAL,
 * -KS_ECOMPRESS, -ENOMEM, put's error. */
int ks_dw_add(struct ks_delta_writer *w, struct ks_delta *d, const void *data, size_t len);
/* Streaming form for CONTENT of large files: begin with d, give the bytes in
 * order from offset 0 in any sizes, then end with the file's size (at least the
 * bytes given), which writes the delta and returns its sequence in *seq.
 * Returns as ks_dw_add. */
int ks_dw_content_begin(struct ks_delta_writer *w, const struct ks_delta *d);
int ks_dw_content_data(struct ks_delta_writer *w, const void *data, size_t len);
int ks_dw_content_end(struct ks_delta_writer *w, uint64_t length, uint64_t *seq);
/* Gives up a CONTENT begun: no delta is written (chunks already put stay, unused,
 * and are forgotten: a delta refers to none of them). */
void ks_dw_content_abort(struct ks_delta_writer *w);
/* Bounded recording, where old deltas and the chunks only they use are dropped:
 * a checkpoint (the state written whole) opens each epoch, and a delta may refer
 * to an earlier chunk only while a delta of the newest epoch still does.
 * ks_dw_checkpoint_begin (flush first) starts the checkpoint: it may refer to
 * every chunk the writer knows (they are held by the epoch before it, which
 * stays while the checkpoint is written); ks_dw_checkpoint_end then forgets the
 * chunks the checkpoint did not refer to: later deltas store them again. The
 * sum of the stored lengths of the chunks the checkpoint referred to without
 * storing them: *reused. */
void ks_dw_checkpoint_begin(struct ks_delta_writer *w);
void ks_dw_checkpoint_end(struct ks_delta_writer *w, uint64_t *reused);
/* The next sequence number the writer will use. */
uint64_t ks_dw_next_seq(const struct ks_delta_writer *w);
void ks_dw_get_stats(const struct ks_delta_writer *w, struct ks_dw_stats *st);

#endif
