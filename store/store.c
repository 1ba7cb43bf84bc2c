/* Opening and closing the trace store: file creation without following links, the
 * lock-file policy for writers and readers, and the checks a reader makes first. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/kserr.h"
#include "store/store_priv.h"

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static void unlink_if_same(const char *path, const struct stat *want)
{
	struct stat sb;

	if (lstat(path, &sb) == 0 && same_file(&sb, want))
		unlink(path);
}

static struct ks_store *store_alloc(const char *path, int rdonly)
{
	struct ks_store *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->rdonly = rdonly;
	st->iters.next = st->iters.prev = &st->iters;
	st->path = strdup(path);
	if (st->path && asprintf(&st->lockpath, "%s-lock", path) < 0)
		st->lockpath = NULL;
	if (!st->path || !st->lockpath) {
		free(st->path);
		free(st);
		return NULL;
	}
	return st;
}

static void store_free(struct ks_store *st)
{
	ks_pending_free(&st->pending);
	free(st->path);
	free(st->lockpath);
	free(st);
}

/* Opens fd on path for the checks (O_NONBLOCK: a FIFO must not hang us) and
 * insists on a regular file. */
static int open_existing(const char *path, int oflags, int *fd, struct stat *sb)
{
	int err = 0;

	*fd = open(path, oflags | O_NONBLOCK | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, sb) < 0)
		err = -errno;
	else if (S_ISDIR(sb->st_mode))
		err = -EISDIR;
	else if (!S_ISREG(sb->st_mode))
		err = -KS_ENOTTRACE;
	if (err) {
		close(*fd);
		*fd = -1;
	}
	return err;
}

/* LMDB maps its lock file and writes to it through the map: on a full filesystem
 * (tmpfs) the first store there is SIGBUS. So its blocks are allocated first, and
 * a full disk is -ENOSPC from the open instead. LMDB keeps a lock file at least
 * this size as it is (its reader table grows to fill it). */
#define LOCK_FILE_BYTES (64u << 10)

static int lock_reserve(int fd)
{
	int err = posix_fallocate(fd, 0, LOCK_FILE_BYTES);

	/* a filesystem without fallocate (some FUSE) keeps the old behaviour */
	return err == EOPNOTSUPP || err == EINVAL ? 0 : -err;
}

/* Writer of a new file: the lock file is ours alone, never followed through a
 * link. A stale regular one (from a killed writer of a deleted trace) is replaced. */
static int lock_create(const char *lockpath)
{
	struct stat sb;

	for (int tries = 0; tries < 2; tries++) {
		int fd = open(lockpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			      0600);

		if (fd >= 0) {
			int err = lock_reserve(fd);

			close(fd);
			if (err)
				unlink(lockpath);
			return err;
		}
		if (errno != EEXIST)
			return -errno;
		if (lstat(lockpath, &sb) < 0 || !S_ISREG(sb.st_mode))
			return -EEXIST;
		if (unlink(lockpath) < 0 && errno != ENOENT)
			return -errno;
	}
	return -EEXIST;
}

/* Writer of an existing file: share the lock file if there is one (a regular file,
 * not a link), else create it. */
static int lock_open(const char *lockpath)
{
	struct stat sb;
	int err = 0;
	int fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
		      0600);

	if (fd < 0)
		return errno == ELOOP ? -EEXIST : -errno;
	if (fstat(fd, &sb) < 0)
		err = -errno;
	else if (!S_ISREG(sb.st_mode))
		err = -EEXIST;
	else
		err = lock_reserve(fd);
	close(fd);
	return err;
}

/* Reader: use the lock file only when one exists that we may write, so a reader
 * never creates one and opens a read-only file in a read-only directory. */
