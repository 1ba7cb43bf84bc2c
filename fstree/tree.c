/* fstree: the confined file-tree primitives that deltas are applied with, used by
 * `restore` (replay/restore.c) and by the recorder's shadow copy (record/statedir).
 * Every path goes through openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; names
 * are checked before use, so a hostile trace cannot reach outside the root. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "format/kserr.h"
#include "fstree/tree.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct rs_tree {
	int root;
	bool owners;  /* restore uid/gid */
	bool unpriv;  /* not root: permission bits can stand in the way of our writes */
	int wfd;      /* cached write fd of wrel */
	char *wrel;
	uint64_t bytes;
	int no_openat2;
	char err[600];
};

static const uint8_t zeros[KS_CHUNK_MAX];

static int fail(struct rs_tree *t, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the message "<what>: <strerror>" and returns err (a negative errno). */
static int fail(struct rs_tree *t, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(t->err))
		snprintf(t->err + n, sizeof(t->err) - (size_t)n, ": %s",
			 err == -ELOOP ? "a symlink is in the way (never followed)" :
			 err == -EXDEV ? "it would lead outside the restore directory" :
					 strerror(-err));
	return err;
}

bool rs_rel_ok(const char *rel, size_t len)
{
	size_t i = 0;

	if (len == 1 && rel[0] == '.')
		return true;
	if (!len || len >= PATH_MAX)
		return false;
	while (i < len) {
		size_t s = i;

		while (i < len && rel[i] != '/') {
			if (!rel[i])
				return false;
			i++;
		}
		if (i == s || (i - s == 1 && rel[s] == '.') ||
		    (i - s == 2 && rel[s] == '.' && rel[s + 1] == '.') || i - s > NAME_MAX)
			return false;
		if (i < len && ++i == len) /* a trailing '/' */
			return false;
	}
	return true;
}

int rs_tree_open(int dirfd, bool owners, struct rs_tree **out)
{
	struct rs_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->root = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (t->root < 0) {
		free(t);
		return -errno;
	}
	t->owners = owners;
	/* EACCES from a mode of ours is worked around whoever we are: root without
	 * CAP_DAC_OVERRIDE (the recorder after dropping privileges) meets it too */
	t->unpriv = true;
	t->wfd = -1;
	*out = t;
	return 0;
}

void rs_tree_sync(struct rs_tree *t)
{
	if (t->wfd >= 0)
		close(t->wfd);
	t->wfd = -1;
	free(t->wrel);
	t->wrel = NULL;
}

void rs_tree_close(struct rs_tree *t)
{
	if (!t)
		return;
	rs_tree_sync(t);
	close(t->root);
	free(t);
}

const char *rs_tree_error(const struct rs_tree *t)
{
	return t->err;
}

uint64_t rs_tree_bytes(const struct rs_tree *t)
{
	return t->bytes;
}

/* Opens rel beneath the root without following any symlink; with O_PATH |
 * O_NOFOLLOW a final symlink is opened itself. Returns an fd or -errno. */
static int open_beneath(struct rs_tree *t, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	char buf[PATH_MAX], *p, *slash;
	int fd, cur;

	if (!t->no_openat2) {
		fd = (int)syscall(SYS_openat2, t->root, rel, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != ENOSYS)
			return -errno;
		t->no_openat2 = 1;
	}
	/* no openat2: one component at a time, none followed (names are checked,
	 * so there is no ".." to climb with) */
	if (strlen(rel) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, rel);
	cur = t->root;
	p = buf;
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		fd = openat(cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			fd = errno == ENOTDIR ? -ELOOP : -errno;
			if (cur != t->root)
				close(cur);
			return fd;
		}
		if (cur != t->root)
			close(cur);
		cur = fd;
		p = slash + 1;
	}
	fd = openat(cur, p, flags | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		fd = -errno;
	if (cur != t->root)
		close(cur);
	return fd;
}

int rs_open(struct rs_tree *t, const char *rel, int flags)
{
	return open_beneath(t, rel, flags & ~O_CREAT, 0);
}

/* The parent directory of rel (an fd the caller closes unless it is the root)
 * and the last component. */
static int open_parent(struct rs_tree *t, const char *rel, const char **base)
{
	const char *slash = strrchr(rel, '/');
	char dir[PATH_MAX];
	size_t n;

	if (!slash) {
		*base = rel;
		return t->root;
	}
	*base = slash + 1;
	n = (size_t)(slash - rel);
	memcpy(dir, rel, n);
	dir[n] = '\0';
	return open_beneath(t, dir, O_PATH | O_DIRECTORY, 0);
}

