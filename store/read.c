/* The reader side of the store: lookups, iterators and statistics over the one read
 * transaction a reader keeps; every key and value handed out is checked to lie in
 * the file, so a damaged trace gives -KS_ECORRUPT rather than a fault. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/kserr.h"
#include "store/store_priv.h"
#include "util/bytes.h"

struct ks_seg_iter {
	struct ks_iter_link link;
	unsigned kind;
	int started, done, err;
};

struct ks_db_iter {
	struct ks_iter_link link;
	int started, done, err;
};

int ks_read_check_range(const struct ks_store *st, const MDB_val *v)
{
	uintptr_t p = (uintptr_t)v->mv_data, lo = (uintptr_t)st->map;

	if (!st->rdonly || !st->map || v->mv_size == 0)
		return 0;
	if (p < lo || p - lo > st->map_valid || v->mv_size > st->map_valid - (p - lo))
		return -KS_ECORRUPT;
	return 0;
}

/* Writers read through their open write txn, readers through their read txn. */
static int read_txn(struct ks_store *st)
{
	return st->rdonly ? 0 : ks_write_txn(st);
}

int ks_store_get(struct ks_store *st, enum ks_db db, const void *key, size_t klen,
		 const void **val, size_t *vlen)
{
	MDB_val k = { klen, (void *)key }, v;
	int err;

	if (!st || (unsigned)db >= KS_DB_COUNT || !key || !klen || !val || !vlen)
		return -EINVAL;
	err = read_txn(st);
	if (!err)
		err = ks_mdb_err(mdb_get(st->txn, st->dbi[db], &k, &v));
	if (!err)
		err = ks_read_check_range(st, &v);
	if (err)
		return err;
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

int ks_store_get_meta(struct ks_store *st, const char *key, char **val)
{
	const void *v;
	size_t len;
	int err;

	if (!key || !val)
		return -EINVAL;
	*val = NULL;
	err = ks_store_get(st, KS_DB_META, key, strlen(key), &v, &len);
	if (err)
		return err;
	*val = malloc(len + 1);
	if (!*val)
		return -ENOMEM;
	memcpy(*val, v, len);
	(*val)[len] = '\0';
	return 0;
}

static void link_remove(struct ks_iter_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->next = l->prev = l;
}

/* Opens a cursor for an iterator and links it to the store. Readers only: a
 * writer's cursors die with each commit. */
static int iter_link(struct ks_store *st, enum ks_db db, struct ks_iter_link *l)
{
	int rc = mdb_cursor_open(st->txn, st->dbi[db], &l->cur);

	if (rc)
		return ks_mdb_err(rc);
	l->st = st;
	l->next = st->iters.next;
	l->prev = &st->iters;
	st->iters.next->prev = l;
	st->iters.next = l;
	return 0;
}

static void iter_unlink(struct ks_iter_link *l)
{
	if (l->cur)
		mdb_cursor_close(l->cur);
	l->cur = NULL;
	l->st = NULL;
	link_remove(l);
}

void ks_iters_retire(struct ks_store *st)
{
	while (st->iters.next != &st->iters)
		iter_unlink(st->iters.next);
}

/* Moves the cursor; maps LMDB's codes and checks that key and value lie in the file.
 * Returns 1 with k and v, 0 at the end, or a negative error. */
static int cursor_step(struct ks_iter_link *l, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
	int rc = mdb_cursor_get(l->cur, k, v, op);
	int err;

	if (rc == MDB_NOTFOUND)
		return 0;
	err = ks_mdb_err(rc);
	if (!err)
		err = ks_read_check_range(l->st, k);
	if (!err)
		err = ks_read_check_range(l->st, v);
	return err ? err : 1;
}

int ks_store_iter_segments(struct ks_store *st, unsigned kind, struct ks_seg_iter **out)
{
	struct ks_seg_iter *it;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!st || kind >= KS_SEG_KINDS)
		return -EINVAL;
	if (!st->rdonly)
		return -EBADF;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->link.next = it->link.prev = &it->link;
	it->kind = kind;
	err = iter_link(st, KS_DB_SEGMENTS, &it->link);
	if (err) {
		free(it);
		return err;
	}
	*out = it;
	return 0;
}

static int seg_step(struct ks_seg_iter *it, MDB_val *k, MDB_val *v)
{
	unsigned char probe[KS_SEG_KEY_LEN] = { (unsigned char)it->kind };

	if (it->started)
		return cursor_step(&it->link, k, v, MDB_NEXT);
	it->started = 1;
	if (!it->kind)
		return cursor_step(&it->link, k, v, MDB_FIRST);
	k->mv_size = sizeof(probe);
	k->mv_data = probe;
	return cursor_step(&it->link, k, v, MDB_SET_RANGE);
}

