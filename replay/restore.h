/* Rebuilding recorded state directories: a tree under one directory fd that
 * deltas are applied to (restore, and the recorder's shadow copy that verifies
 * its capture), and the whole-trace restore behind `ksight restore`.
 *
 * Every path is relative to the tree's root and opened with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (or an equivalent walk where openat2 is
 * missing): nothing is ever written outside the root, and no symlink is followed. */
#ifndef KSIGHT_REPLAY_RESTORE_H
#define KSIGHT_REPLAY_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/delta.h"

struct replay_trace;
struct rs_tree;

/* Opens a tree on a copy of dirfd. owners: restore uid/gid (root only).
 * Returns 0, -ENOMEM, -errno. */
int rs_tree_open(int dirfd, bool owners, struct rs_tree **out);
void rs_tree_close(struct rs_tree *t);
/* The last failure, one line naming the entry ("cannot write 'a/b': ..."). */
const char *rs_tree_error(const struct rs_tree *t);
/* Bytes written into files so far. */
uint64_t rs_tree_bytes(const struct rs_tree *t);

/* Returns true when rel (len bytes) is a relative path the tree accepts: "." or
 * components separated by single '/', none empty, ".", ".." or holding a NUL. */
bool rs_rel_ok(const char *rel, size_t len);

/* Opens rel beneath the root, following no symlink (with O_PATH, a final
 * symlink is opened itself; otherwise it fails with ELOOP). Returns an fd or -errno. */
int rs_open(struct rs_tree *t, const char *rel, int flags);

/* The primitives. rel is checked with rs_rel_ok ("." is the root). uid/gid
 * (uint32_t)-1: unchanged. Each returns 0 or a negative errno, with the error
 * message set. */
int rs_mkdir(struct rs_tree *t, const char *rel, uint32_t mode, uint32_t uid, uint32_t gid);
int rs_create(struct rs_tree *t, const char *rel, uint32_t mode, uint32_t uid, uint32_t gid);
int rs_write(struct rs_tree *t, const char *rel, uint64_t off, const void *data, size_t len);
int rs_truncate(struct rs_tree *t, const char *rel, uint64_t size);
int rs_unlink(struct rs_tree *t, const char *rel);
int rs_rmdir(struct rs_tree *t, const char *rel);
int rs_rename(struct rs_tree *t, const char *rel, const char *rel2, uint32_t flags);
int rs_symlink(struct rs_tree *t, const char *rel, const char *target, uint32_t uid,
	       uint32_t gid);
int rs_link(struct rs_tree *t, const char *rel, const char *rel2);
int rs_chmod(struct rs_tree *t, const char *rel, uint32_t mode);
int rs_chown(struct rs_tree *t, const char *rel, uint32_t uid, uint32_t gid);
int rs_fallocate(struct rs_tree *t, const char *rel, uint32_t mode, uint64_t off, uint64_t len);
/* CONTENT in three steps: begin makes rel an empty regular file (replacing what
 * was there) and returns its fd; the caller pwrites the bytes; finish sets the
 * size, mode and owners and closes fd. */
int rs_content_begin(struct rs_tree *t, const char *rel, int *fd);
int rs_content_finish(struct rs_tree *t, const char *rel, int fd, uint64_t size,
		      uint32_t mode, uint32_t uid, uint32_t gid);
/* Closes the cached write fd (before the tree is read by someone else). */
void rs_tree_sync(struct rs_tree *t);

/* Fetches a chunk's bytes (ref->len of them) for rs_apply: 0 or a negative error. */
typedef int (*rs_chunk_fn)(void *ctx, const struct ks_chunk_ref *ref, const void **data);

/* Applies one decoded delta to rel (and rel2 for RENAME and LINK). */
int rs_apply(struct rs_tree *t, const struct ks_delta *d, const char *rel, const char *rel2,
	     struct ks_delta_reader *rd, rs_chunk_fn chunk, void *ctx);

/* ---- the deltas of a trace ---------------------------------------------------- */

struct delta_ent {
	uint64_t seq, file, ts;
	const void *key, *val; /* in the store's map, valid while the trace is open */
	size_t vlen;
};

struct delta_list {
	struct delta_ent *v;
	size_t n;
	uint64_t chunks;  /* chunk entries seen */
	uint64_t bytes;   /* key + value bytes of deltas and chunks */
};

/* Reads every delta of the trace (checking each) in sequence order. On failure
 * t->err names the damaged entry. Returns 0 or a negative error. */
int delta_collect(struct replay_trace *t, struct delta_list *out);
void delta_list_free(struct delta_list *l);

/* The recorded state dirs (meta "state_dirs"), checked. Returns the count (>= 0)
 * or a negative error with t->err set. */
int restore_state_dirs(struct replay_trace *t, char ***dirs);
void restore_free_dirs(char **dirs, int n);

/* The start of the recording (meta start_ns, or the state dir capture's own
 * statedir_start_ns when the recorder did not finish). Returns 0 or -ENOENT. */
int restore_start_ns(struct replay_trace *t, uint64_t *start);

/* Parses a --at time: RFC 3339 ("2025-01-31T12:00:00.25Z", "+02:00" offsets, a
 * space for the T), Unix seconds with a fraction, or an offset from the start of
 * the recording ("+2.5s"). Returns 0 with *mono (CLOCK_MONOTONIC ns of the
 * trace), -EINVAL (not a time), -ENOENT (the trace lacks the clock it needs). */
int restore_parse_time(struct replay_trace *t, const char *s, uint64_t *mono);

struct restore_opts {
	const char *to;
	uint64_t at;  /* CLOCK_MONOTONIC ns; UINT64_MAX: the end */
	bool flat;    /* a single state dir's contents directly in to */
};

struct restore_stats {
	uint64_t deltas;   /* in the trace */
	uint64_t applied;
	uint64_t later;    /* after --at */
	uint64_t torn;     /* of an unfinished change cut by the end of the trace */
	uint64_t bytes;    /* written into files */
	uint64_t stored;   /* key + value bytes of the deltas database */
	int dirs;          /* state dirs */
};

/* Rebuilds the state dirs of t under o->to (which must be empty or missing).
 * Every path is checked before anything is written. On failure t->err holds one
 * line. Returns 0 or a negative error. */
int restore_trace(struct replay_trace *t, const struct restore_opts *o,
		  struct restore_stats *st);

#endif
