/* The store's part of bounded recording: a capped map whose fullness calls back
 * to drop old data, the pages in use, a walk of the write transaction, and the
 * compacted copy behind live snapshots. What to drop is the caller's choice. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "format/kserr.h"
#include "store/store_priv.h"

#define CAP_MIN (1ull << 20)

/* A capped map keeps this share of its cap for the full map's callback: the
 * pages the last transaction freed are reusable only from the second one after
 * it, and a drop copies the pages it changes before it frees any, so a map
 * filled to its end right after a transaction that freed much has no page for
 * the small commit that makes those reusable, nor for the drop. */
#define RESERVE_DIV 32

int ks_map_soft(struct ks_store *st)
{
	MDB_envinfo info;
	int err = ks_mdb_err(mdb_env_set_mapsize(st->env, st->soft_map));

	/* LMDB keeps the pages in use: the map shrinks to them at most */
	err = err ?: ks_mdb_err(mdb_env_info(st->env, &info));
	if (!err)
		st->mapsize = info.me_mapsize;
	return err;
}

int ks_store_use_reserve(struct ks_store *st, int on)
{
	int err;

	if (!st || st->rdonly)
		return -EBADF;
	if (!st->max_map)
		return 0;
	if (!on)
		return ks_map_soft(st);
	if (st->txn)
		return -EBUSY;
	err = ks_mdb_err(mdb_env_set_mapsize(st->env, st->max_map));
	if (!err)
		st->mapsize = st->max_map;
	return err;
}

int ks_store_set_cap(struct ks_store *st, uint64_t bytes, int (*fn)(void *ctx), void *ctx)
{
	MDB_envinfo info;
	size_t cap;
	int err;

	if (!st || st->rdonly || bytes < CAP_MIN || st->txn || st->pending.count)
		return -EINVAL;
	cap = (size_t)(bytes / st->psize * st->psize);
	err = ks_mdb_err(mdb_env_info(st->env, &info));
	if (err)
		return err;
	if ((info.me_last_pgno + 1) * st->psize > cap)
		return -EINVAL;
	st->max_map = cap;
	st->soft_map = (size_t)((cap - cap / RESERVE_DIV) / st->psize * st->psize);
	err = ks_map_soft(st);
	if (err)
		return err;
	st->full_fn = fn;
	st->full_ctx = ctx;
	return 0;
}

/* The manifest sums are additive: what a drop took from the committed manifest
 * it takes from the one that includes the waiting puts too. */
static void mf_carry(struct ks_mf *mf, const struct ks_mf *before, const struct ks_mf *after)
{
	for (int i = 0; i < KS_DB_COUNT; i++) {
		mf->db[i].entries += after->db[i].entries - before->db[i].entries;
		mf->db[i].d[0] += after->db[i].d[0] - before->db[i].d[0];
		mf->db[i].d[1] += after->db[i].d[1] - before->db[i].d[1];
		mf->dropped[i] = after->dropped[i];
	}
	for (unsigned k = 0; k < KS_SEG_KINDS; k++) {
		mf->seg[k].entries += after->seg[k].entries - before->seg[k].entries;
		mf->seg[k].d[0] += after->seg[k].d[0] - before->seg[k].d[0];
		mf->seg[k].d[1] += after->seg[k].d[1] - before->seg[k].d[1];
		if (mf->events[k] != KS_EVENTS_UNKNOWN && after->events[k] != KS_EVENTS_UNKNOWN)
			mf->events[k] -= before->events[k] - after->events[k];
		mf->first[k] = after->first[k];
		mf->dropped_events[k] = after->dropped_events[k];
	}
}

