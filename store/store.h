/* The trace store: one LMDB file (MDB_NOSUBDIR) with named databases. Values are
 * opaque to the store; it knows nothing of BPF or of the segment format. */
#ifndef KSIGHT_STORE_H
#define KSIGHT_STORE_H

#include <stddef.h>
#include <stdint.h>

enum ks_db {
	KS_DB_META = 0,  /* key: string, value: bytes (strings are stored without NUL) */
	KS_DB_SEGMENTS,  /* key: kind (u8) + sequence (u64 big-endian) */
	KS_DB_FILES,     /* key: file id (u64 big-endian) -> path */
	KS_DB_DELTAS,    /* key: file id (u64 BE) + sequence (u64 BE) */
	KS_DB_COUNT
	/* Traces of format 1 written before this layout also hold two empty
	 * databases, "procs" and "stats": process events live in proc segments and
	 * the recorder's counters (losses, capture figures) in meta, so nothing ever
	 * wrote them. Readers leave them alone (a named database not listed here is
	 * never opened). */
};

#define KS_STORE_RDONLY 0x1
#define KS_STORE_CREATE 0x2 /* writer: create the file; it must not exist */

/* Defaults of the writer's commit policy. */
#define KS_STORE_COMMIT_INTERVAL_NS (200ull * 1000 * 1000)

struct ks_store;
struct ks_seg_iter;

/* Opens the trace at path. With KS_STORE_RDONLY the file is opened read-only (also
 * when the file or its directory is not writable; no lock file is ever created),
 * its LMDB meta pages are checked by hand before LMDB maps it, its B-trees are
 * walked page by page before LMDB reads them, and the format version stored in
 * meta is checked. With KS_STORE_CREATE a new file is created mode 0600 without
 * following symlinks (nor at PATH-lock). With neither flag an existing trace is
 * opened for appending (not through a symlink: -ELOOP). Do not open the same file
 * twice in one process (an LMDB rule). Returns 0 or -EINVAL (bad flags or path),
 * -ENOENT, -EEXIST, -EACCES, -ELOOP, -EISDIR, -ENOMEM, -KS_ENOTTRACE, -KS_EVERSION,
 * -KS_ECORRUPT, -KS_ESTORE, -EAGAIN (a reader, when a live writer replaced its
 * snapshot four times before it could be walked); *out is NULL on error. */
int ks_store_open(const char *path, int flags, struct ks_store **out);

/* Commits what is pending (writer), syncs, removes the writer's PATH-lock (when no
 * other process uses it) and closes. Iterators still open fail with -EBADF from
 * then on (free them still). Returns 0 or the commit's or sync's error; the handle
 * is freed in every case. */
int ks_store_close(struct ks_store *st);

/* Writer: puts a key/value in db inside the open write transaction (started on
 * demand). A copy of each put is kept until its commit, so the map grows (doubles)
 * on MDB_MAP_FULL with nothing lost. Keys are 1..511 bytes, values up to 4 GiB.
 * Returns 0, -EINVAL, -EBADF (a reader), -ENOMEM, -EFBIG (map past 4 TiB),
 * -KS_ESTORE; a failed put is not part of the transaction. */
int ks_store_put(struct ks_store *st, enum ks_db db, const void *key, size_t klen,
		 const void *val, size_t vlen);
/* Writer: puts a meta string (stored without its NUL). As ks_store_put. */
int ks_store_put_meta(struct ks_store *st, const char *key, const char *val);
/* Writer: appends a segment of kind (1..255) with the next sequence number of that
 * kind (after a reopen: the last stored one + 1). As ks_store_put, and -EINVAL for
 * a bad kind. */
int ks_store_put_segment(struct ks_store *st, unsigned kind, const void *buf, size_t len);
/* Writer: commits the open transaction, growing the map if the commit needs it.
 * On failure the puts stay pending and the next put or commit retries them.
 * Returns 0, -EBADF, -EFBIG, a negative errno (I/O), -KS_ESTORE. */
int ks_store_commit(struct ks_store *st);
/* Writer: commits when the last commit is older than KS_STORE_COMMIT_INTERVAL_NS
 * (CLOCK_MONOTONIC now_ns). Returns 0 or ks_store_commit's errors. */
int ks_store_maybe_commit(struct ks_store *st, uint64_t now_ns);

/* Gets a value. Reader: *val points into the map, valid until close (readers keep
 * one read transaction). A writer reads through its write transaction, its own
 * puts included: *val is valid until its next put or commit. Returns 0, -EINVAL,
 * -KS_ENOTFOUND, -KS_ECORRUPT (value outside the file), -KS_ESTORE. */
int ks_store_get(struct ks_store *st, enum ks_db db, const void *key, size_t klen,
		 const void **val, size_t *vlen);
/* Gets a meta string as a malloc'd NUL-terminated copy (*val NULL on error). As
 * ks_store_get, and -ENOMEM. */
int ks_store_get_meta(struct ks_store *st, const char *key, char **val);

/* Reader: iterates the segments of kind in sequence (time) order; kind 0 = all
 * kinds, by kind then sequence. Returns 0, -EINVAL (kind > 255), -EBADF (a writer:
 * its cursors die at each commit), -ENOMEM, -KS_ESTORE. */
int ks_store_iter_segments(struct ks_store *st, unsigned kind, struct ks_seg_iter **out);
/* Returns 1 and the next segment, 0 at the end, or a negative error (-KS_ECORRUPT,
 * -EBADF once the store is closed), which repeats on later calls. *buf points into
 * the map, valid until close. Any output pointer may be NULL. */
int ks_seg_iter_next(struct ks_seg_iter *it, unsigned *kind, uint64_t *seq,
		     const void **buf, size_t *len);
void ks_seg_iter_free(struct ks_seg_iter *it);

/* Generic cursor over any database in key order, for dump/info. Readers only; same
 * return conventions as the segment iterator. */
struct ks_db_iter;
int ks_store_iter(struct ks_store *st, enum ks_db db, struct ks_db_iter **out);
int ks_db_iter_next(struct ks_db_iter *it, const void **key, size_t *klen,
		    const void **val, size_t *vlen);
void ks_db_iter_free(struct ks_db_iter *it);

struct ks_store_info {
	uint64_t file_size;   /* bytes on disk */
	uint64_t map_size;
	uint64_t entries[KS_DB_COUNT];
	uint64_t value_bytes[KS_DB_COUNT]; /* sum of value sizes */
};
/* Fills info (readers and writers; value_bytes walks every database). Returns 0,
 * -EINVAL, -KS_ECORRUPT, -KS_ESTORE. */
int ks_store_stat(struct ks_store *st, struct ks_store_info *info);

#endif
