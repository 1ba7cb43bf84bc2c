/* Walks a trace's B-trees page by page before a reader lets LMDB follow them. LMDB
 * trusts every page it reads (a damaged node offset or size sends it outside its
 * map, a damaged branch makes it assert), so each page is first proven to be where
 * and what LMDB wrote: damage then gives -KS_ECORRUPT, never a crash. The cost is
 * a look at each tree page and at the first page of each overflow run, never at
 * the values on overflow pages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/kserr.h"
#include "store/lmdb_disk.h"
#include "store/store_priv.h"
#include "util/grow.h"

/* A key in a page being walked, or a bound on keys (p NULL: none). */
struct key {
	const unsigned char *p;
	size_t len;
};

/* What one database's walk found, to compare with its record. */
struct tree_count {
	uint64_t branch, leaf, overflow, entries;
};

struct walk {
	int fd;
	uint32_t psize;
	uint64_t last_pg;
	const unsigned char *map; /* the file's pages [0, map_pages) */
	uint64_t map_pages;
	uint64_t *used;         /* a bit per page met, in a tree or an overflow run */
	uint32_t *node_gen;     /* per 2-byte slot of the page: a node starts here when */
	uint16_t *node_len;     /* equal to gen, and is this long */
	uint32_t gen;
	struct tree_count found;
	int in_main;            /* walking the main database, which names the others */
	unsigned char (*subs)[DB_SIZE];
	size_t nsubs, subs_cap;
};

/* LMDB's default order (mdb_cmp_memn): bytes, then the shorter first. */
static int key_cmp(const struct key *a, const struct key *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->p, b->p, n) : 0;

	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static const unsigned char *node_at(const unsigned char *pg, unsigned i)
{
	return pg + ks_load16(pg + PAGEHDRSZ + 2 * i);
}

static struct key node_key(const unsigned char *nd)
{
	return (struct key){ nd + NODESIZE, ks_load16(nd + ND_KSIZE) };
}

static uint32_t node_dsize(const unsigned char *nd)
{
	return ks_load16(nd + ND_LO) | (uint32_t)ks_load16(nd + ND_HI) << 16;
}

static uint64_t node_child(const unsigned char *nd)
{
	return node_dsize(nd) | (uint64_t)ks_load16(nd + ND_FLAGS) << 32;
}

static const unsigned char *node_data(const unsigned char *nd)
{
	return nd + NODESIZE + ks_load16(nd + ND_KSIZE);
}

/* Marks pages [pg, pg + n) met. Each belongs to one tree of a snapshot, once: a
 * page met twice is a cycle, a shared subtree or an overlapping run. */
static int pages_claim(struct walk *w, uint64_t pg, uint64_t n)
{
	if (pg < 2 || pg > w->last_pg || n == 0 || n > w->last_pg - pg + 1)
		return -KS_ECORRUPT;
	while (n) {
		unsigned bit = (unsigned)(pg % 64);
		uint64_t take = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = (take == 64 ? ~0ull : (1ull << take) - 1) << bit;

		if (w->used[pg / 64] & mask)
			return -KS_ECORRUPT;
		w->used[pg / 64] |= mask;
		pg += take;
		n -= take;
	}
	return 0;
}

/* Tree page pgno: a page not met yet, that knows its number. */
static int page_get(struct walk *w, uint64_t pgno, const unsigned char **pg)
{
	int err = pages_claim(w, pgno, 1);

	if (err)
		return err;
	*pg = w->map + pgno * w->psize;
	return ks_load64(*pg + PG_PGNO) == pgno ? 0 : -KS_ECORRUPT;
}

/* The header and nodes as LMDB lays them out: the node offsets after the header,
 * every node inside the page, and the nodes tiling [upper, psize) with no gap or
 * overlap (LMDB packs them as it adds and deletes). A branch has two nodes or
 * more (LMDB asserts it), a leaf one or more. Returns the node count in *nkeys. */
static int page_layout(struct walk *w, const unsigned char *pg, int leaf, unsigned *nkeys)
{
	unsigned lower = ks_load16(pg + PG_LOWER), upper = ks_load16(pg + PG_UPPER);
	unsigned n, pos, seen;

	if (lower < PAGEHDRSZ || lower % 2 || upper % 2 || lower > upper || upper > w->psize)
		return -KS_ECORRUPT;
	n = (lower - PAGEHDRSZ) / 2;
	if (n < (leaf ? 1u : 2u))
		return -KS_ECORRUPT;
	if (++w->gen == 0) {
		memset(w->node_gen, 0, w->psize / 2 * sizeof(*w->node_gen));
		w->gen = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned off = ks_load16(pg + PAGEHDRSZ + 2 * i);
		const unsigned char *nd = pg + off;
		uint64_t size;

		if (off < upper || off % 2 || off > w->psize - NODESIZE)
			return -KS_ECORRUPT;
		size = NODESIZE + ks_load16(nd + ND_KSIZE);
		if (leaf)
			size += ks_load16(nd + ND_FLAGS) & F_BIGDATA ? sizeof(uint64_t) : node_dsize(nd);
		size += size % 2;
		if (size > w->psize - off || w->node_gen[off / 2] == w->gen)
			return -KS_ECORRUPT;
		w->node_gen[off / 2] = w->gen;
		w->node_len[off / 2] = (uint16_t)size;
	}
	for (pos = upper, seen = 0; pos < w->psize; pos += w->node_len[pos / 2], seen++)
		if (w->node_gen[pos / 2] != w->gen)
			return -KS_ECORRUPT;
	if (seen != n)
		return -KS_ECORRUPT;
	*nkeys = n;
	return 0;
}

