/* Checks a trace file's LMDB meta pages by hand before LMDB maps it, so that a
 * damaged or foreign file gives an error instead of SIGBUS; and maps LMDB's codes. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "format/kserr.h"
#include "store/lmdb_disk.h"
#include "store/store_priv.h"

/* MDB_db flags LMDB itself keeps in the free database's record (env flags). */
#define FREE_FLAGS_OK (MDB_INTEGERKEY | MDB_FIXEDMAP | MDB_NOSUBDIR)

struct meta {
	uint64_t pgno;
	uint16_t flags;
	uint32_t magic, version, psize;
	uint16_t free_flags, main_flags, free_depth, main_depth;
	uint64_t mapsize, free_root, main_root, last_pg, txnid;
	unsigned char main_db[DB_SIZE];
};

const char *const ks_db_names[KS_DB_COUNT] = {
	[KS_DB_META] = "meta",
	[KS_DB_SEGMENTS] = "segments",
	[KS_DB_FILES] = "files",
	[KS_DB_DELTAS] = "deltas",
};

int ks_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -KS_ENOTFOUND;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_CURSOR_FULL:
	case MDB_INCOMPATIBLE:
		return -KS_ECORRUPT;
	case MDB_INVALID:
		return -KS_ENOTTRACE;
	case MDB_VERSION_MISMATCH:
		return -KS_EVERSION;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	default:
		return rc > 0 ? -rc : -KS_ESTORE;
	}
}

/* Reads up to len bytes at off. Returns the count read (short at end of file) or
 * -errno. */
static ssize_t read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void meta_parse(const unsigned char *b, struct meta *m)
{
	m->pgno = ks_load64(b + PG_PGNO);
	m->flags = ks_load16(b + PG_FLAGS);
	m->magic = ks_load32(b + OFF_MAGIC);
	m->version = ks_load32(b + OFF_VERSION);
	m->mapsize = ks_load64(b + OFF_MAPSIZE);
	m->psize = ks_load32(b + OFF_DB_FREE + DB_PAD);
	m->free_flags = ks_load16(b + OFF_DB_FREE + DB_FLAGS);
	m->free_depth = ks_load16(b + OFF_DB_FREE + DB_DEPTH);
	m->free_root = ks_load64(b + OFF_DB_FREE + DB_ROOT);
	m->main_flags = ks_load16(b + OFF_DB_MAIN + DB_FLAGS);
	m->main_depth = ks_load16(b + OFF_DB_MAIN + DB_DEPTH);
	m->main_root = ks_load64(b + OFF_DB_MAIN + DB_ROOT);
	m->last_pg = ks_load64(b + OFF_LAST_PG);
	m->txnid = ks_load64(b + OFF_TXNID);
	memcpy(m->main_db, b + OFF_DB_MAIN, DB_SIZE);
}

static int psize_ok(uint32_t ps)
{
	return ps >= MIN_PSIZE && ps <= MAX_PSIZE && (ps & (ps - 1)) == 0;
}

static int root_ok(uint64_t root, uint16_t depth, uint64_t last_pg)
{
	if (root == P_INVALID)
		return depth == 0;
	return root >= 2 && root <= last_pg && depth >= 1 && depth <= CURSOR_STACK;
}

/* Does a meta page of page 1 stand at some plausible page size? Tells a trace whose
 * first page is damaged from a file that never was one. */
static int page1_has_magic(int fd, uint64_t size)
{
	unsigned char b[META_END];

	for (uint32_t ps = MIN_PSIZE; ps <= MAX_PSIZE; ps <<= 1) {
		if (size < (uint64_t)ps + META_END)
			break;
		if (read_at(fd, b, sizeof(b), ps) != (ssize_t)sizeof(b))
			break;
		if (ks_load32(b + OFF_MAGIC) == MDB_MAGIC_WORD && ks_load64(b + PG_PGNO) == 1)
			return 1;
	}
	return 0;
}

