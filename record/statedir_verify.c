/* State directory capture: verification. The live tree is compared with the
 * shadow copy rebuilt from the deltas, and what differs is emitted (baseline,
 * correction, read-back, or plain changes in the inotify fallback): for the
 * paths due, and for every state dir at the end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"
#include "record/statedir_priv.h"
#include "fstree/tree.h"

/* p relative to its state dir ("." for the dir itself). */
static const char *live_rel(struct statedir *sd, int i, const char *p)
{
	return p[sd->dirs[i].len] ? p + sd->dirs[i].len + 1 : ".";
}

/* Opens path beneath its state dir (live) or in the shadow, O_PATH, the final
 * component itself when it is a symlink. -ENOENT also for what lies behind a
 * symlink or a non-directory. */
int sd_open_live(struct statedir *sd, int i, const char *path, int flags)
{
	int fd = rs_open(sd->dirs[i].live, live_rel(sd, i, path), flags);

	return fd == -ELOOP || fd == -ENOTDIR ? -ENOENT : fd;
}

int sd_open_shadow(struct statedir *sd, const char *path, int flags)
{
	int fd = rs_open(sd->shadow, path + 1, flags);

	return fd == -ELOOP || fd == -ENOTDIR ? -ENOENT : fd;
}

/* 1 when the bytes of the two open files are equal, 0 when not, -errno. */
static int same_bytes(struct statedir *sd, int a, int b)
{
	off_t off = 0;

	for (;;) {
		ssize_t n = pread(a, sd->buf, IO_BUF / 2, off);
		ssize_t m = pread(b, sd->buf2, IO_BUF / 2, off);

		if (n < 0 || m < 0)
			return -errno;
		if (n != m || memcmp(sd->buf, sd->buf2, (size_t)n))
			return 0;
		if (!n)
			return 1;
		off += n;
	}
}

static bool supported(mode_t m)
{
	return S_ISREG(m) || S_ISDIR(m) || S_ISLNK(m);
}

/* The time of what verification emits now. */
static uint64_t verify_now(struct statedir *sd)
{
	return sd->verify_ts ? sd->verify_ts : ks_mono_ns();
}

/* Removes path from the shadow (and the deltas): it is gone from the live tree. */
static int remove_entry(struct statedir *sd, const char *path, const struct stat *ss)
{
	uint64_t ts = verify_now(sd);

	if (S_ISDIR(ss->st_mode))
		return sd_emit_simple(sd, KS_DOP_RMDIR, ts, 0, 0, path, NULL, NULL);
	return sd_emit_simple(sd, KS_DOP_UNLINK, ts, 0, 0, path, NULL, NULL);
}

/* Brings the entries of directory path (live lfd, shadow sfd) in line. */
static int reconcile_children(struct statedir *sd, const char *path, int lfd, int sfd,
			      int depth)
{
	char **names = NULL, child[PATH_MAX];
	size_t n = 0, cap = 0;
	int err = 0;

	for (int pass = 0; pass < 2; pass++) {
		int fd = openat(pass ? sfd : lfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct dirent *e;
		DIR *d;

		if (fd < 0)
			continue;
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			continue;
		}
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			err = KS_GROW(&names, &cap, n + 1);
			if (err)
				break;
			names[n] = strdup(e->d_name);
			if (!names[n]) {
				err = -ENOMEM;
				break;
			}
			n++;
		}
		closedir(d);
		if (err)
			break;
	}
	for (size_t i = 0; i < n && !err; i++) {
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = !strcmp(names[i], names[j]);
		if (dup)
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, names[i]) >= (int)sizeof(child))
			continue;
		err = sd_reconcile(sd, child, true, depth + 1);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

/* Makes the shadow (and so the deltas) agree with the live entry at path: what
 * differs is emitted with sd->flags (baseline, correction, or plain in the
 * fallback). Directories are compared entry by entry when recursive. */
