/* format: the frame codec of the stack table (see format/stack.h). */
#include <errno.h>
#include <string.h>

#include "format/kserr.h"
#include "format/stack.h"
#include "format/varint.h"

int ks_frames_encode(const struct ks_frame *f, unsigned nk, unsigned nu, uint8_t *buf,
		     size_t cap)
{
	uint8_t tmp[2 * KS_VARINT_MAX];
	uint64_t prev_k = 0, prev_u = 0;
	size_t n = 0;
	uint8_t *e;

	if (nk + nu > KS_FRAMES_MAX)
		return -EINVAL;
	e = ks_uvarint_put(ks_uvarint_put(tmp, nk), nu);
	if ((size_t)(e - tmp) > cap)
		return -ENOSPC;
	memcpy(buf, tmp, e - tmp);
	n = e - tmp;
	for (unsigned i = 0; i < nk + nu; i++) {
		uint64_t *prev = f[i].module == 0 ? &prev_k : &prev_u;

		e = ks_uvarint_put(tmp, f[i].module);
		e = ks_uvarint_put(e, ks_zigzag((int64_t)(f[i].off - *prev)));
		*prev = f[i].off;
		if ((size_t)(e - tmp) > cap - n)
			return -ENOSPC;
		memcpy(buf + n, tmp, e - tmp);
		n += e - tmp;
	}
	return (int)n;
}

int ks_frames_decode(const uint8_t *buf, size_t len, struct ks_frame *f, unsigned *nk,
		     unsigned *nu)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t k, u, prev_k = 0, prev_u = 0;
	int err;

	err = ks_uvarint_get(&p, end, &k);
	err = err ?: ks_uvarint_get(&p, end, &u);
	if (err)
		return err;
	if (k > KS_FRAMES_MAX || u > KS_FRAMES_MAX || k + u > KS_FRAMES_MAX)
		return -KS_ETOOBIG;
	for (unsigned i = 0; i < k + u; i++) {
		uint64_t m, d, *prev;

		err = ks_uvarint_get(&p, end, &m);
		err = err ?: ks_uvarint_get(&p, end, &d);
		if (err)
			return err;
		if (m > UINT32_MAX)
			return -KS_ERANGE;
		prev = m == 0 ? &prev_k : &prev_u;
		f[i].module = (uint32_t)m;
		f[i]._pad = 0;
		f[i].off = *prev + (uint64_t)ks_unzigzag(d);
		*prev = f[i].off;
	}
	if (p != end)
		return -KS_ETRAILING;
	*nk = (unsigned)k;
	*nu = (unsigned)u;
	return 0;
}