static void close_parent(struct rs_tree *t, int fd)
{
	if (fd >= 0 && fd != t->root)
		close(fd);
}

int rs_mkdir_parents(struct rs_tree *t, const char *rel, mode_t mode)
{
	char buf[PATH_MAX];

	if (strlen(rel) >= sizeof(buf))
		return fail(t, -ENAMETOOLONG, "cannot create the parents of '%s'", rel);
	for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
		const char *base;
		int pfd, err = 0;

		memcpy(buf, rel, (size_t)(s - rel));
		buf[s - rel] = '\0';
		pfd = open_parent(t, buf, &base);
		if (pfd < 0 || (mkdirat(pfd, base, mode) && errno != EEXIST))
			err = pfd < 0 ? pfd : -errno;
		close_parent(t, pfd);
		if (err)
			return fail(t, err, "cannot create '%s'", buf);
	}
	return 0;
}

/* chmod of an O_PATH fd (which fchmod refuses): fchmodat2 with AT_EMPTY_PATH, or
 * the fd's /proc/self/fd link, which names the inode itself. */
static int chmod_fd(int fd, mode_t mode)
{
	char proc[64];

	if (!syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH))
		return 0;
	if (errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return chmod(proc, mode) ? -errno : 0;
}

/* Not root: gives us write and search access to a directory (or write access to
 * a file) we own, returning its old mode for ungrant, or -errno. */
static int grant(int fd, mode_t add)
{
	struct stat sb;

	if (fstat(fd, &sb))
		return -errno;
	if ((sb.st_mode & add) == add)
		return -EACCES; /* it was not the mode that refused us */
	if (chmod_fd(fd, (sb.st_mode & 07777) | add))
		return -EACCES;
	return (int)(sb.st_mode & 07777);
}

static void ungrant(int fd, int old)
{
	if (old >= 0)
		chmod_fd(fd, (mode_t)old);
}

static void drop_cache(struct rs_tree *t)
{
	rs_tree_sync(t);
}

static int set_attrs(struct rs_tree *t, const char *rel, uint32_t mode, bool set_mode,
		     uint32_t uid, uint32_t gid)
{
	struct stat sb;
	int fd, err = 0;

	fd = open_beneath(t, rel, O_PATH, 0);
	if (fd < 0)
		return fail(t, fd, "cannot open '%s'", rel);
	if (fstat(fd, &sb)) {
		err = fail(t, -errno, "cannot stat '%s'", rel);
		goto out;
	}
	if (t->owners && (uid != UINT32_MAX || gid != UINT32_MAX) &&
	    fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		err = fail(t, -errno, "cannot chown '%s'", rel);
		goto out;
	}
	/* a symlink's own mode means nothing on Linux */
	if (set_mode && !S_ISLNK(sb.st_mode)) {
		err = chmod_fd(fd, mode & 07777);
		if (err)
			fail(t, err, "cannot chmod '%s'", rel);
	}
out:
	close(fd);
	return err;
}

/* Runs op on (parent, base); when not root and the parent's mode refuses us,
 * grants access for the one call. */
#define WITH_PARENT(t, rel, base, pfd, call)                                         \
	({                                                                          \
		int __r = (call) ? -errno : 0;                                      \
		if (__r == -EACCES && (t)->unpriv) {                                \
			int __old = grant(pfd, S_IRWXU);                            \
			if (__old >= 0) {                                           \
				__r = (call) ? -errno : 0;                          \
				ungrant(pfd, __old);                                \
			}                                                           \
		}                                                                   \
		__r;                                                                \
	})

int rs_mkdir(struct rs_tree *t, const char *rel, uint32_t mode, uint32_t uid, uint32_t gid)
{
	const char *base;
	struct stat sb;
	int pfd, err;

	drop_cache(t);
	if (!strcmp(rel, "."))
		return set_attrs(t, rel, mode, true, uid, gid);
	pfd = open_parent(t, rel, &base);
	if (pfd < 0)
		return fail(t, pfd, "cannot mkdir '%s'", rel);
	err = WITH_PARENT(t, rel, base, pfd, mkdirat(pfd, base, 0700));
	if (err == -EEXIST) {
		err = fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) ? -errno :
		      S_ISDIR(sb.st_mode) ? 0 : -EEXIST;
	}
	close_parent(t, pfd);
	if (err)
		return fail(t, err, "cannot mkdir '%s'", rel);
	return set_attrs(t, rel, mode, true, uid, gid);
}

