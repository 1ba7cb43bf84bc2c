/* Private to store/: the on-disk layout of LMDB 0.9 (mdb.c: MDB_page, MDB_node,
 * MDB_meta, MDB_db; 64-bit builds, no MDB_DEVEL), read by hand by check.c and
 * verify.c before LMDB maps a trace or follows its trees. */
#ifndef KSIGHT_STORE_LMDB_DISK_H
#define KSIGHT_STORE_LMDB_DISK_H

#include <stdint.h>

#include "util/bytes.h"

#define MDB_MAGIC_WORD 0xBEEFC0DEu
#define MDB_DATA_VERSION 1u
#define MIN_PSIZE 512u
#define MAX_PSIZE 32768u /* LMDB's MAX_PAGESIZE without MDB_DEVEL */
#define CURSOR_STACK 32u /* deepest tree LMDB's cursors can walk */
#define MAX_KEY 511u     /* MDB_MAXKEYSIZE */
#define P_INVALID (~(uint64_t)0)

/* MDB_page: a 16-byte header, then the node offsets (mp_ptrs) growing up from
 * it and the nodes growing down from the page's end. */
#define PAGEHDRSZ 16u
#define PG_PGNO 0
#define PG_FLAGS 10
#define PG_LOWER 12 /* end of mp_ptrs */
#define PG_UPPER 14 /* start of the nodes */
#define PG_PAGES 12 /* overflow pages: the run's length, over lower and upper */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08

/* MDB_node: data size (leaf) or child page (branch, 48 bits over lo, hi and
 * flags), flags, key size; then the key, then the data (leaf). Nodes are 2-byte
 * aligned. */
#define NODESIZE 8u
#define ND_LO 0
#define ND_HI 2
#define ND_FLAGS 4
#define ND_KSIZE 6
#define F_BIGDATA 0x01 /* data is on overflow pages; the node holds their pgno */
#define F_SUBDATA 0x02 /* data is a named database's MDB_db record */

/* Offsets in a meta page: page header, then MDB_meta. */
#define OFF_MAGIC (PAGEHDRSZ + 0)
#define OFF_VERSION (PAGEHDRSZ + 4)
#define OFF_MAPSIZE (PAGEHDRSZ + 16)
#define OFF_DB_FREE (PAGEHDRSZ + 24)
#define OFF_DB_MAIN (PAGEHDRSZ + 72)
#define OFF_LAST_PG (PAGEHDRSZ + 120)
#define OFF_TXNID (PAGEHDRSZ + 128)
#define META_END (PAGEHDRSZ + 136)

/* Offsets in an MDB_db record (in a meta page, or a named database's value). */
#define DB_PAD 0
#define DB_FLAGS 4
#define DB_DEPTH 6
#define DB_BRANCH 8
#define DB_LEAF 16
#define DB_OVERFLOW 24
#define DB_ENTRIES 32
#define DB_ROOT 40
#define DB_SIZE 48

#endif