int ks_seg_iter_next(struct ks_seg_iter *it, unsigned *kind, uint64_t *seq,
		     const void **buf, size_t *len)
{
	const unsigned char *kb;
	MDB_val k, v;
	uint64_t s = 0;
	int r;

	if (!it)
		return -EINVAL;
	if (it->err || it->done)
		return it->err;
	if (!it->link.cur)
		return -EBADF; /* its store was closed */
	r = seg_step(it, &k, &v);
	if (r == 1 && (k.mv_size != KS_SEG_KEY_LEN || ((const unsigned char *)k.mv_data)[0] == 0))
		r = -KS_ECORRUPT;
	if (r == 1 && it->kind && ((const unsigned char *)k.mv_data)[0] != it->kind)
		r = 0;
	if (r <= 0) {
		it->done = 1;
		it->err = r;
		return r;
	}
	kb = k.mv_data;
	s = ks_get_be64(kb + 1);
	if (kind)
		*kind = kb[0];
	if (seq)
		*seq = s;
	if (buf)
		*buf = v.mv_data;
	if (len)
		*len = v.mv_size;
	return 1;
}

void ks_seg_iter_free(struct ks_seg_iter *it)
{
	if (!it)
		return;
	iter_unlink(&it->link);
	free(it);
}

int ks_store_iter(struct ks_store *st, enum ks_db db, struct ks_db_iter **out)
{
	struct ks_db_iter *it;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!st || (unsigned)db >= KS_DB_COUNT)
		return -EINVAL;
	if (!st->rdonly)
		return -EBADF;
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->link.next = it->link.prev = &it->link;
	err = iter_link(st, db, &it->link);
	if (err) {
		free(it);
		return err;
	}
	*out = it;
	return 0;
}

int ks_db_iter_next(struct ks_db_iter *it, const void **key, size_t *klen,
		    const void **val, size_t *vlen)
{
	MDB_val k, v;
	int r;

	if (!it)
		return -EINVAL;
	if (it->err || it->done)
		return it->err;
	if (!it->link.cur)
		return -EBADF;
	r = cursor_step(&it->link, &k, &v, it->started ? MDB_NEXT : MDB_FIRST);
	it->started = 1;
	if (r <= 0) {
		it->done = 1;
		it->err = r;
		return r;
	}
	if (key)
		*key = k.mv_data;
	if (klen)
		*klen = k.mv_size;
	if (val)
		*val = v.mv_data;
	if (vlen)
		*vlen = v.mv_size;
	return 1;
}

void ks_db_iter_free(struct ks_db_iter *it)
{
	if (!it)
		return;
	iter_unlink(&it->link);
	free(it);
}

/* Entries and value bytes of one database: a walk of its leaves. */
static int db_stat(struct ks_store *st, enum ks_db db, uint64_t *entries, uint64_t *bytes)
{
	struct ks_iter_link l = { .st = st };
	MDB_stat ms;
	MDB_val k, v;
	int r = ks_mdb_err(mdb_stat(st->txn, st->dbi[db], &ms));

	if (r)
		return r;
	*entries = ms.ms_entries;
	*bytes = 0;
	r = ks_mdb_err(mdb_cursor_open(st->txn, st->dbi[db], &l.cur));
	if (r)
		return r;
	for (r = cursor_step(&l, &k, &v, MDB_FIRST); r == 1;
	     r = cursor_step(&l, &k, &v, MDB_NEXT))
		*bytes += v.mv_size;
	mdb_cursor_close(l.cur);
	return r;
}

int ks_store_stat(struct ks_store *st, struct ks_store_info *info)
{
	MDB_envinfo ei;
	struct stat sb;
	int fd;
	int err;

	if (!st || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	err = read_txn(st);
	if (!err)
		err = ks_mdb_err(mdb_env_get_fd(st->env, &fd));
	if (err)
		return err;
	if (fstat(fd, &sb) < 0)
		return -errno;
	err = ks_mdb_err(mdb_env_info(st->env, &ei));
	if (err)
		return err;
	info->file_size = (uint64_t)sb.st_size;
	info->map_size = ei.me_mapsize;
	for (int i = 0; i < KS_DB_COUNT && !err; i++)
		err = db_stat(st, (enum ks_db)i, &info->entries[i], &info->value_bytes[i]);
	return err;
}