int rs_create(struct rs_tree *t, const char *rel, uint32_t mode, uint32_t uid, uint32_t gid)
{
	const char *base;
	struct stat sb;
	int pfd, fd, err;

	drop_cache(t);
	pfd = open_parent(t, rel, &base);
	if (pfd < 0)
		return fail(t, pfd, "cannot create '%s'", rel);
	fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EACCES && t->unpriv) {
		int old = grant(pfd, S_IRWXU);

		if (old >= 0) {
			fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    0600);
			ungrant(pfd, old);
		}
	}
	if (fd < 0) {
		err = -errno;
		/* O_CREAT on an existing file changes nothing */
		if (err == -EEXIST && !fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) &&
		    S_ISREG(sb.st_mode))
			err = 0;
		close_parent(t, pfd);
		return err ? fail(t, err, "cannot create '%s'", rel) : 0;
	}
	close_parent(t, pfd);
	err = 0;
	if (t->owners && (uid != UINT32_MAX || gid != UINT32_MAX) && fchown(fd, uid, gid))
		err = fail(t, -errno, "cannot chown '%s'", rel);
	if (!err && fchmod(fd, mode & 07777))
		err = fail(t, -errno, "cannot chmod '%s'", rel);
	close(fd);
	return err;
}

/* An fd to write rel with, cached across consecutive writes to one file. */
static int write_fd(struct rs_tree *t, const char *rel)
{
	int fd;

	if (t->wfd >= 0 && t->wrel && !strcmp(t->wrel, rel))
		return t->wfd;
	drop_cache(t);
	fd = open_beneath(t, rel, O_WRONLY, 0);
	if (fd == -EACCES && t->unpriv) {
		int pfd = open_beneath(t, rel, O_PATH, 0), old;

		if (pfd >= 0) {
			old = grant(pfd, S_IWUSR);
			if (old >= 0) {
				fd = open_beneath(t, rel, O_WRONLY, 0);
				ungrant(pfd, old);
			}
			close(pfd);
		}
	}
	if (fd < 0)
		return fd;
	t->wrel = strdup(rel);
	if (!t->wrel) {
		close(fd);
		return -ENOMEM;
	}
	t->wfd = fd;
	return fd;
}

static int pwrite_all(int fd, const void *data, size_t len, uint64_t off)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int rs_write(struct rs_tree *t, const char *rel, uint64_t off, const void *data, size_t len)
{
	int fd = write_fd(t, rel), err;

	if (fd < 0)
		return fail(t, fd, "cannot open '%s' to write", rel);
	err = pwrite_all(fd, data, len, off);
	if (err)
		return fail(t, err, "cannot write '%s'", rel);
	t->bytes += len;
	return 0;
}

static int write_zeros(struct rs_tree *t, const char *rel, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		int err = rs_write(t, rel, off, zeros, n);

		if (err)
			return err;
		off += n;
		len -= n;
	}
	return 0;
}

int rs_truncate(struct rs_tree *t, const char *rel, uint64_t size)
{
	int fd = write_fd(t, rel);

	if (fd < 0)
		return fail(t, fd, "cannot open '%s' to truncate", rel);
	if (ftruncate(fd, (off_t)size))
		return fail(t, -errno, "cannot truncate '%s'", rel);
	return 0;
}

static int not_root(struct rs_tree *t, const char *what, const char *rel)
{
	if (strcmp(rel, "."))
		return 0;
	return fail(t, -EINVAL, "cannot %s the restore directory itself", what);
}

int rs_unlink(struct rs_tree *t, const char *rel)
{
	const char *base;
	int pfd, err;

	drop_cache(t);
	if ((err = not_root(t, "unlink", rel)))
		return err;
	pfd = open_parent(t, rel, &base);
	if (pfd < 0)
		return fail(t, pfd, "cannot unlink '%s'", rel);
	err = WITH_PARENT(t, rel, base, pfd, unlinkat(pfd, base, 0));
	close_parent(t, pfd);
	return err ? fail(t, err, "cannot unlink '%s'", rel) : 0;
}

