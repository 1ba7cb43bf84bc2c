/* The writer side of the store: puts into one open write transaction, each put
 * also copied until its commit so MDB_MAP_FULL is met by growing the map and
 * replaying the transaction, with nothing lost. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "format/kserr.h"
#include "store/store_priv.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/grow.h"

#define PENDING_MIN_CAP (64u << 10)
#define PENDING_KEEP_CAP (16u << 20) /* larger buffers are freed at commit */
#define MAX_VALUE_SIZE 0xffffffffull /* LMDB's MAXDATASIZE */

/* One pending put: this header, the key, the value, padded to 8 bytes. A delete
 * (retention) is an entry with PENT_DEL in db and no value. */
#define PENT_DEL 0x80000000u
struct pent {
	uint32_t db;
	uint32_t klen;
	uint64_t vlen;
};

static size_t pent_size(size_t klen, size_t vlen)
{
	return (sizeof(struct pent) + klen + vlen + 7) & ~(size_t)7;
}

static int pending_reserve(struct ks_pending *p, size_t need)
{
	if (need > SIZE_MAX - p->len)
		return -ENOMEM;
	need += p->len;
	return KS_GROW(&p->buf, &p->cap, need > PENDING_MIN_CAP ? need : PENDING_MIN_CAP) ? -ENOMEM : 0;
}

/* Appends a copy of the put; *mark lets a failed put take it back. */
static int pending_add(struct ks_pending *p, uint32_t db, const void *key, size_t klen,
		       const void *val, size_t vlen, size_t *mark)
{
	struct pent h = { .db = db, .klen = (uint32_t)klen, .vlen = vlen };
	size_t need = pent_size(klen, vlen);
	unsigned char *at;
	int err = pending_reserve(p, need);

	if (err)
		return err;
	*mark = p->len;
	at = p->buf + p->len;
	memcpy(at, &h, sizeof(h));
	memcpy(at + sizeof(h), key, klen);
	if (vlen)
		memcpy(at + sizeof(h) + klen, val, vlen);
	p->len += need;
	p->count++;
	return 0;
}

static void pending_truncate(struct ks_pending *p, size_t mark)
{
	p->len = mark;
	p->count--;
}

static void pending_clear(struct ks_pending *p)
{
	p->len = 0;
	p->count = 0;
	if (p->cap > PENDING_KEEP_CAP) {
		free(p->buf);
		p->buf = NULL;
		p->cap = 0;
	}
}