int sd_reconcile(struct statedir *sd, const char *path, bool recursive, int depth)
{
	struct stat ls, ss;
	int i = sd_dir_of(sd, path), lfd, sfd, err = 0, same;
	bool have_s;
	uint64_t ts = verify_now(sd);

	if (i < 0 || depth > 256)
		return 0;
	if (!depth && strcmp(path, sd->dirs[i].path)) {
		/* an entry of a directory the shadow lacks: the directory first */
		char parent[PATH_MAX];
		char *slash;
		int pfd;

		snprintf(parent, sizeof(parent), "%s", path);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			pfd = sd_open_shadow(sd, parent, O_PATH | O_DIRECTORY);
			if (pfd < 0)
				return sd_reconcile(sd, parent, true, 0);
			close(pfd);
		}
	}
	lfd = sd_open_live(sd, i, path, O_PATH);
	if (lfd >= 0 && (fstat(lfd, &ls) || !supported(ls.st_mode))) {
		close(lfd);
		lfd = -ENOENT;
	}
	sfd = sd_open_shadow(sd, path, O_PATH);
	have_s = sfd >= 0 && !fstat(sfd, &ss);
	if (lfd < 0) {
		if (have_s)
			err = remove_entry(sd, path, &ss);
		goto out;
	}
	if (have_s && (ls.st_mode & S_IFMT) != (ss.st_mode & S_IFMT)) {
		err = remove_entry(sd, path, &ss);
		if (err)
			goto out;
		close(sfd);
		sfd = -1;
		have_s = false;
	}
	if (S_ISDIR(ls.st_mode)) {
		if (!have_s || (ls.st_mode & 07777) != (ss.st_mode & 07777)) {
			struct ks_delta a = { .mode = ls.st_mode & 07777, .uid = ls.st_uid,
					      .gid = ls.st_gid };

			err = sd_emit_simple(sd, have_s ? KS_DOP_CHMOD : KS_DOP_MKDIR, ts, 0, 0, path,
					  NULL, &a);
			if (err)
				goto out;
		}
		if (!recursive && have_s)
			goto out;
		if (sfd < 0)
			sfd = sd_open_shadow(sd, path, O_PATH);
		err = reconcile_children(sd, path, lfd, sfd, depth);
	} else if (S_ISLNK(ls.st_mode)) {
		char lt[KS_LINK_MAX + 1], st[KS_LINK_MAX + 1];
		ssize_t ln = readlinkat(lfd, "", lt, sizeof(lt) - 1);
		ssize_t sn = have_s ? readlinkat(sfd, "", st, sizeof(st) - 1) : -1;

		if (ln <= 0)
			goto out;
		if (sn != ln || memcmp(lt, st, (size_t)ln)) {
			struct ks_delta a = { .uid = ls.st_uid, .gid = ls.st_gid };

			if (have_s)
				err = sd_emit_simple(sd, KS_DOP_UNLINK, ts, 0, 0, path, NULL, NULL);
			a.op = KS_DOP_SYMLINK;
			a.ts = ts;
			err = err ?: sd_emit(sd, &a, 0, path, NULL, lt, (size_t)ln);
		}
	} else {
		const char *other = ls.st_nlink > 1 ? sd_ino_get(&sd->tr, ls.st_dev, ls.st_ino) : NULL;
		int rfd;

		if (other && strcmp(other, path)) {
			/* a hard link of a file seen already: is it one in the shadow too? */
			struct stat os, ol;
			int ofd = sd_open_shadow(sd, other, O_PATH);
			int olfd = sd_dir_of(sd, other) == i ? sd_open_live(sd, i, other, O_PATH) : -1;
			bool linked = ofd >= 0 && have_s && !fstat(ofd, &os) && os.st_ino == ss.st_ino;
			bool still = olfd >= 0 && !fstat(olfd, &ol) && ol.st_ino == ls.st_ino &&
				     ol.st_dev == ls.st_dev;

			if (ofd >= 0)
				close(ofd);
			if (olfd >= 0)
				close(olfd);
			if (still && !linked && ofd >= 0) {
				if (have_s)
					err = sd_emit_simple(sd, KS_DOP_UNLINK, ts, 0, 0, path, NULL, NULL);
				err = err ?: sd_emit_simple(sd, KS_DOP_LINK, ts, 0, 0, other, path, NULL);
				goto out;
			}
			if (still && linked)
				goto out; /* its bytes were compared through the other name */
		}
		if (ls.st_nlink > 1)
			sd_ino_put(&sd->tr, ls.st_dev, ls.st_ino, path);
		rfd = sd_open_live(sd, i, path, O_RDONLY);
		if (rfd < 0) {
			ks_debug("cannot read %s: %s", path, strerror(-rfd));
			goto out;
		}
		same = 0;
		if (have_s && ss.st_size == ls.st_size) {
			int srd = sd_open_shadow(sd, path, O_RDONLY);

			if (srd >= 0) {
				same = same_bytes(sd, rfd, srd);
				close(srd);
			}
		}
		if (same != 1) {
			err = sd_emit_content(sd, path, rfd, &ls, ts);
		} else if ((ls.st_mode & 07777) != (ss.st_mode & 07777)) {
			struct ks_delta a = { .mode = ls.st_mode & 07777 };

			err = sd_emit_simple(sd, KS_DOP_CHMOD, ts, 0, 0, path, NULL, &a);
		}
		close(rfd);
	}
