/* State directory capture, bounded recording: the checkpoint that opens each
 * epoch, the state dirs as the trace has them (the shadow copy, which is the
 * deltas replayed) written whole as baseline deltas, so a restore can start
 * there once older deltas are dropped. Modes and hard links are the shadow's;
 * owners, which the shadow does not keep, the live state dir's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/delta.h"
#include "record/statedir_priv.h"
#include "util/grow.h"
#include "util/hmap.h"
#include "util/log.h"

#define MAX_DEPTH 64

/* One checkpoint's walk: the live state dir beside the shadow one, and the
 * shadow's files with more than one link, by inode (one file system). */
struct ck_walk {
	struct statedir *sd;
	int live;             /* the live state dir, or -1 */
	size_t live_skip;     /* its path's length: what follows is relative */
	struct ks_hmap inos;  /* ino -> index in paths (multimap) */
	char **paths;
	dev_t *devs;
	size_t npaths, cappaths, capdevs;
};

/* The owner of path in the live state dir when it is there as the same type,
 * else left unchanged by restore (UINT32_MAX). */
static void live_owner(const struct ck_walk *w, const char *path, mode_t type, uint32_t *uid,
		       uint32_t *gid)
{
	const char *rel = path + w->live_skip;
	struct stat sb;
	int r;

	*uid = *gid = UINT32_MAX;
	if (w->live < 0)
		return;
	while (*rel == '/')
		rel++;
	r = *rel ? fstatat(w->live, rel, &sb, AT_SYMLINK_NOFOLLOW) : fstat(w->live, &sb);
	if (!r && (sb.st_mode & S_IFMT) == type) {
		*uid = sb.st_uid;
		*gid = sb.st_gid;
	}
}

/* A file met before with the inode of sb: its path, else NULL (and this one is
 * noted when it has other links). */
static const char *link_of(struct ck_walk *w, const char *path, const struct stat *sb)
{
	if (sb->st_nlink < 2)
		return NULL;
	for (uint64_t *v = ks_hmap_get(&w->inos, sb->st_ino); v;
	     v = ks_hmap_next(&w->inos, sb->st_ino, v))
		if (w->devs[*v] == sb->st_dev)
			return w->paths[*v];
	if (KS_GROW(&w->paths, &w->cappaths, w->npaths + 1) ||
	    KS_GROW(&w->devs, &w->capdevs, w->npaths + 1) ||
	    !(w->paths[w->npaths] = strdup(path)))
		return NULL; /* no memory: stored as a file of its own */
	if (ks_hmap_add(&w->inos, sb->st_ino, w->npaths)) {
		free(w->paths[w->npaths]);
		return NULL;
	}
	w->devs[w->npaths++] = sb->st_dev;
	return NULL;
}

/* A regular file of the shadow, streamed into one CONTENT delta. */
static int put_file(struct ck_walk *w, const char *path, int fd, const struct stat *sb,
		    uint64_t ts)
{
	struct statedir *sd = w->sd;
	struct ks_delta d = {
		.op = KS_DOP_CONTENT, .ts = ts, .mode = sb->st_mode & 07777,
		.flags = KS_DF_BASELINE,
	};
	uint64_t total = 0, seq;
	ssize_t n;
	int err;

	live_owner(w, path, S_IFREG, &d.uid, &d.gid);
	err = ks_dw_file(sd->w, path, strlen(path), &d.file);
	err = err ?: ks_dw_content_begin(sd->w, &d);
	if (err)
		return err;
	while ((n = pread(fd, sd->buf, IO_BUF, (off_t)total)) > 0) {
		err = ks_dw_content_data(sd->w, sd->buf, (size_t)n);
		if (err) {
			ks_dw_content_abort(sd->w);
			return err;
		}
		total += (uint64_t)n;
	}
	return ks_dw_content_end(sd->w, total, &seq);
}