/* Keys of 1..511 bytes in strictly increasing order, within the [lo, hi) that the
 * parent's separators allow. A branch's node 0 has no key LMDB reads. */
static int page_keys(const unsigned char *pg, unsigned n, int leaf, const struct key *lo,
		     const struct key *hi)
{
	unsigned first = leaf ? 0 : 1;
	struct key prev = { NULL, 0 };

	for (unsigned i = first; i < n; i++) {
		struct key k = node_key(node_at(pg, i));

		if (k.len == 0 || k.len > MAX_KEY)
			return -KS_ECORRUPT;
		if (i == first ? lo->p && key_cmp(lo, &k) > 0 : key_cmp(&prev, &k) >= 0)
			return -KS_ECORRUPT;
		prev = k;
	}
	if (hi->p && key_cmp(&prev, hi) >= 0)
		return -KS_ECORRUPT;
	return 0;
}

/* A value on overflow pages: the run's first page names itself and the run's
 * length, which holds the value, lies in the file and apart from every other page
 * met. The value itself is not read. */
static int overflow_check(struct walk *w, const unsigned char *nd)
{
	unsigned char hdr[PAGEHDRSZ];
	uint64_t pgno = ks_load64(node_data(nd)), pages, need;
	ssize_t n;

	if (pgno < 2 || pgno > w->last_pg)
		return -KS_ECORRUPT;
	/* runs lie far apart: a read costs less here than a fault in the map */
	do
		n = pread(w->fd, hdr, sizeof(hdr), (off_t)(pgno * w->psize));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(hdr) || ks_load64(hdr + PG_PGNO) != pgno ||
	    ks_load16(hdr + PG_FLAGS) != P_OVERFLOW)
		return -KS_ECORRUPT;
	pages = ks_load32(hdr + PG_PAGES);
	need = (PAGEHDRSZ - 1 + (uint64_t)node_dsize(nd)) / w->psize + 1; /* OVPAGES */
	if (pages < need) /* more is fine: LMDB reuses a longer run in place */
		return -KS_ECORRUPT;
	w->found.overflow += pages;
	return pages_claim(w, pgno, pages);
}

static int our_db_name(const struct key *k)
{
	for (int i = 0; i < KS_DB_COUNT; i++)
		if (strlen(ks_db_names[i]) == k->len && !memcmp(ks_db_names[i], k->p, k->len))
			return 1;
	return 0;
}

/* A named database's record in the main database, walked after it. A database
 * with flags (DUPSORT...) cannot be ours; one that is not ours either is left
 * alone: we never open it, so LMDB never reads it. */
static int sub_add(struct walk *w, const unsigned char *nd)
{
	const unsigned char *rec = node_data(nd);
	struct key name = node_key(nd);

	if (node_dsize(nd) != DB_SIZE)
		return -KS_ECORRUPT;
	if (ks_load16(rec + DB_FLAGS) != 0)
		return our_db_name(&name) ? -KS_ECORRUPT : 0;
	if (KS_GROW(&w->subs, &w->subs_cap, w->nsubs + 1))
		return -ENOMEM;
	memcpy(w->subs[w->nsubs++], rec, DB_SIZE);
	return 0;
}

/* Leaf values: in the page, on an overflow run, or (main database) a named
 * database's record. Our databases are plain: no duplicates (F_DUPDATA). */
static int leaf_nodes(struct walk *w, const unsigned char *pg, unsigned n)
{
	int err = 0;

	w->found.entries += n;
	for (unsigned i = 0; i < n && !err; i++) {
		const unsigned char *nd = node_at(pg, i);
		uint16_t flags = ks_load16(nd + ND_FLAGS);

		if (flags == F_BIGDATA)
			err = overflow_check(w, nd);
		else if (flags == F_SUBDATA && w->in_main)
			err = sub_add(w, nd);
		else if (flags != 0)
			err = -KS_ECORRUPT;
	}
	return err;
}

/* The subtree at pgno, at level (the root's is 1) of a tree of depth levels, its
 * keys within [lo, hi). */