out:
	if (lfd >= 0)
		close(lfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

/* ---- verification runs ------------------------------------------------------ */

static int verify_path(struct statedir *sd, const char *path, bool expected, uint64_t ts)
{
	int err;

	sd->verify_ts = ts;
	sd->verifying = true;
	sd->flags = sd->fsnotify ? 0 : expected ? KS_DF_READBACK : KS_DF_CORRECTION;
	err = sd_reconcile(sd, path, true, 0);
	sd->flags = 0;
	sd->verifying = false;
	sd->verify_ts = 0;
	return err;
}

int sd_verify_all(struct statedir *sd)
{
	int err = 0;

	for (int i = 0; i < sd->ndirs && !err; i++)
		err = verify_path(sd, sd->dirs[i].path, false, 0);
	return err;
}

struct due {
	char *path;
	bool expected;
	uint64_t ts;
};

static int due_cmp(const void *a, const void *b)
{
	const struct due *x = a, *y = b;

	if (x->expected != y->expected)
		return x->expected ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Verifies the paths due by now (all when everything is). Only while the
 * probes have been quiet for a moment: a file written under another name (a
 * hard link) or by another process would be ahead of the records drained, and
 * the difference a false correction. Paths read back by design go first, so
 * that a directory verified whole does not take them for corrections; parents
 * go before their entries. */
struct due_scan {
	uint64_t now;
	bool everything;
	struct track **t;
	size_t n, cap;
	int err;
};

static void scan_due(struct track *t, void *ctx)
{
	struct due_scan *sc = ctx;

	if (sc->err || (!sc->everything && (!t->due_ns || t->due_ns > sc->now)))
		return;
	sc->err = KS_GROW(&sc->t, &sc->cap, sc->n + 1);
	if (!sc->err)
		sc->t[sc->n++] = t;
}

int sd_verify_due(struct statedir *sd, uint64_t now, bool everything)
{
	struct due_scan sc = { .now = now, .everything = everything };
	struct due *due = NULL;
	size_t n = 0;
	int err;

	if (!everything && now - sd->last_record_ns < VERIFY_DELAY_NS &&
	    now - sd->last_verify_ns < VERIFY_MAX_WAIT_NS)
		return 0;
	sd->last_verify_ns = now;
	/* the due tracks first: the table is not walked while tracks leave it */
	sd_track_each(&sd->tr, scan_due, &sc);
	err = sc.err;
	if (!err && sc.n && !(due = calloc(sc.n, sizeof(*due))))
		err = -ENOMEM;
	for (size_t i = 0; i < sc.n && !err; i++) {
		struct track *t = sc.t[i];

		due[n].path = strdup(t->path);
		due[n].expected = t->expected || t->mapped;
		due[n].ts = due[n].expected ? t->event_ts : 0;
		if (!due[n].path) {
			err = -ENOMEM;
			break;
		}
		n++;
		if (t->mapped && !everything) {
			t->due_ns = 0;
			t->event_ts = 0;
		} else {
			sd_track_drop(&sd->tr, t);
		}
	}
	free(sc.t);
	if (n)
		ks_qsort(due, n, sizeof(*due), due_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!err)
			err = verify_path(sd, due[i].path, due[i].expected, due[i].ts);
		free(due[i].path);
	}
	free(due);
	return err;
}