int ks_full_drop(struct ks_store *st)
{
	struct ks_pending aside = st->pending;
	struct ks_mf *mf = malloc(sizeof(*mf)), *before = malloc(sizeof(*before));
	uint64_t *seqs = malloc(sizeof(st->next_seq));
	int err;

	if (!st->full_fn || st->in_full || !mf || !before || !seqs) {
		free(mf);
		free(before);
		free(seqs);
		return -EFBIG;
	}
	if (st->txn)
		mdb_txn_abort(st->txn);
	st->txn = NULL;
	/* the callback may use the reserve */
	if (ks_store_use_reserve(st, 1)) {
		free(mf);
		free(before);
		free(seqs);
		return -EFBIG;
	}
	*mf = st->mf;
	*before = st->mf_committed;
	memcpy(seqs, st->next_seq, sizeof(st->next_seq));
	memset(&st->pending, 0, sizeof(st->pending));
	st->mf = st->mf_committed;
	memcpy(st->next_seq, st->committed_seq, sizeof(st->next_seq));
	st->in_full = 1;
	err = st->full_fn(st->full_ctx);
	st->in_full = 0;
	if (st->txn)
		mdb_txn_abort(st->txn);
	st->txn = NULL;
	ks_pending_free(&st->pending);
	st->pending = aside;
	mf_carry(mf, before, &st->mf_committed);
	st->mf = *mf;
	memcpy(st->next_seq, seqs, sizeof(st->next_seq));
	free(mf);
	free(before);
	free(seqs);
	if (ks_store_use_reserve(st, 0))
		err = -EFBIG;
	return err ? -EFBIG : 0;
}

/* Pages of the committed file on LMDB's free list (whose entries are lists of
 * page numbers, each led by its length), and the file's pages. */
static int free_pages(struct ks_store *st, uint64_t *nfree, uint64_t *total)
{
	MDB_envinfo info;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_txn *txn;
	int err, rc;

	*nfree = 0;
	err = ks_mdb_err(mdb_env_info(st->env, &info));
	err = err ?: ks_mdb_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn));
	if (err)
		return err;
	*total = info.me_last_pgno + 1;
	err = ks_mdb_err(mdb_cursor_open(txn, 0, &cur)); /* 0: the free list */
	if (!err) {
		while (!(rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)))
			if (v.mv_size >= sizeof(size_t)) {
				size_t n;

				memcpy(&n, v.mv_data, sizeof(n));
				*nfree += n;
			}
		if (rc != MDB_NOTFOUND)
			err = ks_mdb_err(rc);
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	return err;
}

int ks_store_used_bytes(struct ks_store *st, uint64_t *bytes)
{
	uint64_t nfree, total;
	int err;

	if (!st || !bytes)
		return -EINVAL;
	if (st->rdonly || st->txn)
		return -EBADF;
	err = free_pages(st, &nfree, &total);
	if (!err)
		*bytes = (total > nfree ? total - nfree : 0) * st->psize;
	return err;
}

/* LMDB's layout (lmdb/mdb.c): a node is its 8-byte header, the key and the value,
 * with a 2-byte index on its page; a node past the limit a 4096-byte page allows
 * (two nodes a page at least) keeps the value in a run of overflow pages, each run
 * with a 16-byte page header, and a page number in the node. */
#define NODE_HDR 8u
#define PAGE_HDR 16u

uint64_t ks_put_cost(const struct ks_store *st, size_t klen, size_t vlen)
{
	size_t psize = st->psize ? st->psize : 4096;
	size_t nodemax = (((psize - PAGE_HDR) / 2) & ~(size_t)1) - 2;
	size_t node = NODE_HDR + klen + vlen;

	if (node <= nodemax)
		return 2 * (node + 2); /* a leaf page half full */
	return ((PAGE_HDR - 1 + vlen) / psize + 1) * psize + 2 * (NODE_HDR + klen + 8 + 2);
}

uint64_t ks_store_put_bytes(const struct ks_store *st)
{
	return st ? st->put_bytes : 0;
}

uint64_t ks_store_same_bytes(const struct ks_store *st)
{
	return st ? st->same_bytes : 0;
}

