/* Epoch records of bounded recordings (format/epoch.h): little-endian, checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "format/epoch.h"
#include "format/kserr.h"
#include "util/bytes.h"

#define EP_MAGIC "KSEP"
#define EP_VERSION 1
#define EP_HEAD 36 /* magic, version, pad[3], index, ts, delta_seq, nkinds (u32) */
#define EP_KIND 24 /* kind (u8), pad[7], seq, events */

void ks_epoch_key(uint64_t index, char key[KS_EPOCH_KEY_LEN])
{
	char buf[KS_EPOCH_KEY_LEN + 1];

	snprintf(buf, sizeof(buf), KS_EPOCH_PREFIX "%016llx", (unsigned long long)index);
	memcpy(key, buf, KS_EPOCH_KEY_LEN);
}

int ks_epoch_key_parse(const void *key, size_t klen, uint64_t *index)
{
	const char *k = key;
	uint64_t v = 0;

	if (klen != KS_EPOCH_KEY_LEN || memcmp(k, KS_EPOCH_PREFIX, strlen(KS_EPOCH_PREFIX)))
		return 0;
	for (size_t i = strlen(KS_EPOCH_PREFIX); i < klen; i++) {
		char c = k[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	*index = v;
	return 1;
}

int ks_epoch_encode(const struct ks_epoch *e, unsigned char **buf, size_t *len)
{
	unsigned nk = 0;
	unsigned char *b, *p;
	size_t n;

	for (unsigned k = 1; k < KS_EPOCH_KINDS; k++)
		nk += e->seq[k] || e->events[k];
	n = EP_HEAD + (size_t)nk * EP_KIND + 8;
	b = p = calloc(1, n);
	if (!b)
		return -ENOMEM;
	memcpy(p, EP_MAGIC, 4);
	p[4] = EP_VERSION;
	ks_put_le64(p + 8, e->index);
	ks_put_le64(p + 16, e->ts);
	ks_put_le64(p + 24, e->delta_seq);
	ks_put_le32(p + 32, nk);
	p += EP_HEAD;
	for (unsigned k = 1; k < KS_EPOCH_KINDS; k++) {
		if (!e->seq[k] && !e->events[k])
			continue;
		p[0] = (unsigned char)k;
		ks_put_le64(p + 8, e->seq[k]);
		ks_put_le64(p + 16, e->events[k]);
		p += EP_KIND;
	}
	ks_put_le64(p, XXH64(b, (size_t)(p - b), 0));
	*buf = b;
	*len = n;
	return 0;
}

int ks_epoch_decode(const void *buf, size_t len, struct ks_epoch *e)
{
	const unsigned char *b = buf, *p;
	uint32_t nk;

	memset(e, 0, sizeof(*e));
	if (len < EP_HEAD + 8)
		return -KS_ETRUNC;
	if (memcmp(b, EP_MAGIC, 4))
		return -KS_EMAGIC;
	if (b[4] != EP_VERSION)
		return -KS_EVERSION;
	nk = ks_get_le32(b + 32);
	if (nk >= KS_EPOCH_KINDS || len != EP_HEAD + (size_t)nk * EP_KIND + 8)
		return -KS_ESIZES;
	if (ks_get_le64(b + len - 8) != XXH64(b, len - 8, 0))
		return -KS_ECHECKSUM;
	e->index = ks_get_le64(b + 8);
	e->ts = ks_get_le64(b + 16);
	e->delta_seq = ks_get_le64(b + 24);
	p = b + EP_HEAD;
	for (uint32_t i = 0; i < nk; i++, p += EP_KIND) {
		unsigned k = p[0];

		if (!k || e->seq[k] || e->events[k])
			return -KS_ESIZES;
		e->seq[k] = ks_get_le64(p + 8);
		e->events[k] = ks_get_le64(p + 16);
	}
	return 0;
}