static int reader_needs_nolock(const char *lockpath)
{
	struct stat sb;
	int nolock = 1;
	int fd = open(lockpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return 1;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
		nolock = 0;
	close(fd);
	return nolock;
}

/* Removes the writer's lock file unless another process still uses it: LMDB
 * holds a shared fcntl lock on its byte 0 while an environment is open. */
static void lock_remove(const char *lockpath)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int fd = open(lockpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return;
	if (fcntl(fd, F_SETLK, &fl) == 0)
		unlink(lockpath);
	close(fd);
}

static int env_create(struct ks_store *st, size_t mapsize)
{
	int rc = mdb_env_create(&st->env);

	if (rc)
		return ks_mdb_err(rc);
	rc = mdb_env_set_maxdbs(st->env, KS_DB_COUNT);
	if (!rc && mapsize)
		rc = mdb_env_set_mapsize(st->env, mapsize);
	return ks_mdb_err(rc);
}

/* LMDB opened the file by its path: make sure it is the file we created or checked. */
static int env_same_file(struct ks_store *st, const struct stat *want, uint64_t *size)
{
	struct stat sb;
	int fd;
	int rc = mdb_env_get_fd(st->env, &fd);

	if (rc)
		return ks_mdb_err(rc);
	if (fstat(fd, &sb) < 0)
		return -errno;
	if (!same_file(&sb, want))
		return -EEXIST;
	if (size)
		*size = (uint64_t)sb.st_size;
	return 0;
}

int ks_dbis_open(struct ks_store *st, MDB_txn *txn, unsigned flags)
{
	for (int i = 0; i < KS_DB_COUNT; i++) {
		int rc = mdb_dbi_open(txn, ks_db_names[i], flags, &st->dbi[i]);

		if (rc == MDB_NOTFOUND)
			return -KS_ENOTTRACE;
		if (rc)
			return ks_mdb_err(rc);
	}
	return 0;
}

/* Reader: finds LMDB's map of the file in /proc/self/maps, as the mapping at file
 * offset 0 that holds a pointer LMDB returned (LMDB does not tell its map address
 * unless MDB_FIXEDMAP). Without /proc the range checks are off. */
static int map_locate(struct ks_store *st, const void *inside)
{
	uintptr_t p = (uintptr_t)inside;
	FILE *f = fopen("/proc/self/maps", "re");
	char *line = NULL;
	size_t cap = 0;
	int err = -KS_ECORRUPT;

	if (!f) {
		st->map = NULL;
		st->map_valid = SIZE_MAX;
		return 0;
	}
	while (err && getline(&line, &cap, f) > 0) {
		unsigned long lo, hi, off;

		if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) != 3)
			continue;
		if (p < lo || p >= hi || off != 0 || hi - lo < st->map_valid)
			continue;
		st->map = (const unsigned char *)lo;
		err = 0;
	}
	free(line);
	fclose(f);
	return err;
}

/* Reader: each named database's record must point inside the file before LMDB
 * follows it. */
static int dbis_check(struct ks_store *st, uint64_t last_pg)
{
	int rc = mdb_dbi_open(st->txn, NULL, 0, &st->main_dbi);

	if (rc)
		return ks_mdb_err(rc);
	for (int i = 0; i < KS_DB_COUNT; i++) {
		MDB_val k = { strlen(ks_db_names[i]), (void *)ks_db_names[i] }, v;
		int err = 0;

		rc = mdb_get(st->txn, st->main_dbi, &k, &v);
		if (rc == MDB_NOTFOUND)
			return -KS_ENOTTRACE;
		if (rc)
			return ks_mdb_err(rc);
		if (i == 0)
			err = map_locate(st, v.mv_data);
		if (!err)
			err = ks_read_check_range(st, &v);
		if (!err)
			err = ks_check_db_record(&v, last_pg);
		if (err)
			return err;
	}
	return 0;
}

static int version_check(struct ks_store *st)
{
	char *v = NULL;
	int err = ks_store_get_meta(st, "format_version", &v);

	if (err == -KS_ENOTFOUND)
		err = -KS_ENOTTRACE;
	else if (!err && strcmp(v, KS_STORE_FORMAT_VERSION) != 0 &&
		 !(strlen(v) == 1 && v[0] >= '0' + KS_STORE_FORMAT_OLDEST &&
		   v[0] < KS_STORE_FORMAT_VERSION[0]))
		err = -KS_EVERSION; /* a newer format: this build cannot read it */
	free(v);
	return err;
}

/* Reader: begin the one read transaction, adopting a map grown by a live writer. */
static int reader_txn_begin(struct ks_store *st)
{
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->txn);

	if (rc == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(st->env, 0);
		if (!rc)
			rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->txn);
	}
	if (rc)
		st->txn = NULL;
	return ks_mdb_err(rc);
}

/* Reader: what LMDB now uses must still fit the file; fixes the bounds every value
 * handed out is checked against. */
static int reader_bounds(struct ks_store *st, const struct stat *want, uint64_t psize,
			 uint64_t *last_pg)
{
	MDB_envinfo info;
	uint64_t size = 0;
	int err = env_same_file(st, want, &size);

	if (err)
		return err;
	err = ks_mdb_err(mdb_env_info(st->env, &info));
	if (err)
		return err;
	if (info.me_last_pgno >= size / psize)
		return -KS_ECORRUPT;
	*last_pg = info.me_last_pgno;
	st->map_valid = size < info.me_mapsize ? size : info.me_mapsize;
	st->map_valid -= st->map_valid % psize;
	st->psize = psize;
	return 0;
}

/* Reader: begins the read transaction and walks the trees of its snapshot before
 * LMDB reads any. A live writer may replace the snapshot's meta page before the
 * walk reads it (two commits in between): then begin again. */
static int reader_snapshot(struct ks_store *st, int fd, const struct stat *want,
			   uint32_t psize, uint64_t *last_pg)
{
	int err;

	for (int tries = 0;; tries++) {
		err = reader_txn_begin(st);
		if (!err)
			err = reader_bounds(st, want, psize, last_pg);
		if (!err)
			err = ks_verify_trees(fd, psize, mdb_txn_id(st->txn));
		if (err != -EAGAIN || tries == 3)
			return err;
		mdb_txn_abort(st->txn);
		st->txn = NULL;
	}
}