int ks_store_walk(struct ks_store *st, enum ks_db db,
		  int (*fn)(void *ctx, const void *key, size_t klen, const void *val,
			    size_t vlen),
		  void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, err = 0;

	if (!st || (unsigned)db >= KS_DB_COUNT || !fn)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	err = ks_write_txn(st);
	if (err)
		return err;
	rc = mdb_cursor_open(st->txn, st->dbi[db], &cur);
	if (rc)
		return ks_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && !err;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		err = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
	mdb_cursor_close(cur);
	if (!err && rc != MDB_NOTFOUND)
		err = ks_mdb_err(rc);
	return err;
}

/* A compacted copy of what is committed, written to the new file path (mode
 * 0600, or like's owner and mode) and synced; on failure nothing is left. */
static int write_compacted(struct ks_store *st, const char *path, const struct stat *like)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int err;

	if (fd < 0)
		return -errno;
	err = ks_mdb_err(mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT));
	if (!err && like && (fchown(fd, like->st_uid, like->st_gid) ||
			     fchmod(fd, like->st_mode & 07777)))
		err = -errno;
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(path);
	return err;
}

int ks_store_copy(struct ks_store *st, const char *path)
{
	int err;

	if (!st || !path)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	err = ks_store_commit(st);
	return err ?: write_compacted(st, path, NULL);
}

/* A compacted copy of the committed trace at PATH.compact, synced, with the
 * file's owner and mode. Returns its malloc'd path or NULL (errno set). */
static char *compact_copy(struct ks_store *st, const char *path)
{
	struct stat sb;
	char *tmp = NULL;
	int err;

	if (stat(path, &sb) || asprintf(&tmp, "%s.compact", path) < 0)
		return NULL;
	unlink(tmp); /* left by a recorder killed while compacting */
	err = write_compacted(st, tmp, &sb);
	if (err) {
		free(tmp);
		errno = -err;
		return NULL;
	}
	return tmp;
}

int ks_store_compact_live(struct ks_store *st, unsigned min_free_pct)
{
	uint64_t nfree = 0, total = 0;
	char *tmp;
	int err;

	if (!st || st->rdonly)
		return -EBADF;
	err = ks_store_commit(st);
	if (err)
		return err;
	if (st->txn || st->pending.count)
		return -EBUSY;
	err = free_pages(st, &nfree, &total);
	if (err || !nfree || nfree * 100 < (uint64_t)min_free_pct * total)
		return err;
	tmp = compact_copy(st, st->path);
	if (!tmp)
		return -errno;
	err = rename(tmp, st->path) ? -errno : 0;
	if (err)
		unlink(tmp);
	free(tmp);
	/* the copy holds everything committed: the writer goes on in it, with
	 * the reserve whole again */
	if (!err && st->max_map)
		st->mapsize = st->soft_map;
	return err ?: ks_env_reopen_writer(st) ?: 1;
}

int ks_store_close_compact(struct ks_store *st, unsigned min_free_pct, uint64_t max_bytes)
{
	uint64_t nfree = 0, total = 0;
	char *tmp = NULL, *path;
	int err;

	if (!st || st->rdonly)
		return ks_store_close(st);
	path = strdup(st->path);
	if (!path)
		return ks_store_close(st) ?: -ENOMEM;
	err = ks_store_commit(st);
	if (!err && !free_pages(st, &nfree, &total) && nfree &&
	    nfree * 100 >= (uint64_t)min_free_pct * total && total * st->psize <= max_bytes)
		tmp = compact_copy(st, path);
	/* the copy is whole and synced: it replaces the file once the writer is done */
	err = ks_store_close(st) ?: err;
	if (tmp && !err && rename(tmp, path))
		err = -errno;
	if (tmp && err)
		unlink(tmp);
	free(tmp);
	free(path);
	return err;
}

int ks_store_manifest(struct ks_store *st, struct ks_manifest *m)
{
	if (!st || !m)
		return -EINVAL;
	if (st->rdonly)
		return -EBADF;
	ks_mf_public(&st->mf, m);
	return 0;
}
