/* libFuzzer target of the delta readers (format/delta.c): the code restore and
 * timeline run on untrusted deltas, chunks and packs. The input is split into a
 * key and a value; the value is decoded as it is and, with its checksum
 * recomputed (ks_delta_encode over the decoded-as-raw header), to get past the
 * checksum to the field and payload checks. What decodes is then read the way
 * restore reads it: inline payloads decompressed, chunk references walked and
 * resolved against the rest of the input as a pack and as a chunk value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/delta.h"
#include "format/kserr.h"

static struct ks_delta_reader *rd;

static void use(const struct ks_delta *d, const uint8_t *rest, size_t rlen)
{
	const void *p;

	if (d->enc == KS_DENC_RAW || d->enc == KS_DENC_ZSTD) {
		if (!ks_delta_inline(rd, d, &p) && d->dlen)
			(void)((const volatile uint8_t *)p)[d->dlen - 1];
		return;
	}
	for (size_t i = 0; i < ks_delta_chunk_count(d); i++) {
		struct ks_chunk_ref r;
		const void *c;
		size_t cl;

		ks_delta_chunk_ref(d, i, &r);
		if (r.kind != KS_CHUNK_DATA)
			continue;
		if (!ks_pack_slice(rest, rlen, &r, &c, &cl))
			ks_chunk_decode(rd, r.hash, r.len, c, cl, &p);
		ks_chunk_decode(rd, r.hash, r.len, rest, rlen, &p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[KS_DELTA_KEY_LEN] = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct ks_delta d;
	size_t vlen;
	uint8_t *copy;

	if (!rd && ks_delta_reader_new(&rd))
		abort();
	if (size < 2)
		return 0;
	/* the first byte says how much of the rest is the delta value */
	vlen = (size - 1) * data[0] / 255;
	if (!ks_delta_decode(key, sizeof(key), data + 1, vlen, &d))
		use(&d, data + 1 + vlen, size - 1 - vlen);
	/* again with a valid checksum: the header as given, the payload as given */
	if (vlen >= KS_DELTA_HDR_SIZE) {
		copy = malloc(vlen);
		if (!copy)
			abort();
		memcpy(copy, data + 1, vlen);
		{
			struct ks_delta x;

			/* a round trip through decode's view of the header is not possible
			 * for a damaged one: reuse the raw fields through encode instead */
			memset(&x, 0, sizeof(x));
			x.op = copy[1];
			x.enc = copy[2];
			x.flags = copy[3];
			memcpy(&x.pid, copy + 4, 4);
			memcpy(&x.ts, copy + 8, 8);
			memcpy(&x.file2, copy + 16, 8);
			memcpy(&x.offset, copy + 24, 8);
			memcpy(&x.length, copy + 32, 8);
			memcpy(&x.mode, copy + 40, 4);
			memcpy(&x.uid, copy + 44, 4);
			memcpy(&x.gid, copy + 48, 4);
			memcpy(&x.arg, copy + 52, 4);
			memcpy(&x.rlen, copy + 60, 4);
			x.plen = (uint32_t)(vlen - KS_DELTA_HDR_SIZE);
			ks_delta_encode(&x, data + 1 + KS_DELTA_HDR_SIZE, copy);
			if (!ks_delta_decode(key, sizeof(key), copy, vlen, &d))
				use(&d, data + 1 + vlen, size - 1 - vlen);
		}
		free(copy);
	}
	return 0;
}
