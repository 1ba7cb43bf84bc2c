/* The trace's manifest: per segment kind the dense sequence count and event sum,
 * per database the entry count, and a digest of every entry; kept up to date by
 * the writer in each commit and checked by readers against what the file holds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "format/kserr.h"
#include "store/store_priv.h"

#define MF_MAGIC "KSMF"
#define MF_VERSION 2u
#define MF_DB_REC 24u      /* entries, d[0], d[1] */
#define MF_KIND_REC_V1 40u /* kind (u32) + pad, segments, events, d[0], d[1] */
#define MF_KIND_REC 56u    /* v2: and the first kept sequence, the events dropped */

void ks_mf_hash(const void *key, size_t klen, const void *val, size_t vlen, uint64_t h[2])
{
	XXH128_hash_t x = XXH3_128bits_withSeed(val, vlen, XXH3_64bits(key, klen));

	h[0] = x.low64;
	h[1] = x.high64;
}

static int is_manifest_key(const void *key, size_t klen)
{
	return klen == strlen(KS_MANIFEST_KEY) && !memcmp(key, KS_MANIFEST_KEY, klen);
}

static void sum_add(struct ks_mf_sum *s, const uint64_t h[2], int sign)
{
	if (sign > 0) {
		s->entries++;
		s->d[0] += h[0];
		s->d[1] += h[1];
	} else {
		s->entries--;
		s->d[0] -= h[0];
		s->d[1] -= h[1];
	}
}

