/* Segment codec: a batch of rows of one kind <-> a self-checking byte string.
 *
 * Layout: a fixed little-endian header (struct ks_seg_header, KS_SEG_HDR_SIZE bytes)
 * followed by one zstd frame. The frame holds a msgpack map: format version, kind,
 * count, and one column per schema field ({name: bin}), each column the varint
 * (delta) encoding of that field over all rows. The header checksum (XXH64) covers
 * the header (with the checksum field zero) and the compressed payload. */
#ifndef KSIGHT_SEGMENT_H
#define KSIGHT_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define KS_SEG_MAGIC 0x4745534bu /* "KSEG" little-endian */
/* 2: syscall ret against the count asked for, dictionary byte planes. Readers
 * read versions KS_FORMAT_VERSION_MIN..KS_FORMAT_VERSION. */
#define KS_FORMAT_VERSION 2
#define KS_FORMAT_VERSION_MIN 1
#define KS_SEG_HDR_SIZE 48
#define KS_SEG_MAX_EVENTS (1u << 20)
#define KS_SEG_MAX_RAW (256u << 20) /* uncompressed payload limit */

struct ks_seg_header {
	uint32_t magic;
	uint16_t version;
	uint16_t kind;
	uint32_t count;     /* events */
	uint32_t raw_size;  /* uncompressed msgpack bytes */
	uint32_t comp_size; /* compressed bytes after the header */
	uint32_t flags;     /* reserved, 0 */
	uint64_t first_ts;  /* smallest timestamp in the segment */
	uint64_t last_ts;   /* largest */
	uint64_t checksum;
};

struct ks_seg_encoder;
struct ks_seg_decoder;

/* Creates an encoder with a reused zstd context at level (1..19; 0 = default, 3).
 * Returns 0, -EINVAL (level out of range), -ENOMEM. */
int ks_seg_encoder_new(int level, struct ks_seg_encoder **out);
void ks_seg_encoder_free(struct ks_seg_encoder *enc);
/* Changes the zstd level of the next segments (0: the default, 3). Returns 0,
 * -EINVAL. */
int ks_seg_encoder_set_level(struct ks_seg_encoder *enc, int level);
/* Sets the level and makes its zstd context and the output buffer as large as a
 * document of raw_bytes needs, now rather than on the first such segment, so that
 * a recorder's memory is at its working size from the start. Returns 0, -EINVAL
 * (level out of range, raw_bytes over KS_SEG_MAX_RAW), -ENOMEM, -KS_ECOMPRESS. */
int ks_seg_encoder_reserve(struct ks_seg_encoder *enc, int level, size_t raw_bytes);

/* Encodes n rows (an array of the kind's row struct) into a segment. *out points
 * into the encoder's buffer, valid until the next call on enc. Strings are cut
 * at their first NUL, KS_F_BYTES lengths over the field are clamped to it.
 * Returns 0, -EINVAL (rows NULL with n > 0), -KS_EKIND, -KS_ETOOBIG (n over
 * KS_SEG_MAX_EVENTS, or the document over KS_SEG_MAX_RAW), -KS_ECOMPRESS, -ENOMEM. */
int ks_seg_encode(struct ks_seg_encoder *enc, unsigned kind, const void *rows,
		  size_t n, const uint8_t **out, size_t *out_len);

/* Parses and checks the header alone (magic, version, sizes against len and
 * against each other; not the checksum). hdr may be NULL. Returns 0 or
 * -KS_EMAGIC, -KS_EVERSION, -KS_EFLAGS, -KS_ETRUNC, -KS_ETRAILING, -KS_ETOOBIG,
 * -KS_ESIZES, -KS_EKIND, -KS_ETIMESTAMP. */
int ks_seg_read_header(const void *buf, size_t len, struct ks_seg_header *hdr);

/* Creates a decoder with a reused zstd context and row buffer. Returns 0, -ENOMEM. */
int ks_seg_decoder_new(struct ks_seg_decoder **out);
void ks_seg_decoder_free(struct ks_seg_decoder *dec);

/* Verifies and decodes a segment. *rows points to hdr->count rows of the kind's
 * struct (maybe NULL when there are none), owned by dec and valid until the next
 * call on dec. Trusts nothing: every size is checked before it is used. Columns the
 * schema does not know are skipped; fields without a column read as zero.
 * Returns 0, -EINVAL, -ENOMEM, or a distinct negative code per failure:
 * ks_seg_read_header()'s, -KS_ECHECKSUM, -KS_EDECOMPRESS, -KS_ERAWSIZE,
 * -KS_EMSGPACK, -KS_ETOOBIG (document declares too many elements), -KS_ETYPE,
 * -KS_ESCHEMA, -KS_EMISMATCH, -KS_ECOUNT, -KS_EVARINT, -KS_ERANGE, -KS_ETIMESTAMP. */
int ks_seg_decode(struct ks_seg_decoder *dec, const void *buf, size_t len,
		  struct ks_seg_header *hdr, const void **rows);

#endif
