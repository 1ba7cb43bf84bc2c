/* libFuzzer target of the segment decoder, the code that reads untrusted traces.
 * Each input is decoded as it is; with its checksum recomputed, to get past it
 * to zstd and msgpack; and as a header followed by a raw document, which this
 * target compresses, to get straight at the document and column checks. A
 * segment that decodes must encode back to the same rows.
 *
 * Built with -DKS_FUZZ_SEEDGEN (no -fsanitize=fuzzer) it is instead the program
 * that writes the seed corpus: `seedgen tests/corpus/fuzz_segment`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "format/event.h"
#include "format/kserr.h"
#include "format/segment.h"

static struct ks_seg_decoder *dec;
static struct ks_seg_encoder *enc;
static ZSTD_CCtx *cctx;

static void setup(void)
{
	if (ks_seg_decoder_new(&dec) || ks_seg_encoder_new(1, &enc))
		abort();
	cctx = ZSTD_createCCtx();
	if (!cctx)
		abort();
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the checksum as segment.h defines it. */
static void reseal(uint8_t *seg, size_t len)
{
	uint64_t sum;

	memset(seg + 40, 0, 8);
	sum = XXH64(seg, len, 0);
	for (int i = 0; i < 8; i++)
		seg[40 + i] = (uint8_t)(sum >> (8 * i));
}

static void check_round_trip(const struct ks_seg_header *h, const void *rows)
{
	const struct ks_schema *s = ks_schema_get(h->kind);
	size_t bytes = (size_t)h->count * s->row_size;
	struct ks_seg_header h2;
	const void *rows2;
	const uint8_t *seg;
	size_t len;
	void *copy = malloc(bytes ? bytes : 1);
	int err;

	if (!copy)
		abort();
	if (bytes)
		memcpy(copy, rows, bytes);
	err = ks_seg_encode(enc, h->kind, copy, h->count, &seg, &len);
	if (err == -KS_ETOOBIG)
		goto out;
	if (err || ks_seg_decode(dec, seg, len, &h2, &rows2))
		abort();
	if (h2.count != h->count || h2.first_ts != h->first_ts ||
	    h2.last_ts != h->last_ts || (bytes && memcmp(rows2, copy, bytes)))
		abort();
out:
	free(copy);
}

static void decode_one(const uint8_t *buf, size_t len)
{
	struct ks_seg_header h;
	const void *rows;
	int err;

	err = ks_seg_read_header(buf, len, &h);
	if (ks_seg_decode(dec, buf, len, &h, &rows) == 0) {
		if (err)
			abort(); /* the full decoder accepted what the header check refused */
		check_round_trip(&h, rows);
	}
}

/* data = a 48-byte header then an uncompressed document. */
static void decode_wrapped(const uint8_t *data, size_t size)
{
	size_t doc_len = size - KS_SEG_HDR_SIZE;
	size_t bound = ZSTD_compressBound(doc_len);
	uint8_t *seg = malloc(KS_SEG_HDR_SIZE + bound);
	size_t comp;

	if (!seg)
		abort();
	memcpy(seg, data, KS_SEG_HDR_SIZE);
	comp = ZSTD_compress2(cctx, seg + KS_SEG_HDR_SIZE, bound,
			      data + KS_SEG_HDR_SIZE, doc_len);
	if (ZSTD_isError(comp))
		abort();
	put_le32(seg + 12, (uint32_t)doc_len);
	put_le32(seg + 16, (uint32_t)comp);
	reseal(seg, KS_SEG_HDR_SIZE + comp);
	decode_one(seg, KS_SEG_HDR_SIZE + comp);
	free(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (!dec)
		setup();
	decode_one(data, size);
	if (size < KS_SEG_HDR_SIZE)
		return 0;
	copy = malloc(size);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	reseal(copy, size);
	decode_one(copy, size);
	free(copy);
	decode_wrapped(data, size);
	return 0;
}

#ifdef KS_FUZZ_SEEDGEN
static uint64_t rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int write_file(const char *dir, const char *name, const void *a,
		      size_t alen, const void *b, size_t blen)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(a, 1, alen, f) == alen && fwrite(b, 1, blen, f) == blen;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Writes NAME.seg (the segment) and, when doc, NAME.doc (its header and its
 * uncompressed document, the form decode_wrapped takes). */
static int seed(const char *dir, const char *name, unsigned kind, const void *rows,
		size_t n, int doc)
{
	const uint8_t *seg;
	size_t len, raw_len;
	char file[256];
	void *raw;
	int err;

	if (ks_seg_encode(enc, kind, rows, n, &seg, &len))
		return -1;
	snprintf(file, sizeof(file), "%s.seg", name);
	if (write_file(dir, file, seg, len, "", 0))
		return -1;
	if (!doc)
		return 0;
	raw_len = ZSTD_getFrameContentSize(seg + KS_SEG_HDR_SIZE, len - KS_SEG_HDR_SIZE);
	raw = malloc(raw_len);
	if (!raw || ZSTD_decompress(raw, raw_len, seg + KS_SEG_HDR_SIZE,
				    len - KS_SEG_HDR_SIZE) != raw_len) {
		free(raw);
		return -1;
	}
	snprintf(file, sizeof(file), "%s.doc", name);
	err = write_file(dir, file, seg, KS_SEG_HDR_SIZE, raw, raw_len);
	free(raw);
	return err;
}

int main(int argc, char **argv)
{
	struct ks_syscall sys[64];
	struct ks_proc procs[4];
	uint64_t s = 1, ts = 1000000;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	setup();
	memset(sys, 0, sizeof(sys));
	for (size_t i = 0; i < 64; i++) {
		ts += rng(&s) % 20000;
		sys[i].ts = ts;
		sys[i].dur = rng(&s) % 5000;
		sys[i].ret = i % 9 == 0 ? -2 : (int64_t)(rng(&s) % 100);
		sys[i].pid = sys[i].tid = 4000 + (uint32_t)(i / 20);
		sys[i].nr = (uint32_t)(rng(&s) % 300);
		sys[i].flags = i == 63 ? KS_SYSF_NORET : 0;
	}
	memset(procs, 0, sizeof(procs));
	for (size_t i = 0; i < 4; i++) {
		procs[i].ts = 5000 + i * 1000;
		procs[i].what = 1 + i % 3;
		procs[i].pid = procs[i].tid = 4000 + (uint32_t)i;
		procs[i].ppid = 3999;
		procs[i].exit_code = i == 3 ? 256 : 0;
		strcpy(procs[i].comm, i ? "tar" : "sh");
		memcpy(procs[i].argv, "tar\0-xf\0a.tar", 14);
		procs[i].argv_len = 14;
	}
	if (seed(argv[1], "syscall64", KS_KIND_SYSCALL, sys, 64, 1) ||
	    seed(argv[1], "syscall1", KS_KIND_SYSCALL, sys, 1, 0) ||
	    seed(argv[1], "proc4", KS_KIND_PROC, procs, 4, 1) ||
	    seed(argv[1], "empty", KS_KIND_PROC, NULL, 0, 0)) {
		fprintf(stderr, "seedgen: cannot write the seeds into %s\n", argv[1]);
		return 1;
	}
	ks_seg_encoder_free(enc);
	ks_seg_decoder_free(dec);
	ZSTD_freeCCtx(cctx);
	return 0;
}
#endif