/* Empties the directory open at dfd, never following a symlink. */
static int remove_contents(int dfd, int depth)
{
	DIR *d;
	struct dirent *e;
	int err = 0, fd;

	if (depth > 256)
		return -ELOOP;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (!err && (e = readdir(d))) {
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW)) {
			err = -errno;
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				err = -errno;
				break;
			}
			err = remove_contents(sub, depth + 1);
			close(sub);
			if (!err && unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR))
				err = -errno;
		} else if (unlinkat(dirfd(d), e->d_name, 0)) {
			err = -errno;
		}
	}
	closedir(d);
	return err;
}

int rs_rmdir(struct rs_tree *t, const char *rel)
{
	const char *base;
	int pfd, err;

	drop_cache(t);
	if ((err = not_root(t, "remove", rel)))
		return err;
	pfd = open_parent(t, rel, &base);
	if (pfd < 0)
		return fail(t, pfd, "cannot rmdir '%s'", rel);
	err = WITH_PARENT(t, rel, base, pfd, unlinkat(pfd, base, AT_REMOVEDIR));
	if (err == -ENOTEMPTY || err == -EEXIST) {
		/* the live directory was empty when it went: what is left here came
		 * from changes made by no traced process; they go with it */
		int dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		err = dfd < 0 ? -errno : remove_contents(dfd, 0);
		if (dfd >= 0)
			close(dfd);
		if (!err && unlinkat(pfd, base, AT_REMOVEDIR))
			err = -errno;
	}
	close_parent(t, pfd);
	return err ? fail(t, err, "cannot rmdir '%s'", rel) : 0;
}

int rs_rename(struct rs_tree *t, const char *rel, const char *rel2, uint32_t flags)
{
	const char *b1, *b2;
	int p1, p2, err;

	drop_cache(t);
	if ((err = not_root(t, "rename", rel)) || (err = not_root(t, "rename onto", rel2)))
		return err;
	p1 = open_parent(t, rel, &b1);
	if (p1 < 0)
		return fail(t, p1, "cannot rename '%s'", rel);
	p2 = open_parent(t, rel2, &b2);
	if (p2 < 0) {
		close_parent(t, p1);
		return fail(t, p2, "cannot rename '%s' to '%s'", rel, rel2);
	}
	flags &= RENAME_NOREPLACE | RENAME_EXCHANGE; /* a whiteout is an overlayfs detail */
	err = renameat2(p1, b1, p2, b2, flags) ? -errno : 0;
	if (err == -EACCES && t->unpriv) {
		int o1 = grant(p1, S_IRWXU), o2 = p2 == p1 ? -1 : grant(p2, S_IRWXU);

		err = renameat2(p1, b1, p2, b2, flags) ? -errno : 0;
		ungrant(p1, o1);
		if (p2 != p1)
			ungrant(p2, o2);
	}
	close_parent(t, p1);
	close_parent(t, p2);
	return err ? fail(t, err, "cannot rename '%s' to '%s'", rel, rel2) : 0;
}

int rs_symlink(struct rs_tree *t, const char *rel, const char *target, uint32_t uid,
	       uint32_t gid)
{
	const char *base;
	struct stat sb;
	int pfd, err;

	drop_cache(t);
	if ((err = not_root(t, "replace", rel)))
		return err;
	pfd = open_parent(t, rel, &base);
	if (pfd < 0)
		return fail(t, pfd, "cannot symlink '%s'", rel);
	err = WITH_PARENT(t, rel, base, pfd, symlinkat(target, pfd, base));
	if (err == -EEXIST && !fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) &&
	    !S_ISDIR(sb.st_mode) && !unlinkat(pfd, base, 0))
		err = WITH_PARENT(t, rel, base, pfd, symlinkat(target, pfd, base));
	close_parent(t, pfd);
	if (err)
		return fail(t, err, "cannot symlink '%s'", rel);
	return set_attrs(t, rel, 0, false, uid, gid);
}