static int tree_walk(struct walk *w, uint64_t pgno, unsigned level, unsigned depth,
		     const struct key *lo, const struct key *hi)
{
	const unsigned char *pg;
	unsigned n;
	int leaf;
	int err = page_get(w, pgno, &pg);

	if (err)
		return err;
	switch (ks_load16(pg + PG_FLAGS)) {
	case P_LEAF:
		leaf = 1;
		break;
	case P_BRANCH:
		leaf = 0;
		break;
	default: /* LEAF2 and SUBP pages only come with DUPSORT */
		return -KS_ECORRUPT;
	}
	/* every leaf at the record's depth, no branch there: LMDB's cursors take the
	 * tree as balanced and stop at the first leaf */
	if (leaf != (level == depth))
		return -KS_ECORRUPT;
	err = page_layout(w, pg, leaf, &n);
	if (!err)
		err = page_keys(pg, n, leaf, lo, hi);
	if (err)
		return err;
	if (leaf) {
		w->found.leaf++;
		return leaf_nodes(w, pg, n);
	}
	w->found.branch++;
	for (unsigned i = 0; i < n && !err; i++) {
		struct key clo = i ? node_key(node_at(pg, i)) : *lo;
		struct key chi = i + 1 < n ? node_key(node_at(pg, i + 1)) : *hi;

		err = tree_walk(w, node_child(node_at(pg, i)), level + 1, depth, &clo, &chi);
	}
	return err;
}

/* One database from its MDB_db record: its tree, then the record's counts of
 * pages and entries against what the walk met. */
static int db_walk(struct walk *w, const unsigned char *rec)
{
	const struct key open = { NULL, 0 };
	uint64_t root = ks_load64(rec + DB_ROOT);
	unsigned depth = ks_load16(rec + DB_DEPTH);
	int err = 0;

	memset(&w->found, 0, sizeof(w->found));
	if (root == P_INVALID ? depth != 0 : depth < 1 || depth > CURSOR_STACK)
		return -KS_ECORRUPT;
	if (root != P_INVALID)
		err = tree_walk(w, root, 1, depth, &open, &open);
	if (err)
		return err;
	if (w->found.branch != ks_load64(rec + DB_BRANCH) || w->found.leaf != ks_load64(rec + DB_LEAF) ||
	    w->found.overflow != ks_load64(rec + DB_OVERFLOW) ||
	    w->found.entries != ks_load64(rec + DB_ENTRIES))
		return -KS_ECORRUPT;
	return 0;
}

/* Every tree of the snapshot that meta m describes. */
static int snapshot_walk(struct walk *w, const struct ks_meta *m)
{
	int err;

	/* check.c keeps last_pg inside the file; the map is no bigger */
	w->last_pg = m->last_pg < w->map_pages ? m->last_pg : w->map_pages - 1;
	memset(w->used, 0, (w->last_pg / 64 + 1) * sizeof(*w->used));
	w->nsubs = 0;
	w->in_main = 1;
	err = db_walk(w, m->main_db);
	w->in_main = 0;
	for (size_t i = 0; i < w->nsubs && !err; i++)
		err = db_walk(w, w->subs[i]);
	return err;
}

/* The meta pages LMDB may use for snapshot txnid: with a lock file, meta txnid & 1;
 * without, the newer one (page 0 on a tie). In a sound file that is one page,
 * which must hold txnid: holding a newer one, a writer has since written the
 * snapshot after next over it. On a tie of both pages, both are used. Returns the
 * count in *n, or -KS_ECORRUPT, -EAGAIN, -errno. */
static int metas_pick(int fd, uint64_t size, uint32_t psize, uint64_t txnid,
		      struct ks_meta m[2], unsigned *n)
{
	unsigned cur = (unsigned)(txnid & 1);
	int err = ks_check_meta(fd, size, psize, cur, &m[0]);

	if (err)
		return err;
	if (m[0].txnid != txnid)
		return m[0].txnid > txnid ? -EAGAIN : -KS_ECORRUPT;
	*n = 1;
	if (!ks_check_meta(fd, size, psize, !cur, &m[1]) && m[1].txnid == txnid)
		*n = 2;
	return 0;
}

int ks_verify_trees(int fd, uint32_t psize, uint64_t txnid)
{
	struct walk w = { .fd = fd, .psize = psize };
	struct ks_meta m[2];
	struct stat sb;
	unsigned n = 0;
	size_t map_len;
	void *map;
	int err;

	if (fstat(fd, &sb) < 0)
		return -errno;
	err = metas_pick(fd, (uint64_t)sb.st_size, psize, txnid, m, &n);
	if (err)
		return err;
	/* Tree pages are looked at in place: copying each out would cost more than
	 * all the checks. The map ends with the last page a snapshot uses. */
	w.map_pages = m[0].last_pg + 1;
	if (n == 2 && m[1].last_pg >= m[0].last_pg)
		w.map_pages = m[1].last_pg + 1;
	map_len = (size_t)(w.map_pages * psize);
	map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	w.map = map;
	w.used = calloc(w.map_pages / 64 + 1, sizeof(*w.used));
	w.node_gen = calloc(psize / 2, sizeof(*w.node_gen));
	w.node_len = calloc(psize / 2, sizeof(*w.node_len));
	if (!w.used || !w.node_gen || !w.node_len)
		err = -ENOMEM;
	for (unsigned i = 0; i < n && !err; i++)
		err = snapshot_walk(&w, &m[i]);
	munmap(map, map_len);
	free(w.used);
	free(w.node_gen);
	free(w.node_len);
	free(w.subs);
	return err;
}