/* MKDIR, SYMLINK (data: the target) or LINK (path2: the new name of path). */
static int put_simple(struct ck_walk *w, unsigned op, const char *path, const char *path2,
		      uint64_t ts, uint32_t mode, const void *data, size_t len)
{
	struct statedir *sd = w->sd;
	struct ks_delta d = { .op = (uint8_t)op, .ts = ts, .mode = mode, .uid = UINT32_MAX,
			      .gid = UINT32_MAX, .flags = KS_DF_BASELINE };
	int err = ks_dw_file(sd->w, path, strlen(path), &d.file);

	if (op != KS_DOP_LINK)
		live_owner(w, path, op == KS_DOP_MKDIR ? S_IFDIR : S_IFLNK, &d.uid, &d.gid);
	if (!err && path2)
		err = ks_dw_file(sd->w, path2, strlen(path2), &d.file2);
	return err ?: ks_dw_add(sd->w, &d, data, len);
}

/* The directory open at dfd (path, absolute) and everything beneath it. */
static int put_dir(struct ck_walk *w, int dfd, const char *path, uint64_t ts, int depth)
{
	char child[PATH_MAX], target[KS_LINK_MAX + 1];
	struct dirent *de;
	struct stat sb;
	DIR *dir;
	int err = 0;

	if (fstat(dfd, &sb))
		return -errno;
	err = put_simple(w, KS_DOP_MKDIR, path, NULL, ts, sb.st_mode & 07777, NULL, 0);
	if (err || depth >= MAX_DEPTH)
		return err;
	dir = fdopendir(dup(dfd));
	if (!dir)
		return -errno;
	while (!err && (de = readdir(dir))) {
		const char *first;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >= sizeof(child))
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISLNK(sb.st_mode)) {
			ssize_t n = readlinkat(dfd, de->d_name, target, sizeof(target) - 1);

			if (n >= 0)
				err = put_simple(w, KS_DOP_SYMLINK, child, NULL, ts, 0, target,
						 (size_t)n);
			continue;
		}
		if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			continue;
		if (S_ISREG(sb.st_mode) && (first = link_of(w, child, &sb))) {
			err = put_simple(w, KS_DOP_LINK, first, child, ts, 0, NULL, 0);
			continue;
		}
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
				 (S_ISDIR(sb.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0)
			continue;
		err = S_ISDIR(sb.st_mode) ? put_dir(w, fd, child, ts, depth + 1) :
					    put_file(w, child, fd, &sb, ts);
		close(fd);
	}
	closedir(dir);
	return err;
}

uint64_t statedir_checkpoint_begin(struct statedir *sd)
{
	int err = ks_dw_flush(sd->w);

	if (err)
		ks_debug("state dirs: cannot flush the deltas: %s", strerror(-err));
	ks_dw_checkpoint_begin(sd->w);
	return ks_dw_next_seq(sd->w);
}

int statedir_flush(struct statedir *sd)
{
	return sd ? ks_dw_flush(sd->w) : 0;
}

int statedir_checkpoint(struct statedir *sd, uint64_t ts, uint64_t *reused)
{
	int root = open(sd->shadow_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ck_walk w = { .sd = sd };
	int err = 0;

	if (root < 0) {
		err = -errno;
		ks_dw_checkpoint_end(sd->w, reused);
		return err;
	}
	for (int i = 0; i < sd->ndirs && !err; i++) {
		int fd = openat(root, sd->dirs[i].path + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC);

		if (fd < 0)
			continue; /* the state dir itself is gone */
		w.live = sd->dirs[i].fd;
		w.live_skip = strlen(sd->dirs[i].path);
		err = put_dir(&w, fd, sd->dirs[i].path, ts, 0);
		close(fd);
	}
	close(root);
	for (size_t i = 0; i < w.npaths; i++)
		free(w.paths[i]);
	free(w.paths);
	free(w.devs);
	ks_hmap_free(&w.inos);
	err = err ?: ks_dw_flush(sd->w);
	ks_dw_checkpoint_end(sd->w, reused);
	return err;
}
