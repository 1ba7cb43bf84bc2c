/* State directory capture, bounded recording: the checkpoint that opens each
 * epoch, the state dirs as the trace has them (the shadow copy, which is the
 * deltas replayed) written whole as baseline deltas, so a restore can start
 * there once older deltas are dropped. */
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
#include "util/log.h"

#define MAX_DEPTH 64

/* A regular file of the shadow, streamed into one CONTENT delta. */
static int put_file(struct statedir *sd, const char *path, int fd, const struct stat *sb,
		    uint64_t ts)
{
	struct ks_delta d = {
		.op = KS_DOP_CONTENT, .ts = ts, .mode = sb->st_mode & 07777,
		.uid = UINT32_MAX, .gid = UINT32_MAX, .flags = KS_DF_BASELINE,
	};
	uint64_t total = 0, seq;
	ssize_t n;
	int err;

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

static int put_simple(struct statedir *sd, unsigned op, const char *path, uint64_t ts,
		      uint32_t mode, const void *data, size_t len)
{
	struct ks_delta d = { .op = (uint8_t)op, .ts = ts, .mode = mode, .uid = UINT32_MAX,
			      .gid = UINT32_MAX, .flags = KS_DF_BASELINE };
	int err = ks_dw_file(sd->w, path, strlen(path), &d.file);

	return err ?: ks_dw_add(sd->w, &d, data, len);
}

/* The directory open at dfd (path, absolute) and everything beneath it. */
static int put_dir(struct statedir *sd, int dfd, const char *path, uint64_t ts, int depth)
{
	char child[PATH_MAX], target[KS_LINK_MAX + 1];
	struct dirent *de;
	struct stat sb;
	DIR *dir;
	int err = 0;

	if (fstat(dfd, &sb))
		return -errno;
	err = put_simple(sd, KS_DOP_MKDIR, path, ts, sb.st_mode & 07777, NULL, 0);
	if (err || depth >= MAX_DEPTH)
		return err;
	dir = fdopendir(dup(dfd));
	if (!dir)
		return -errno;
	while (!err && (de = readdir(dir))) {
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
				err = put_simple(sd, KS_DOP_SYMLINK, child, ts, 0, target, (size_t)n);
			continue;
		}
		if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
				 (S_ISDIR(sb.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0)
			continue;
		err = S_ISDIR(sb.st_mode) ? put_dir(sd, fd, child, ts, depth + 1) :
					    put_file(sd, child, fd, &sb, ts);
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
	ks_dw_forget_chunks(sd->w);
	return ks_dw_next_seq(sd->w);
}

int statedir_flush(struct statedir *sd)
{
	return sd ? ks_dw_flush(sd->w) : 0;
}

int statedir_checkpoint(struct statedir *sd, uint64_t ts)
{
	int root = open(sd->shadow_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (root < 0)
		return -errno;
	for (int i = 0; i < sd->ndirs && !err; i++) {
		int fd = openat(root, sd->dirs[i].path + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC);

		if (fd < 0)
			continue; /* the state dir itself is gone */
		err = put_dir(sd, fd, sd->dirs[i].path, ts, 0);
		close(fd);
	}
	close(root);
	return err ?: ks_dw_flush(sd->w);
}
