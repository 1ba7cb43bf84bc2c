/* Private to store/: the handle shared by open/close (store.c), the writer
 * (write.c), the reader (read.c) and the file checks done before LMDB (check.c). */
#ifndef KSIGHT_STORE_PRIV_H
#define KSIGHT_STORE_PRIV_H

#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "store/store.h"

#define KS_STORE_FORMAT_VERSION "2" /* what a writer stores (and appends to) */
#define KS_STORE_FORMAT_OLDEST 1     /* readers read versions 1..2 */
#define KS_STORE_INITIAL_MAPSIZE (64ull << 20)
#define KS_STORE_MAX_MAPSIZE (1ull << 42) /* 4 TiB: a map bigger than this is a bug */
#define KS_SEG_KEY_LEN 9                  /* kind (1 byte) + sequence (8 bytes BE) */
#define KS_SEG_KINDS 256

/* The puts of the open write transaction, copied, so that the transaction can be
 * rebuilt after LMDB made us abort it (MDB_MAP_FULL). */
struct ks_pending {
	unsigned char *buf;
	size_t len, cap;
	size_t count;
};

/* The manifest as the writer keeps it: what is committed, and that plus the puts
 * of the open transaction. */
struct ks_mf_sum {
	uint64_t entries;
	uint64_t d[2]; /* sum of each entry's 128-bit hash */
};

struct ks_mf {
	struct ks_mf_sum db[KS_DB_COUNT]; /* segments: all kinds */
	struct ks_mf_sum seg[KS_SEG_KINDS];
	uint64_t events[KS_SEG_KINDS];
	/* retention: the kept sequences of a kind are first..first+entries-1; what
	 * was dropped before them, and the entries of each database dropped */
	uint64_t first[KS_SEG_KINDS];
	uint64_t dropped_events[KS_SEG_KINDS];
	uint64_t dropped[KS_DB_COUNT];
};

#define KS_MANIFEST_KEY "manifest"

/* What check.c read from the two LMDB meta pages. */
struct ks_geom {
	uint32_t psize;
	uint64_t last_pg; /* of the newer meta */
	uint64_t txnid;
};

/* One LMDB meta page, read and checked by check.c for verify.c. */
struct ks_meta {
	uint64_t txnid;
	uint64_t last_pg;
	unsigned char main_db[48]; /* the main database's MDB_db record */
};

/* An open iterator, linked into its store so close can retire it safely. */
struct ks_iter_link {
	struct ks_iter_link *prev, *next;
	struct ks_store *st;
	MDB_cursor *cur;
};

struct ks_store {
	MDB_env *env;
	MDB_txn *txn;          /* writer: open write txn or NULL; reader: the read txn */
	MDB_dbi dbi[KS_DB_COUNT];
	MDB_dbi main_dbi;
	int rdonly;
	char *path;
	char *lockpath;
	/* writer */
	struct ks_pending pending;
	uint64_t next_seq[KS_SEG_KINDS];
	uint64_t committed_seq[KS_SEG_KINDS];
	struct ks_mf mf, mf_committed;
	uint64_t last_commit_ns;
	size_t mapsize;
	size_t max_map;        /* 0: the map grows; else its cap (retention) */
	int (*full_fn)(void *ctx);
	void *full_ctx;
	int in_full;
	uint64_t put_bytes;    /* ks_store_put_bytes */
	uint64_t same_bytes;   /* ks_store_same_bytes */
	size_t psize;
	/* reader: values handed out must lie inside [map, map + map_valid) */
	const unsigned char *map;
	size_t map_valid;
	struct ks_iter_link iters; /* list head */
};

extern const char *const ks_db_names[KS_DB_COUNT];

/* LMDB and system results to our convention, once, here. */
int ks_mdb_err(int rc);

/* check.c: validates the two meta pages of the file open at fd (size bytes) before
 * LMDB maps it. Returns 0, -KS_ENOTTRACE, -KS_ECORRUPT, -KS_EVERSION or -errno. */
int ks_check_file(int fd, uint64_t size, struct ks_geom *geom);
/* check.c: validates a named database's record read from the main database. */
int ks_check_db_record(const MDB_val *rec, uint64_t last_pg);
/* check.c: reads meta page idx (0 or 1) of the file at fd (size bytes, pages of
 * psize bytes) and checks it as ks_check_file does. Returns 0, -KS_ECORRUPT or
 * -errno. */
int ks_check_meta(int fd, uint64_t size, uint32_t psize, unsigned idx, struct ks_meta *m);

/* verify.c: walks every B-tree of the snapshot txnid (the one a reader's
 * transaction uses) page by page before LMDB follows any of them: the main
 * database's and each named database's, with their overflow runs (the free-page
 * database is not walked: LMDB reads it only to allocate, in write transactions).
 * Returns 0, -KS_ECORRUPT, -EAGAIN (a writer has since replaced that snapshot's
 * meta page: begin again), -ENOMEM or -errno. */
int ks_verify_trees(int fd, uint32_t psize, uint64_t txnid);

/* store.c: opens every named database in txn. */
int ks_dbis_open(struct ks_store *st, MDB_txn *txn, unsigned flags);

/* write.c: opens (create: makes) the databases and the version, recovers the
 * per-kind sequences. */
int ks_write_init(struct ks_store *st, int create);
void ks_pending_free(struct ks_pending *p);
/* write.c: opens the write txn if none is, replaying the pending puts. */
int ks_write_txn(struct ks_store *st);

/* manifest.c: the hash of one entry; the manifest added to or taken from. */
void ks_mf_hash(const void *key, size_t klen, const void *val, size_t vlen, uint64_t h[2]);
void ks_mf_add(struct ks_mf *mf, enum ks_db db, const void *key, size_t klen,
	       const uint64_t h[2], int sign);
/* manifest.c: the manifest's value in meta (malloc'd), and back. */
int ks_mf_encode(const struct ks_mf *mf, unsigned char **buf, size_t *len);
int ks_mf_decode(const void *buf, size_t len, struct ks_mf *mf);
/* manifest.c: a writer reopening a trace: its manifest, or one made from what it
 * holds when it has none (an older trace). */
int ks_mf_load(struct ks_store *st, MDB_txn *txn);
/* manifest.c: the public form. */
void ks_mf_public(const struct ks_mf *mf, struct ks_manifest *m);

/* retain.c: a full capped map: fn drops old data in its own commit while the
 * open transaction's puts wait aside; they are replayed after. Returns 0 (room
 * was made), -EFBIG (none could be). */
int ks_full_drop(struct ks_store *st);
/* retain.c: the page bytes one put of klen + vlen takes (ks_store_put_bytes). */
uint64_t ks_put_cost(const struct ks_store *st, size_t klen, size_t vlen);

/* read.c */
int ks_read_check_range(const struct ks_store *st, const MDB_val *v);
void ks_iters_retire(struct ks_store *st);

/* Writer, between transactions: LMDB's environment on st->path again (after the
 * file was replaced by a compacted copy of itself), with the same flags and map
 * size and the database handles reopened. Returns 0 or a negative error (the
 * store is then unusable). */
int ks_env_reopen_writer(struct ks_store *st);

#endif