void ks_mf_add(struct ks_mf *mf, enum ks_db db, const void *key, size_t klen,
	       const uint64_t h[2], int sign)
{
	sum_add(&mf->db[db], h, sign);
	if (db == KS_DB_SEGMENTS && klen == KS_SEG_KEY_LEN)
		sum_add(&mf->seg[((const unsigned char *)key)[0]], h, sign);
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_sum(unsigned char *p, const struct ks_mf_sum *s)
{
	put64(p, s->entries);
	put64(p + 8, s->d[0]);
	put64(p + 16, s->d[1]);
}

static void get_sum(const unsigned char *p, struct ks_mf_sum *s)
{
	s->entries = get64(p);
	s->d[0] = get64(p + 8);
	s->d[1] = get64(p + 16);
}

static int kind_used(const struct ks_mf *mf, unsigned k)
{
	return mf->seg[k].entries || mf->events[k] || mf->first[k] || mf->dropped_events[k];
}

/* Layout (little-endian): "KSMF", version, one record per database, the count of
 * kinds that follow and their records, (v2) the entries dropped per database,
 * then an XXH64 of all before it. */
int ks_mf_encode(const struct ks_mf *mf, unsigned char **buf, size_t *len)
{
	unsigned nk = 0;
	unsigned char *b, *p;
	size_t n;

	for (unsigned k = 1; k < KS_SEG_KINDS; k++)
		nk += kind_used(mf, k);
	n = 8 + KS_DB_COUNT * MF_DB_REC + 4 + (size_t)nk * MF_KIND_REC + KS_DB_COUNT * 8 + 8;
	b = p = calloc(1, n);
	if (!b)
		return -ENOMEM;
	memcpy(p, MF_MAGIC, 4);
	p[4] = MF_VERSION;
	p += 8;
	for (int i = 0; i < KS_DB_COUNT; i++, p += MF_DB_REC)
		put_sum(p, &mf->db[i]);
	p[0] = (unsigned char)nk;
	p[1] = (unsigned char)(nk >> 8);
	p += 4;
	for (unsigned k = 1; k < KS_SEG_KINDS; k++) {
		if (!kind_used(mf, k))
			continue;
		p[0] = (unsigned char)k;
		put64(p + 8, mf->seg[k].entries);
		put64(p + 16, mf->events[k]);
		put64(p + 24, mf->seg[k].d[0]);
		put64(p + 32, mf->seg[k].d[1]);
		put64(p + 40, mf->first[k]);
		put64(p + 48, mf->dropped_events[k]);
		p += MF_KIND_REC;
	}
	for (int i = 0; i < KS_DB_COUNT; i++, p += 8)
		put64(p, mf->dropped[i]);
	put64(p, XXH64(b, (size_t)(p - b), 0));
	*buf = b;
	*len = n;
	return 0;
}

int ks_mf_decode(const void *buf, size_t len, struct ks_mf *mf)
{
	const unsigned char *b = buf, *p;
	size_t head = 8 + KS_DB_COUNT * MF_DB_REC + 4;
	unsigned nk, v;
	size_t rec, tail;

	memset(mf, 0, sizeof(*mf));
	if (len < head + 8 || memcmp(b, MF_MAGIC, 4))
		return -KS_ECORRUPT;
	if (get64(b + len - 8) != XXH64(b, len - 8, 0))
		return -KS_ECORRUPT;
	v = b[4];
	if (v != 1 && v != MF_VERSION)
		return -KS_EVERSION;
	rec = v == 1 ? MF_KIND_REC_V1 : MF_KIND_REC;
	tail = v == 1 ? 0 : KS_DB_COUNT * 8;
	p = b + 8;
	for (int i = 0; i < KS_DB_COUNT; i++, p += MF_DB_REC)
		get_sum(p, &mf->db[i]);
	nk = p[0] | (unsigned)p[1] << 8;
	p += 4;
	if (len != head + (size_t)nk * rec + tail + 8)
		return -KS_ECORRUPT;
	for (unsigned i = 0; i < nk; i++, p += rec) {
		unsigned k = p[0];

		if (k == 0 || kind_used(mf, k))
			return -KS_ECORRUPT;
		mf->seg[k].entries = get64(p + 8);
		mf->events[k] = get64(p + 16);
		mf->seg[k].d[0] = get64(p + 24);
		mf->seg[k].d[1] = get64(p + 32);
		if (v == 1)
			continue;
		mf->first[k] = get64(p + 40);
		mf->dropped_events[k] = get64(p + 48);
		if (mf->first[k] > UINT64_MAX - mf->seg[k].entries)
			return -KS_ECORRUPT;
	}
	for (size_t i = 0; i < tail / 8; i++, p += 8)
		mf->dropped[i] = get64(p);
	return 0;
}

static void flaw(struct ks_store_check *c, struct ks_flaw f)
{
	if (c && c->nflaws < KS_CHECK_FLAWS)
		c->flaws[c->nflaws] = f;
	if (c)
		c->nflaws++;
}

/* Segment keys in order against want's dense sequences: a gap is a run of missing
 * segments, a sequence at or past the count an extra one. */
struct seq_walk {
	uint64_t next[KS_SEG_KINDS];
	unsigned char damaged[KS_SEG_KINDS];
};

static void seq_gap(struct seq_walk *w, const struct ks_mf *want, unsigned k, uint64_t upto,
		    struct ks_store_check *c)
{
	uint64_t last = want->first[k] + want->seg[k].entries;
	uint64_t end = upto < last ? upto : last;

	if (w->next[k] < want->first[k])
		w->next[k] = want->first[k];
	if (w->next[k] < end) {
		flaw(c, (struct ks_flaw){ .type = KS_FLAW_SEG_MISSING, .db = KS_DB_SEGMENTS,
					  .kind = k, .seq = w->next[k], .seq_end = end - 1 });
		w->damaged[k] = 1;
	}
}

static void seq_step(struct seq_walk *w, const struct ks_mf *want, unsigned k, uint64_t seq,
		     struct ks_store_check *c)
{
	seq_gap(w, want, k, seq, c);
	if (seq < want->first[k] || seq - want->first[k] >= want->seg[k].entries) {
		flaw(c, (struct ks_flaw){ .type = KS_FLAW_SEG_EXTRA, .db = KS_DB_SEGMENTS,
					  .kind = k, .seq = seq, .seq_end = seq });
		w->damaged[k] = 1;
	}
	if (seq + 1 > w->next[k])
		w->next[k] = seq + 1;
}

/* Every entry of db into found; with want, segment sequences checked as they come. */
static int db_scan(struct ks_store *st, MDB_txn *txn, enum ks_db db, struct ks_mf *found,
		   const struct ks_mf *want, struct seq_walk *w, struct ks_store_check *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, st->dbi[db], &cur);
	int err = 0;

	if (rc)
		return ks_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *kb = k.mv_data;
		uint64_t h[2], seq = 0;

		err = ks_read_check_range(st, &k);
		if (!err)
			err = ks_read_check_range(st, &v);
		if (err)
			break;
		if (db == KS_DB_META && is_manifest_key(k.mv_data, k.mv_size))
			continue;
		ks_mf_hash(k.mv_data, k.mv_size, v.mv_data, v.mv_size, h);
		ks_mf_add(found, db, k.mv_data, k.mv_size, h, 1);
		if (db != KS_DB_SEGMENTS)
			continue;
		if (k.mv_size != KS_SEG_KEY_LEN || kb[0] == 0) {
			flaw(c, (struct ks_flaw){ .type = KS_FLAW_SEG_KEY, .db = db,
						  .found = k.mv_size });
			continue;
		}
		for (int i = 0; i < 8; i++)
			seq = seq << 8 | kb[1 + i];
		if (want)
			seq_step(w, want, kb[0], seq, c);
		else if (seq + 1 > found->events[kb[0]])
			found->events[kb[0]] = seq + 1; /* rebuild: the next sequence */
	}
	mdb_cursor_close(cur);
	if (!err && rc != MDB_NOTFOUND)
		err = ks_mdb_err(rc);
	return err;
}