static int open_reader(struct ks_store *st)
{
	struct ks_geom geom;
	struct stat sb;
	uint64_t last_pg = 0;
	unsigned flags = MDB_NOSUBDIR | MDB_RDONLY | MDB_NOTLS;
	int fd = -1;
	int err;

	err = open_existing(st->path, O_RDONLY, &fd, &sb);
	if (err)
		goto out;
	err = ks_check_file(fd, (uint64_t)sb.st_size, &geom);
	if (err)
		goto out;
	if (reader_needs_nolock(st->lockpath))
		flags |= MDB_NOLOCK;
	err = env_create(st, 0);
	if (!err)
		err = ks_mdb_err(mdb_env_open(st->env, st->path, flags, 0600));
	if (!err)
		err = reader_snapshot(st, fd, &sb, geom.psize, &last_pg);
	if (!err)
		err = dbis_check(st, last_pg);
	if (!err)
		err = ks_dbis_open(st, st->txn, 0);
	if (!err)
		err = version_check(st);
out:
	if (fd >= 0)
		close(fd);
	return err;
}

/* The writer's LMDB environment on the file checked as sb (the one we created or
 * opened), then its write state; closed again on failure. */
static int env_open_writer(struct ks_store *st, const struct stat *sb, int created)
{
	int err = env_create(st, KS_STORE_INITIAL_MAPSIZE);

	if (!err)
		err = ks_mdb_err(mdb_env_open(st->env, st->path,
					      MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, 0600));
	if (!err)
		err = env_same_file(st, sb, NULL);
	if (!err)
		err = ks_write_init(st, created);
	if (err && st->env) {
		mdb_env_close(st->env);
		st->env = NULL;
	}
	return err;
}

int ks_env_reopen_writer(struct ks_store *st)
{
	MDB_txn *txn;
	int err;

	if (st->env)
		mdb_env_close(st->env);
	st->env = NULL;
	err = env_create(st, st->mapsize);
	err = err ?: ks_mdb_err(mdb_env_open(st->env, st->path,
					     MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, 0600));
	err = err ?: ks_mdb_err(mdb_txn_begin(st->env, NULL, 0, &txn));
	if (err)
		return err;
	err = ks_dbis_open(st, txn, 0);
	if (err) {
		mdb_txn_abort(txn);
		return err;
	}
	return ks_mdb_err(mdb_txn_commit(txn)); /* the handles live on */
}

static int open_writer_new(struct ks_store *st)
{
	struct stat sb;
	int created = 0, locked = 0;
	int err = 0;
	int fd = open(st->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		unlink(st->path);
		goto out;
	}
	created = 1;
	err = lock_create(st->lockpath);
	if (err)
		goto out;
	locked = 1;
	err = env_open_writer(st, &sb, 1);
out:
	if (fd >= 0)
		close(fd);
	if (err && locked)
		lock_remove(st->lockpath);
	/* Never leave a half-made trace behind (but only our own file). */
	if (err && created)
		unlink_if_same(st->path, &sb);
	return err;
}

/* Writer of an existing trace: checked as a reader would, then appended to. */
static int open_writer_existing(struct ks_store *st)
{
	struct ks_geom geom;
	struct stat sb;
	int locked = 0;
	int fd = -1;
	int err;

	err = open_existing(st->path, O_RDWR | O_NOFOLLOW, &fd, &sb);
	if (err)
		goto out;
	err = ks_check_file(fd, (uint64_t)sb.st_size, &geom);
	if (err)
		goto out;
	err = lock_open(st->lockpath);
	if (err)
		goto out;
	locked = 1;
	err = env_open_writer(st, &sb, 0);
out:
	if (fd >= 0)
		close(fd);
	if (err && locked)
		lock_remove(st->lockpath);
	return err;
}

int ks_store_open(const char *path, int flags, struct ks_store **out)
{
	struct ks_store *st;
	int rdonly = !!(flags & KS_STORE_RDONLY);
	int err;

	*out = NULL;
	if (!path || !*path || (flags & ~(KS_STORE_RDONLY | KS_STORE_CREATE)) ||
	    (rdonly && (flags & KS_STORE_CREATE)))
		return -EINVAL;
	st = store_alloc(path, rdonly);
	if (!st)
		return -ENOMEM;
	if (rdonly)
		err = open_reader(st);
	else if (flags & KS_STORE_CREATE)
		err = open_writer_new(st);
	else
		err = open_writer_existing(st);
	if (err) {
		if (st->txn)
			mdb_txn_abort(st->txn);
		if (st->env)
			mdb_env_close(st->env);
		store_free(st);
		return err;
	}
	*out = st;
	return 0;
}

int ks_store_close(struct ks_store *st)
{
	int err = 0;

	if (!st)
		return 0;
	ks_iters_retire(st);
	if (st->rdonly) {
		if (st->txn)
			mdb_txn_abort(st->txn);
	} else {
		int serr;

		err = ks_store_commit(st);
		if (st->txn)
			mdb_txn_abort(st->txn);
		/* what earlier commits wrote reaches the disk even if this one failed */
		serr = ks_mdb_err(mdb_env_sync(st->env, 1));
		if (!err)
			err = serr;
	}
	mdb_env_close(st->env);
	if (!st->rdonly)
		lock_remove(st->lockpath);
	store_free(st);
	return err;
}
