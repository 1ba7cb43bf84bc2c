/* fstree: a directory tree under one directory fd that deltas are applied to
 * (restore, and the recorder's shadow copy that verifies its capture).
 *
 * Every path is relative to the tree's root and opened with openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (or an equivalent walk where openat2 is
 * missing): nothing is ever written outside the root, and no symlink is followed. */
#ifndef KSIGHT_FSTREE_TREE_H
#define KSIGHT_FSTREE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/delta.h"

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
/* Creates each missing ancestor directory of rel (not rel itself) with mode. */
int rs_mkdir_parents(struct rs_tree *t, const char *rel, mode_t mode);
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

#endif