static int sum_same(const struct ks_mf_sum *a, const struct ks_mf_sum *b)
{
	return a->entries == b->entries && a->d[0] == b->d[0] && a->d[1] == b->d[1];
}

static void compare(const struct ks_mf *want, const struct ks_mf *found, struct seq_walk *w,
		    struct ks_store_check *c)
{
	for (unsigned k = 1; k < KS_SEG_KINDS; k++) {
		seq_gap(w, want, k, UINT64_MAX, c);
		if (!w->damaged[k] && !sum_same(&want->seg[k], &found->seg[k]))
			flaw(c, (struct ks_flaw){ .type = KS_FLAW_SEG_ALTERED,
						  .db = KS_DB_SEGMENTS, .kind = k });
	}
	for (int i = 0; i < KS_DB_COUNT; i++) {
		if (i == KS_DB_SEGMENTS)
			continue;
		if (want->db[i].entries != found->db[i].entries)
			flaw(c, (struct ks_flaw){ .type = KS_FLAW_DB_COUNT, .db = i,
						  .want = want->db[i].entries,
						  .found = found->db[i].entries });
		else if (!sum_same(&want->db[i], &found->db[i]))
			flaw(c, (struct ks_flaw){ .type = KS_FLAW_DB_ALTERED, .db = i });
	}
}

void ks_mf_public(const struct ks_mf *mf, struct ks_manifest *m)
{
	for (unsigned k = 0; k < KS_SEG_KINDS; k++) {
		m->segments[k] = mf->seg[k].entries;
		m->events[k] = mf->events[k];
		m->first[k] = mf->first[k];
		m->dropped_events[k] = mf->dropped_events[k];
	}
	for (int i = 0; i < KS_DB_COUNT; i++) {
		m->entries[i] = mf->db[i].entries;
		m->dropped[i] = mf->dropped[i];
	}
}

int ks_store_check(struct ks_store *st, struct ks_store_check *out)
{
	struct ks_mf *want = NULL, *found = NULL;
	struct seq_walk *w = NULL;
	const void *v;
	size_t vlen;
	int err;

	if (!st || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!st->rdonly)
		return -EBADF;
	want = calloc(1, sizeof(*want));
	found = calloc(1, sizeof(*found));
	w = calloc(1, sizeof(*w));
	if (!want || !found || !w) {
		err = -ENOMEM;
		goto out;
	}
	err = ks_store_get(st, KS_DB_META, KS_MANIFEST_KEY, strlen(KS_MANIFEST_KEY), &v, &vlen);
	if (err == -KS_ENOTFOUND) {
		flaw(out, (struct ks_flaw){ .type = KS_FLAW_NO_MANIFEST });
		err = 0;
		goto out;
	}
	if (err)
		goto out;
	if (ks_mf_decode(v, vlen, want)) {
		flaw(out, (struct ks_flaw){ .type = KS_FLAW_MANIFEST });
		goto out;
	}
	out->have_manifest = 1;
	ks_mf_public(want, &out->manifest);
	for (int i = 0; i < KS_DB_COUNT && !err; i++)
		err = db_scan(st, st->txn, (enum ks_db)i, found, want, w, out);
	if (!err)
		compare(want, found, w, out);
out:
	free(want);
	free(found);
	free(w);
	return err;
}

int ks_mf_load(struct ks_store *st, MDB_txn *txn)
{
	MDB_val k = { strlen(KS_MANIFEST_KEY), KS_MANIFEST_KEY }, v;
	int rc = mdb_get(txn, st->dbi[KS_DB_META], &k, &v);
	int err = 0;

	if (!rc) {
		err = ks_mf_decode(v.mv_data, v.mv_size, &st->mf);
	} else if (rc == MDB_NOTFOUND) {
		/* An older trace: described as it stands, its events not known. */
		memset(&st->mf, 0, sizeof(st->mf));
		for (int i = 0; i < KS_DB_COUNT && !err; i++)
			err = db_scan(st, txn, (enum ks_db)i, &st->mf, NULL, NULL, NULL);
		for (unsigned kd = 0; kd < KS_SEG_KINDS; kd++) {
			st->next_seq[kd] = st->mf.events[kd];
			st->mf.events[kd] = st->mf.seg[kd].entries ? KS_EVENTS_UNKNOWN : 0;
		}
		st->mf_committed = st->mf;
		memcpy(st->committed_seq, st->next_seq, sizeof(st->next_seq));
		return err;
	} else {
		err = ks_mdb_err(rc);
	}
	if (err)
		return err;
	for (unsigned kd = 0; kd < KS_SEG_KINDS; kd++)
		st->next_seq[kd] = st->mf.first[kd] + st->mf.seg[kd].entries;
	st->mf_committed = st->mf;
	memcpy(st->committed_seq, st->next_seq, sizeof(st->next_seq));
	return 0;
}