int rs_link(struct rs_tree *t, const char *rel, const char *rel2)
{
	const char *b1, *b2;
	struct stat sb;
	int p1, p2, err;

	drop_cache(t);
	if ((err = not_root(t, "link", rel)) || (err = not_root(t, "replace", rel2)))
		return err;
	p1 = open_parent(t, rel, &b1);
	if (p1 < 0)
		return fail(t, p1, "cannot link '%s'", rel);
	p2 = open_parent(t, rel2, &b2);
	if (p2 < 0) {
		close_parent(t, p1);
		return fail(t, p2, "cannot link '%s' as '%s'", rel, rel2);
	}
	/* no AT_SYMLINK_FOLLOW: a symlink is linked itself, never its target */
	err = WITH_PARENT(t, rel2, b2, p2, linkat(p1, b1, p2, b2, 0));
	if (err == -EEXIST && !fstatat(p2, b2, &sb, AT_SYMLINK_NOFOLLOW) &&
	    !S_ISDIR(sb.st_mode) && !unlinkat(p2, b2, 0))
		err = WITH_PARENT(t, rel2, b2, p2, linkat(p1, b1, p2, b2, 0));
	close_parent(t, p1);
	close_parent(t, p2);
	return err ? fail(t, err, "cannot link '%s' as '%s'", rel, rel2) : 0;
}

int rs_chmod(struct rs_tree *t, const char *rel, uint32_t mode)
{
	return set_attrs(t, rel, mode, true, UINT32_MAX, UINT32_MAX);
}

int rs_chown(struct rs_tree *t, const char *rel, uint32_t uid, uint32_t gid)
{
	if (!t->owners)
		return 0;
	return set_attrs(t, rel, 0, false, uid, gid);
}

/* Replays fallocate by its effect on the bytes, never by reserving space (a
 * hostile trace must not fill the disk): allocation only moves the size,
 * punching or zeroing writes holes or zeros, collapse and insert run as they were. */
int rs_fallocate(struct rs_tree *t, const char *rel, uint32_t mode, uint64_t off, uint64_t len)
{
	struct stat sb;
	int fd = write_fd(t, rel);
	uint64_t end = off + len, size;

	if (fd < 0)
		return fail(t, fd, "cannot open '%s' to fallocate", rel);
	if (fstat(fd, &sb))
		return fail(t, -errno, "cannot stat '%s'", rel);
	size = (uint64_t)sb.st_size;
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
		if (fallocate(fd, (int)mode, (off_t)off, (off_t)len))
			return fail(t, -errno, "cannot fallocate '%s'", rel);
		return 0;
	}
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t zend = end < size ? end : size;

		if (zend > off &&
		    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)(zend - off))) {
			int err = write_zeros(t, rel, off, zend - off);

			if (err)
				return err;
		}
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size && ftruncate(fd, (off_t)end))
		return fail(t, -errno, "cannot extend '%s'", rel);
	return 0;
}

int rs_content_begin(struct rs_tree *t, const char *rel, int *out)
{
	const char *base;
	struct stat sb;
	int pfd, fd, err = 0;

	drop_cache(t);
	if ((err = not_root(t, "replace", rel)))
		return err;
	pfd = open_parent(t, rel, &base);
	if (pfd < 0)
		return fail(t, pfd, "cannot write '%s'", rel);
	if (!fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) && !S_ISREG(sb.st_mode)) {
		if (S_ISDIR(sb.st_mode))
			err = -EISDIR;
		else
			err = WITH_PARENT(t, rel, base, pfd, unlinkat(pfd, base, 0));
	}
	if (!err) {
		fd = openat(pfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EACCES && t->unpriv) {
			/* a read-only file of ours, or a directory we may not write */
			int ffd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			int fo = ffd >= 0 ? grant(ffd, S_IWUSR) : -1, po = grant(pfd, S_IRWXU);

			fd = openat(pfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
				    0600);
			ungrant(pfd, po);
			if (ffd >= 0) {
				ungrant(ffd, fo);
				close(ffd);
			}
		}
		err = fd < 0 ? -errno : 0;
	}
	close_parent(t, pfd);
	if (err)
		return fail(t, err, "cannot write '%s'", rel);
	*out = fd;
	return 0;
}

int rs_content_finish(struct rs_tree *t, const char *rel, int fd, uint64_t size,
		      uint32_t mode, uint32_t uid, uint32_t gid)
{
	int err = 0;

	if (ftruncate(fd, (off_t)size))
		err = fail(t, -errno, "cannot size '%s'", rel);
	if (!err && t->owners && (uid != UINT32_MAX || gid != UINT32_MAX) && fchown(fd, uid, gid))
		err = fail(t, -errno, "cannot chown '%s'", rel);
	if (!err && fchmod(fd, mode & 07777))
		err = fail(t, -errno, "cannot chmod '%s'", rel);
	close(fd);
	return err;
}