void ks_pending_free(struct ks_pending *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

/* Puts every pending entry into the open txn. Returns LMDB's code. */
static int pending_replay(struct ks_store *st)
{
	const struct ks_pending *p = &st->pending;

	for (size_t off = 0; off < p->len;) {
		struct pent h;
		MDB_val k, v;
		int rc;

		memcpy(&h, p->buf + off, sizeof(h));
		k.mv_size = h.klen;
		k.mv_data = p->buf + off + sizeof(h);
		v.mv_size = h.vlen;
		v.mv_data = p->buf + off + sizeof(h) + h.klen;
		if (h.db & PENT_DEL)
			rc = mdb_del(st->txn, st->dbi[h.db & ~PENT_DEL], &k, NULL);
		else
			rc = mdb_put(st->txn, st->dbi[h.db], &k, &v, 0);
		if (rc)
			return rc;
		off += pent_size(h.klen, h.vlen);
	}
	return 0;
}

static void txn_drop(struct ks_store *st)
{
	if (st->txn)
		mdb_txn_abort(st->txn);
	st->txn = NULL;
}

/* Doubles the map, up to its cap; a capped map at its cap has old data dropped
 * instead (ks_full_drop). Only with no transaction open. Returns 0, -EFBIG,
 * -KS_ESTORE. */
static int map_grow(struct ks_store *st)
{
	size_t size = st->mapsize * 2;
	int err;

	if (st->max_map && st->mapsize >= st->soft_map)
		return ks_full_drop(st);
	if (st->max_map && size > st->soft_map)
		size = st->soft_map;
	if (size > KS_STORE_MAX_MAPSIZE)
		return -EFBIG;
	err = ks_mdb_err(mdb_env_set_mapsize(st->env, size));
	if (!err)
		st->mapsize = size;
	return err;
}

/* Grows ahead of need when the committed pages plus what waits to be replayed come
 * near the map's end: cheaper than meeting MDB_MAP_FULL inside a transaction. */
static int map_grow_if_near_full(struct ks_store *st)
{
	MDB_envinfo info;
	int err = ks_mdb_err(mdb_env_info(st->env, &info));

	while (!err) {
		size_t used = (info.me_last_pgno + 1) * st->psize + st->pending.len;

		if (used <= st->mapsize / 4 * 3 || (st->max_map && st->mapsize >= st->soft_map))
			break;
		err = map_grow(st);
	}
	return err;
}

/* Makes sure a write txn is open and holds every pending put (after an abort the
 * pending puts are replayed). */
int ks_write_txn(struct ks_store *st)
{
	int rc, err;

	if (st->txn)
		return 0;
	for (;;) {
		err = map_grow_if_near_full(st);
		if (err)
			return err;
		rc = mdb_txn_begin(st->env, NULL, 0, &st->txn);
		if (rc) {
			st->txn = NULL;
			return ks_mdb_err(rc);
		}
		rc = pending_replay(st);
		if (!rc)
			return 0;
		txn_drop(st);
		if (rc != MDB_MAP_FULL)
			return ks_mdb_err(rc);
		err = map_grow(st);
		if (err)
			return err;
	}
}

/* The put (or with del, the delete) itself: copied to pending, then into the txn
 * (growing the map on MDB_MAP_FULL). */
static int put_raw(struct ks_store *st, enum ks_db db, MDB_val *k, MDB_val *v, int del)
{
	const void *key = k->mv_data, *val = v->mv_data;
	size_t klen = k->mv_size, vlen = v->mv_size;
	size_t mark;
	int rc, err;

	err = pending_add(&st->pending, db | (del ? PENT_DEL : 0), key, klen, val, vlen, &mark);
	if (err)
		return err;
	rc = del ? mdb_del(st->txn, st->dbi[db], k, NULL) : mdb_put(st->txn, st->dbi[db], k, v, 0);
	if (!rc)
		return 0;
	txn_drop(st);
	if (rc == MDB_MAP_FULL) {
		err = map_grow(st);
		if (!err)
			err = ks_write_txn(st);
	} else {
		err = ks_mdb_err(rc);
	}
	if (err) {
		/* The put failed: it must not reappear in a later replay. */
		pending_truncate(&st->pending, mark);
		txn_drop(st);
	}
	return err;
}

/* The value key has now in the open txn (in old): the manifest forgets its hash
 * when a put replaces it or a drop removes it. Returns 1 (found), 0 or LMDB's
 * error. */
static int old_value(struct ks_store *st, enum ks_db db, MDB_val *k, MDB_val *old)
{
	int rc = mdb_get(st->txn, st->dbi[db], k, old);

	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? ks_mdb_err(rc) : 1;
}

/* A put; fresh: the key is known to be new (a segment's next sequence). */
static int store_put(struct ks_store *st, enum ks_db db, const void *key, size_t klen,
		     const void *val, size_t vlen, int fresh)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	uint64_t oh[2], nh[2];
	int had = 0;
	int err;

	if (!st || (unsigned)db >= KS_DB_COUNT || !key || !klen || (!val && vlen))
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	if (klen > (size_t)mdb_env_get_maxkeysize(st->env) || vlen > MAX_VALUE_SIZE)
		return -EINVAL;
	if (db == KS_DB_META && klen == strlen(KS_MANIFEST_KEY) &&
	    !memcmp(key, KS_MANIFEST_KEY, klen))
		return -EINVAL;
	err = ks_write_txn(st);
	if (err)
		return err;
	if (!fresh) {
		MDB_val was;

		had = old_value(st, db, &k, &was);
		if (had < 0)
			return had;
		/* the same value again (a content-addressed chunk a checkpoint puts
		 * anew): nothing to write, no page to copy or free */
		if (had && was.mv_size == vlen && !memcmp(was.mv_data, val, vlen)) {
			st->same_bytes += ks_put_cost(st, klen, vlen);
			return 0;
		}
		if (had)
			ks_mf_hash(key, klen, was.mv_data, was.mv_size, oh);
	}
	ks_mf_hash(key, klen, val, vlen, nh);
	err = put_raw(st, db, &k, &v, 0);
	if (err)
		return err;
	st->put_bytes += ks_put_cost(st, klen, vlen);
	if (had)
		ks_mf_add(&st->mf, db, key, klen, oh, -1);
	ks_mf_add(&st->mf, db, key, klen, nh, 1);
	return 0;
}

int ks_store_put(struct ks_store *st, enum ks_db db, const void *key, size_t klen,
		 const void *val, size_t vlen)
{
	return store_put(st, db, key, klen, val, vlen, 0);
}

int ks_store_drop(struct ks_store *st, enum ks_db db, const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key }, v = { 0, NULL }, was;
	uint64_t oh[2];
	int had, err;

	if (!st || (unsigned)db >= KS_DB_COUNT || !key || !klen)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	if (klen > (size_t)mdb_env_get_maxkeysize(st->env))
		return -EINVAL;
	if (db == KS_DB_META && klen == strlen(KS_MANIFEST_KEY) &&
	    !memcmp(key, KS_MANIFEST_KEY, klen))
		return -EINVAL;
	err = ks_write_txn(st);
	if (err)
		return err;
	had = old_value(st, db, &k, &was);
	if (had <= 0)
		return had < 0 ? had : -KS_ENOTFOUND;
	ks_mf_hash(key, klen, was.mv_data, was.mv_size, oh);
	err = put_raw(st, db, &k, &v, 1);
	if (err)
		return err;
	ks_mf_add(&st->mf, db, key, klen, oh, -1);
	st->mf.dropped[db]++;
	return 0;
}