/* One meta page against the file: every page it names must be inside the file. */
static int meta_check(const struct meta *m, uint64_t idx, uint32_t psize, uint64_t size)
{
	if (m->pgno != idx || m->flags != P_META || m->magic != MDB_MAGIC_WORD)
		return -KS_ECORRUPT;
	if (m->psize != psize)
		return -KS_ECORRUPT;
	if (m->last_pg < 1 || m->last_pg >= size / psize)
		return -KS_ECORRUPT;
	if (!root_ok(m->free_root, m->free_depth, m->last_pg) ||
	    !root_ok(m->main_root, m->main_depth, m->last_pg))
		return -KS_ECORRUPT;
	if (m->main_flags != 0 || (m->free_flags & ~FREE_FLAGS_OK))
		return -KS_ECORRUPT;
	if (m->mapsize > KS_STORE_MAX_MAPSIZE)
		return -KS_ECORRUPT;
	return 0;
}

/* Reads meta page idx at off. Returns 0, -KS_ECORRUPT when short, or -errno. */
static int meta_read(int fd, uint64_t off, struct meta *m)
{
	unsigned char b[META_END];
	ssize_t n = read_at(fd, b, sizeof(b), off);

	if (n < 0)
		return (int)n;
	if (n != (ssize_t)sizeof(b))
		return -KS_ECORRUPT;
	meta_parse(b, m);
	return 0;
}

static int versions_check(const struct meta *m0, const struct meta *m1)
{
	if (m0->version == MDB_DATA_VERSION && m1->version == MDB_DATA_VERSION)
		return 0;
	/* Both agree on another version: a real LMDB file of another format. */
	if (m0->version == m1->version && m1->magic == MDB_MAGIC_WORD)
		return -KS_EVERSION;
	return -KS_ECORRUPT;
}

int ks_check_file(int fd, uint64_t size, struct ks_geom *geom)
{
	unsigned char b[META_END];
	struct meta m[2] = { { 0 } };
	ssize_t n;
	int err;

	n = read_at(fd, b, sizeof(b), 0);
	if (n < 0)
		return (int)n;
	if (n < OFF_MAGIC + 4 || ks_load32(b + OFF_MAGIC) != MDB_MAGIC_WORD)
		return page1_has_magic(fd, size) ? -KS_ECORRUPT : -KS_ENOTTRACE;
	if (n != (ssize_t)sizeof(b))
		return -KS_ECORRUPT;
	meta_parse(b, &m[0]);
	if (!psize_ok(m[0].psize) || size < 2ull * m[0].psize)
		return -KS_ECORRUPT;
	err = meta_read(fd, m[0].psize, &m[1]);
	if (err)
		return err;
	err = versions_check(&m[0], &m[1]);
	if (err)
		return err;
	/* LMDB may use either meta (the newer, or the one its lock file names). */
	for (int i = 0; i < 2; i++) {
		err = meta_check(&m[i], (uint64_t)i, m[0].psize, size);
		if (err)
			return err;
	}
	/* Pick as LMDB does: the higher txnid, page 0 on a tie. */
	int cur = m[0].txnid < m[1].txnid;

	geom->psize = m[0].psize;
	geom->last_pg = m[cur].last_pg;
	geom->txnid = m[cur].txnid;
	return 0;
}

int ks_check_meta(int fd, uint64_t size, uint32_t psize, unsigned idx, struct ks_meta *out)
{
	struct meta m = { 0 };
	int err = meta_read(fd, (uint64_t)idx * psize, &m);

	if (!err && m.version != MDB_DATA_VERSION)
		err = -KS_ECORRUPT;
	if (!err)
		err = meta_check(&m, idx, psize, size);
	if (err)
		return err;
	out->txnid = m.txnid;
	out->last_pg = m.last_pg;
	memcpy(out->main_db, m.main_db, DB_SIZE);
	return 0;
}

int ks_check_db_record(const MDB_val *rec, uint64_t last_pg)
{
	const unsigned char *b = rec->mv_data;

	if (rec->mv_size != DB_SIZE)
		return -KS_ECORRUPT;
	/* Our databases are all plain (flags 0). */
	if (ks_load16(b + DB_FLAGS) != 0)
		return -KS_ECORRUPT;
	if (!root_ok(ks_load64(b + DB_ROOT), ks_load16(b + DB_DEPTH), last_pg))
		return -KS_ECORRUPT;
	return 0;
}