static int payload_err(struct rs_tree *t, const struct ks_delta *d, const char *rel, int err)
{
	snprintf(t->err, sizeof(t->err), "cannot read the bytes of %s of '%s': %s",
		 ks_delta_op_name(d->op), rel, ks_strerror(err));
	return err;
}

/* WRITE and CONTENT bytes: inline, or chunk by chunk. fd >= 0: CONTENT (holes
 * stay holes); fd < 0: WRITE through rel (zeros are written). */
static int apply_bytes(struct rs_tree *t, const struct ks_delta *d, const char *rel, int fd,
		       uint64_t off, struct ks_delta_reader *rd, rs_chunk_fn chunk, void *ctx)
{
	const void *p;
	int err;

	if (d->enc == KS_DENC_NONE)
		return 0;
	if (d->enc != KS_DENC_CHUNKS) {
		err = ks_delta_inline(rd, d, &p);
		if (err)
			return payload_err(t, d, rel, err);
		if (fd < 0)
			return rs_write(t, rel, off, p, d->dlen);
		err = pwrite_all(fd, p, d->dlen, off);
		if (!err)
			t->bytes += d->dlen;
		return err ? fail(t, err, "cannot write '%s'", rel) : 0;
	}
	for (size_t i = 0; i < ks_delta_chunk_count(d); i++) {
		struct ks_chunk_ref r;

		ks_delta_chunk_ref(d, i, &r);
		if (r.kind == KS_CHUNK_ZERO) {
			err = fd < 0 ? write_zeros(t, rel, off, r.len) : 0;
		} else {
			err = chunk(ctx, &r, &p);
			if (err)
				return payload_err(t, d, rel, err);
			if (fd < 0) {
				err = rs_write(t, rel, off, p, r.len);
			} else {
				err = pwrite_all(fd, p, r.len, off);
				if (err)
					fail(t, err, "cannot write '%s'", rel);
				else
					t->bytes += r.len;
			}
		}
		if (err)
			return err;
		off += r.len;
	}
	return 0;
}

int rs_apply(struct rs_tree *t, const struct ks_delta *d, const char *rel, const char *rel2,
	     struct ks_delta_reader *rd, rs_chunk_fn chunk, void *ctx)
{
	const void *p;
	char target[KS_LINK_MAX + 1];
	int fd, err;

	switch (d->op) {
	case KS_DOP_MKDIR:
		return rs_mkdir(t, rel, d->mode, d->uid, d->gid);
	case KS_DOP_CREATE:
		return rs_create(t, rel, d->mode, d->uid, d->gid);
	case KS_DOP_WRITE:
		return apply_bytes(t, d, rel, -1, d->offset, rd, chunk, ctx);
	case KS_DOP_TRUNCATE:
		return rs_truncate(t, rel, d->length);
	case KS_DOP_CONTENT:
		err = rs_content_begin(t, rel, &fd);
		if (err)
			return err;
		err = apply_bytes(t, d, rel, fd, 0, rd, chunk, ctx);
		if (err) {
			close(fd);
			return err;
		}
		return rs_content_finish(t, rel, fd, d->length, d->mode, d->uid, d->gid);
	case KS_DOP_UNLINK:
		return rs_unlink(t, rel);
	case KS_DOP_RMDIR:
		return rs_rmdir(t, rel);
	case KS_DOP_RENAME:
		return rs_rename(t, rel, rel2, d->arg);
	case KS_DOP_SYMLINK:
		err = ks_delta_inline(rd, d, &p);
		if (err)
			return payload_err(t, d, rel, err);
		if (memchr(p, '\0', d->dlen)) {
			snprintf(t->err, sizeof(t->err),
				 "refusing symlink '%s': its target holds a NUL byte", rel);
			return -EINVAL;
		}
		memcpy(target, p, d->dlen);
		target[d->dlen] = '\0';
		return rs_symlink(t, rel, target, d->uid, d->gid);
	case KS_DOP_LINK:
		return rs_link(t, rel, rel2);
	case KS_DOP_CHMOD:
		return rs_chmod(t, rel, d->mode);
	case KS_DOP_CHOWN:
		return rs_chown(t, rel, d->uid, d->gid);
	case KS_DOP_FALLOCATE:
		return rs_fallocate(t, rel, d->arg, d->offset, d->length);
	default:
		snprintf(t->err, sizeof(t->err), "unknown operation %u on '%s'", d->op, rel);
		return -EINVAL;
	}
}