int ks_store_put_meta(struct ks_store *st, const char *key, const char *val)
{
	if (!key || !val)
		return -EINVAL;
	return ks_store_put(st, KS_DB_META, key, strlen(key), val, strlen(val));
}

static void seg_key(unsigned char *k, unsigned kind, uint64_t seq)
{
	k[0] = (unsigned char)kind;
	ks_put_be64(k + 1, seq);
}

int ks_store_put_segment_events(struct ks_store *st, unsigned kind, const void *buf,
				size_t len, uint64_t events)
{
	unsigned char key[KS_SEG_KEY_LEN];
	uint64_t *sum;
	int err;

	if (!st || kind == 0 || kind >= KS_SEG_KINDS)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	seg_key(key, kind, st->next_seq[kind]);
	err = store_put(st, KS_DB_SEGMENTS, key, sizeof(key), buf, len, 1);
	if (err)
		return err;
	st->next_seq[kind]++;
	sum = &st->mf.events[kind];
	if (events == KS_EVENTS_UNKNOWN || *sum == KS_EVENTS_UNKNOWN ||
	    *sum > KS_EVENTS_UNKNOWN - 1 - events)
		*sum = KS_EVENTS_UNKNOWN;
	else
		*sum += events;
	return 0;
}

int ks_store_drop_segments(struct ks_store *st, unsigned kind, uint64_t upto, uint64_t events)
{
	unsigned char key[KS_SEG_KEY_LEN];
	uint64_t *sum;
	int err;

	if (!st || kind == 0 || kind >= KS_SEG_KINDS || upto > st->next_seq[kind])
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	for (uint64_t seq = st->mf.first[kind]; seq < upto; seq++) {
		seg_key(key, kind, seq);
		err = ks_store_drop(st, KS_DB_SEGMENTS, key, sizeof(key));
		if (err == -KS_ENOTFOUND)
			err = 0; /* put in the open txn, not found: the manifest says no more */
		if (err)
			return err;
		st->mf.first[kind] = seq + 1;
	}
	sum = &st->mf.events[kind];
	if (*sum != KS_EVENTS_UNKNOWN)
		*sum = events > *sum ? 0 : *sum - events;
	st->mf.dropped_events[kind] += events;
	return 0;
}

int ks_store_put_segment(struct ks_store *st, unsigned kind, const void *buf, size_t len)
{
	return ks_store_put_segment_events(st, kind, buf, len, KS_EVENTS_UNKNOWN);
}

int ks_store_discard(struct ks_store *st, uint64_t *events, uint64_t *puts)
{
	uint64_t segs = 0;

	if (!st)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	for (unsigned k = 0; k < KS_SEG_KINDS; k++) {
		uint64_t now = st->mf.events[k], then = st->mf_committed.events[k];

		segs += st->next_seq[k] - st->committed_seq[k];
		if (events)
			events[k] = now == KS_EVENTS_UNKNOWN || then == KS_EVENTS_UNKNOWN ?
				    0 : now - then;
	}
	if (puts)
		*puts = st->pending.count - segs;
	txn_drop(st);
	pending_clear(&st->pending);
	st->mf = st->mf_committed;
	memcpy(st->next_seq, st->committed_seq, sizeof(st->next_seq));
	return 0;
}

size_t ks_store_pending_bytes(const struct ks_store *st)
{
	return st ? st->pending.len : 0;
}

/* LMDB says EIO when a write came up short: on a full filesystem that is ENOSPC. */
static int write_err(struct ks_store *st, int err)
{
	struct statvfs vfs;
	int fd;

	if (err != -EIO || mdb_env_get_fd(st->env, &fd) || fstatvfs(fd, &vfs))
		return err;
	if ((uint64_t)vfs.f_bavail * vfs.f_frsize < st->pending.len + (1u << 20))
		return -ENOSPC;
	return err;
}

/* The manifest into the open txn, just before its commit. LMDB's code. */
static int manifest_put(struct ks_store *st)
{
	MDB_val k = { strlen(KS_MANIFEST_KEY), KS_MANIFEST_KEY }, v;
	unsigned char *buf;
	size_t len;
	int rc;

	if (ks_mf_encode(&st->mf, &buf, &len))
		return ENOMEM;
	v.mv_data = buf;
	v.mv_size = len;
	rc = mdb_put(st->txn, st->dbi[KS_DB_META], &k, &v, 0);
	free(buf);
	return rc;
}

