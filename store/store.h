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
/* Writer: as ks_store_put_segment, and notes that the segment holds events events
 * in the manifest (a kind's sum is known only while every segment of it came with
 * its count). */
int ks_store_put_segment_events(struct ks_store *st, unsigned kind, const void *buf,
				size_t len, uint64_t events);
/* Writer: drops every put since the last commit (the open transaction and the
 * copies kept for it) and the manifest's record of them, as if they had never been
 * made: for a writer that cannot commit (disk full) and must bound what it keeps.
 * events (256 entries, may be NULL) gets the events of the dropped segments per
 * kind, as ks_store_put_segment_events counted them; *puts (may be NULL) the other
 * puts dropped. Returns 0, -EINVAL, -EBADF. */
int ks_store_discard(struct ks_store *st, uint64_t *events, uint64_t *puts);
/* Writer, retention: deletes key from db inside the open write transaction (as a
 * put, kept until its commit), and counts it dropped by policy in the manifest:
 * not missing, not damage. Returns 0, -KS_ENOTFOUND, or as ks_store_put. */
int ks_store_drop(struct ks_store *st, enum ks_db db, const void *key, size_t klen);
/* Writer, retention: drops the segments of kind from the first kept one up to
 * (not including) sequence upto; events is what they held (added to the
 * manifest's dropped events). Returns as ks_store_drop, -EINVAL. */
int ks_store_drop_segments(struct ks_store *st, unsigned kind, uint64_t upto, uint64_t events);
/* Writer, retention: caps the map (the file) at bytes (rounded down to pages;
 * at least 1 MiB); when a commit needs more, fn (set here, may be NULL) is
 * called to drop old data with ks_store_drop* and ks_store_commit, while the
 * transaction that did not fit waits aside; it is then retried. fn returns 0
 * when it made room. Returns 0, -EINVAL, -KS_ESTORE. */
int ks_store_set_cap(struct ks_store *st, uint64_t bytes, int (*fn)(void *ctx), void *ctx);
/* Writer, capped map: on (no transaction open) lets the next transactions use
 * the share of the map kept for the transactions that make room (drops); off
 * gives it back as far as the pages in use allow. Returns 0, -EBADF, -EBUSY,
 * -KS_ESTORE. */
int ks_store_use_reserve(struct ks_store *st, int on);
/* Writer: the bytes of the pages the committed trace uses (the file may be
 * larger: freed pages are reused, never given back). Returns 0 or -KS_ESTORE. */
int ks_store_used_bytes(struct ks_store *st, uint64_t *bytes);
/* Writer: the bytes of pages the puts made so far take, each estimated from its
 * key and value as LMDB lays them out (a large value in its own run of pages, a
 * small one in a leaf that splits leave half full). A running sum that drops and
 * discards never lower: what one span of puts took is the difference of two
 * readings. Bounded recording sizes its epochs with it. */
uint64_t ks_store_put_bytes(const struct ks_store *st);
/* Writer: the same for the puts that found the very value under their key and
 * wrote nothing (not in ks_store_put_bytes): a state dir's content put again by
 * a checkpoint, stored once but held by every epoch that refers to it. */
uint64_t ks_store_same_bytes(const struct ks_store *st);
/* Writer: calls fn for every entry of db as the open write transaction sees it,
 * in key order (fn must not put or drop; key and val are valid during the call);
 * a non-zero return of fn stops the walk and is returned. Returns 0, fn's value,
 * -EBADF, -KS_ESTORE. */
int ks_store_walk(struct ks_store *st, enum ks_db db,
		  int (*fn)(void *ctx, const void *key, size_t klen, const void *val,
			    size_t vlen),
		  void *ctx);
/* Writer: commits, then writes a compacted copy of the committed trace to the
 * new file path (mode 0600, not through a symlink, -EEXIST if it exists).
 * Returns 0, -EEXIST, a negative errno, -KS_ESTORE. */
int ks_store_copy(struct ks_store *st, const char *path);