int ks_store_commit(struct ks_store *st)
{
	int rc, err;

	if (!st)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	while (st->txn || st->pending.count) {
		err = ks_write_txn(st);
		if (err)
			return err;
		rc = manifest_put(st);
		if (rc) {
			txn_drop(st);
		} else {
			rc = mdb_txn_commit(st->txn);
			st->txn = NULL; /* freed by LMDB, committed or not */
		}
		if (!rc) {
			pending_clear(&st->pending);
			st->mf_committed = st->mf;
			memcpy(st->committed_seq, st->next_seq, sizeof(st->next_seq));
			break;
		}
		if (rc != MDB_MAP_FULL)
			return write_err(st, ks_mdb_err(rc));
		err = map_grow(st);
		if (err)
			return err;
	}
	st->last_commit_ns = ks_mono_ns();
	return 0;
}

int ks_store_maybe_commit(struct ks_store *st, uint64_t now_ns)
{
	if (!st)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	if (!st->txn && !st->pending.count)
		return 0;
	if (now_ns < st->last_commit_ns ||
	    now_ns - st->last_commit_ns < KS_STORE_COMMIT_INTERVAL_NS)
		return 0;
	return ks_store_commit(st);
}

/* The version, and the manifest that describes it, in the creating txn. */
static int version_put(struct ks_store *st, MDB_txn *txn)
{
	MDB_val k = { strlen("format_version"), "format_version" };
	MDB_val v = { strlen(KS_STORE_FORMAT_VERSION), KS_STORE_FORMAT_VERSION };
	uint64_t h[2];
	int rc = mdb_put(txn, st->dbi[KS_DB_META], &k, &v, 0);

	if (rc)
		return ks_mdb_err(rc);
	ks_mf_hash(k.mv_data, k.mv_size, v.mv_data, v.mv_size, h);
	ks_mf_add(&st->mf, KS_DB_META, k.mv_data, k.mv_size, h, 1);
	st->mf_committed = st->mf;
	st->txn = txn;
	rc = manifest_put(st);
	st->txn = NULL;
	return ks_mdb_err(rc);
}

static int version_check(struct ks_store *st, MDB_txn *txn)
{
	MDB_val k = { strlen("format_version"), "format_version" }, v;
	int rc = mdb_get(txn, st->dbi[KS_DB_META], &k, &v);

	if (rc == MDB_NOTFOUND)
		return -KS_ENOTTRACE;
	if (rc)
		return ks_mdb_err(rc);
	if (v.mv_size != strlen(KS_STORE_FORMAT_VERSION) ||
	    memcmp(v.mv_data, KS_STORE_FORMAT_VERSION, v.mv_size) != 0)
		return -KS_EVERSION;
	return 0;
}

/* Next sequence of each kind from its last key: jump from the last key of one kind
 * to the last key of the kind before it. */
static int seqs_recover(struct ks_store *st, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, st->dbi[KS_DB_SEGMENTS], &cur);

	if (rc)
		return ks_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	while (!rc) {
		const unsigned char *kb = k.mv_data;
		unsigned char probe[KS_SEG_KEY_LEN];
		uint64_t seq;

		if (k.mv_size != KS_SEG_KEY_LEN || kb[0] == 0) {
			rc = MDB_CORRUPTED;
			break;
		}
		seq = ks_get_be64(kb + 1);
		st->next_seq[kb[0]] = seq + 1;
		seg_key(probe, kb[0], 0);
		k.mv_size = sizeof(probe);
		k.mv_data = probe;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (!rc)
			rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : ks_mdb_err(rc);
}

int ks_write_init(struct ks_store *st, int create)
{
	MDB_envinfo info;
	MDB_stat ms;
	MDB_txn *txn;
	int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	int err;

	if (rc)
		return ks_mdb_err(rc);
	err = ks_dbis_open(st, txn, create ? MDB_CREATE : 0);
	if (!err)
		err = create ? version_put(st, txn) : version_check(st, txn);
	if (!err && !create)
		err = seqs_recover(st, txn);
	if (!err && !create)
		err = ks_mf_load(st, txn);
	if (err) {
		mdb_txn_abort(txn);
		return err;
	}
	/* Committed even when nothing changed: the database handles live on. */
	err = ks_mdb_err(mdb_txn_commit(txn));
	if (!err)
		err = ks_mdb_err(mdb_env_info(st->env, &info));
	if (!err)
		err = ks_mdb_err(mdb_env_stat(st->env, &ms));
	if (err)
		return err;
	st->mapsize = info.me_mapsize;
	st->psize = ms.ms_psize;
	st->last_commit_ns = ks_mono_ns();
	return 0;
}