/* Writer: commits and closes as ks_store_close does; when at least min_free_pct
 * percent of the file's pages are on LMDB's free list (a short recording's
 * commits leave a few) and the file is at most max_bytes (the copy costs a
 * second write of it), the file is first copied compacted beside it
 * (PATH.compact, synced, the same owner and mode) and then replaces it, so it
 * never holds less than a whole trace. Returns 0 or ks_store_close's error (a
 * copy that fails leaves the file as it was). */
int ks_store_close_compact(struct ks_store *st, unsigned min_free_pct, uint64_t max_bytes);

/* Writer: commits and, when at least min_free_pct percent of the file's pages
 * are on LMDB's free list (which a capped map fills with pages it then does not
 * reuse for new values), replaces the file by a compacted copy of itself
 * (PATH.compact until renamed) and goes on writing in it. Returns 1 when it did,
 * 0 when there was nothing to gain, or a negative error (after the rename, the
 * store is then unusable). */
int ks_store_compact_live(struct ks_store *st, unsigned min_free_pct);

/* Writer: bytes of puts waiting for their commit. */
size_t ks_store_pending_bytes(const struct ks_store *st);
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

/* The manifest: what the writer committed, written in the same transaction as the
 * data it describes (so a killed writer's last commit is described too), kept in
 * meta under the reserved key "manifest" (ks_store_put refuses it). Per segment
 * kind the count of segments (sequences 0..count-1, dense) and of their events;
 * per database its entries; and a digest of every entry (meta: but the manifest),
 * so that a missing, extra or altered piece is found. */
#define KS_EVENTS_UNKNOWN UINT64_MAX
struct ks_manifest {
	uint64_t segments[256];
	uint64_t events[256];         /* KS_EVENTS_UNKNOWN when not known */
	uint64_t entries[KS_DB_COUNT]; /* segments: all kinds; meta: but the manifest */
	/* Retention (ks_store_drop*): a kind's kept sequences are first..first +
	 * segments - 1; the events of the segments dropped before them; the entries
	 * of each database dropped (segments: all kinds). Drops are not damage. */
	uint64_t first[256];
	uint64_t dropped_events[256];
	uint64_t dropped[KS_DB_COUNT];
};

enum ks_flaw_type {
	KS_FLAW_NO_MANIFEST = 1, /* none: an older trace, or the manifest was removed */
	KS_FLAW_MANIFEST,        /* the manifest itself is damaged */
	KS_FLAW_SEG_MISSING,     /* segments kind #seq..#seq_end are missing */
	KS_FLAW_SEG_EXTRA,       /* segment kind #seq is not in the manifest */
	KS_FLAW_SEG_ALTERED,     /* kind: as many segments, other contents */
	KS_FLAW_SEG_KEY,         /* a segment key of a bad shape */
	KS_FLAW_DB_COUNT,        /* db holds found entries, the manifest want */
	KS_FLAW_DB_ALTERED,      /* db: as many entries, other contents */
};

struct ks_flaw {
	enum ks_flaw_type type;
	enum ks_db db;
	unsigned kind;
	uint64_t seq, seq_end;
	uint64_t want, found;
};

#define KS_CHECK_FLAWS 16
struct ks_store_check {
	int have_manifest;
	struct ks_manifest manifest; /* when have_manifest */
	size_t nflaws;               /* every flaw found; the first KS_CHECK_FLAWS below */
	struct ks_flaw flaws[KS_CHECK_FLAWS];
};

/* Writer: the manifest as it will be committed (the puts waiting included).
 * Returns 0, -EINVAL, -EBADF. */
int ks_store_manifest(struct ks_store *st, struct ks_manifest *m);

/* Reader: checks the trace against its manifest, reading every entry of every
 * database (segments, deltas and files included): out lists what is missing,
 * extra or altered (nflaws 0: the trace is whole). Returns 0 (flaws are not an
 * error), -EINVAL, -EBADF (a writer), -ENOMEM, -KS_ECORRUPT, -KS_ESTORE. */
int ks_store_check(struct ks_store *st, struct ks_store_check *out);

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
