/* State directory capture. The baseline, the probes' records and the inotify
 * events all become deltas through one writer (format/delta.h), and every delta
 * is applied at once to a shadow copy of the state dirs (the restore engine on a
 * private directory). Verification compares the live tree with the shadow and
 * stores what differs as corrections: when a file is closed after writing, when
 * a traced process ends, and over everything at the end. The baseline itself is
 * the first such verification, against an empty shadow.
 *
 * Runs on the drain thread (the consumer's handlers and statedir_tick), so
 * nothing here is locked. Live files are opened beneath their state dir with no
 * symlink followed: a traced program cannot make the recorder read elsewhere. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/events.h"
#include "files.skel.h"
#include "format/delta.h"
#include "format/event.h"
#include "format/kserr.h"
#include "util/log.h"
#include "record/consumer.h"
#include "record/probes.h"
#include "record/statedir.h"
#include "fstree/tree.h"
#include "store/store.h"

#define IO_BUF (1u << 20)           /* a read-back or content block */
#define MAX_PENDING 64              /* threads with a write in pieces */
#define PENDING_TIMEOUT_NS (200ull * 1000 * 1000)
#define VERIFY_DELAY_NS (100ull * 1000 * 1000)   /* a closed file: verified after this */
#define VERIFY_MAX_WAIT_NS (5000ull * 1000 * 1000) /* ... or this, when never quiet */
#define INOTIFY_QUIET_NS (50ull * 1000 * 1000)   /* fallback: a change settles */
#define PACK_FLUSH_NS (100ull * 1000 * 1000)     /* deltas wait for their pack at most */
#define INOTIFY_MAX_WAIT_NS (500ull * 1000 * 1000)

struct sd_dir {
	char *path;
	size_t len;
	int fd;
	struct rs_tree *live; /* opens beneath the state dir, for reading */
	uint32_t kdev;        /* kernel encoding */
	uint64_t ino;
};

/* A path changed since it was last verified. */
struct track {
	struct track *next;
	uint64_t changed_ns;
	uint64_t due_ns;   /* verify from then on; 0: not due */
	bool mapped;       /* shared writable mapping: verify on msync, munmap, exit */
	bool expected;     /* the probes could not carry the change: reading it back is
			      the capture, not a correction */
	uint64_t event_ts; /* expected: when the change happened (the deltas' time) */
	char path[];
};

/* A write in pieces (KS_EVF_F_MORE), gathered until its last piece. */
struct pending {
	bool used;
	uint32_t tid, pid;
	uint64_t ts, off, seen_ns;
	char *path;
	uint8_t *buf;
	size_t len, cap;
};

/* Dirty ranges of a file the probes left to be read back while the ring was
 * busy: merged, and read back once per tick. */
struct deferred {
	struct deferred *next;
	uint64_t ts;   /* the last of its writes */
	uint32_t pid;
	size_t n, cap;
	uint64_t (*r)[2]; /* [start, end) */
	char path[];
};

/* Live (dev, ino) -> a path, for hard links found by verification. */
struct ino_ent {
	struct ino_ent *next;
	uint64_t dev, ino;
	char path[];
};

struct statedir {
	struct sd_dir *dirs;
	int ndirs;
	struct ks_store *store;
	struct consumer *c;
	struct ks_delta_writer *w;
	char shadow_path[PATH_MAX];
	struct rs_tree *shadow;
	struct files_bpf *skel;
	int ifd;                 /* inotify */
	char **wds;              /* wd -> watched directory */
	int nwds;
	struct track **tracks;
	size_t tcap, ntracks;
	struct pending pend[MAX_PENDING];
	struct deferred *deferred;
	struct ino_ent **inos;
	size_t icap;
	bool sweep_due;          /* fallback: an overflow; everything is verified */
	uint64_t sweep_due_ns;
	uint8_t *buf, *buf2;
	uint64_t baseline_stored;
	uint8_t flags;           /* KS_DF_* of the deltas being made now */
	bool verifying;          /* reconciling: what it emits is not a change to verify */
	uint64_t verify_ts;      /* the time of what verification emits (0: now) */
	uint64_t last_record_ns; /* the last record of the probes */
	uint64_t last_flush_ns;
	uint64_t last_verify_ns;
	bool fsnotify;
	struct statedir_stats st;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* ---- puts ------------------------------------------------------------------- */

static int put_store(void *ctx, int db, const void *k, size_t kl, const void *v, size_t vl)
{
	return ks_store_put(ctx, db == KS_DW_FILES ? KS_DB_FILES : KS_DB_DELTAS, k, kl, v, vl);
}

static int put_consumer(void *ctx, int db, const void *k, size_t kl, const void *v, size_t vl)
{
	return consumer_put(ctx, db == KS_DW_FILES ? KS_DB_FILES : KS_DB_DELTAS, k, kl, v, vl);
}

/* ---- paths ------------------------------------------------------------------ */

/* The state dir holding absolute path p, or -1. */
static int dir_of(struct statedir *sd, const char *p)
{
	for (int i = 0; i < sd->ndirs; i++) {
		const struct sd_dir *d = &sd->dirs[i];

		if (!strncmp(p, d->path, d->len) && (p[d->len] == '\0' || p[d->len] == '/'))
			return i;
	}
	return -1;
}

/* p relative to its state dir ("." for the dir itself). */
static const char *live_rel(struct statedir *sd, int i, const char *p)
{
	return p[sd->dirs[i].len] ? p + sd->dirs[i].len + 1 : ".";
}

/* Joins and normalizes lexically ("." and ".." and repeated '/'), as the kernel
 * resolved it when no symlink was on the way. Returns false when it does not fit. */
static bool normalize(const char *a, const char *b, char *out, size_t cap)
{
	char tmp[PATH_MAX * 2 + 2];
	size_t o = 0;
	char *save = NULL, *tok;

	if (snprintf(tmp, sizeof(tmp), "%s/%s", b[0] == '/' ? "" : a, b) >= (int)sizeof(tmp))
		return false;
	for (tok = strtok_r(tmp, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		size_t n = strlen(tok);

		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			while (o && out[o - 1] != '/')
				o--;
			if (o)
				o--;
			continue;
		}
		if (o + 1 + n + 1 > cap)
			return false;
		out[o++] = '/';
		memcpy(out + o, tok, n);
		o += n;
	}
	if (!o) {
		if (cap < 2)
			return false;
		out[o++] = '/';
	}
	out[o] = '\0';
	return true;
}

/* ---- tracking what changed ---------------------------------------------------- */

static struct track *track_get(struct statedir *sd, const char *path, bool create)
{
	struct track **b, *t;
	size_t n;

	if (!sd->tcap) {
		if (!create)
			return NULL;
		sd->tcap = 256;
		sd->tracks = calloc(sd->tcap, sizeof(*sd->tracks));
		if (!sd->tracks) {
			sd->tcap = 0;
			return NULL;
		}
	}
	b = &sd->tracks[hash_str(path) & (sd->tcap - 1)];
	for (t = *b; t; t = t->next)
		if (!strcmp(t->path, path))
			return t;
	if (!create)
		return NULL;
	n = strlen(path);
	t = calloc(1, sizeof(*t) + n + 1);
	if (!t)
		return NULL;
	memcpy(t->path, path, n + 1);
	t->next = *b;
	*b = t;
	sd->ntracks++;
	if (sd->ntracks > sd->tcap * 2) {
		size_t nc = sd->tcap * 4;
		struct track **nt = calloc(nc, sizeof(*nt));

		if (nt) {
			for (size_t i = 0; i < sd->tcap; i++)
				while (sd->tracks[i]) {
					struct track *x = sd->tracks[i];

					sd->tracks[i] = x->next;
					x->next = nt[hash_str(x->path) & (nc - 1)];
					nt[hash_str(x->path) & (nc - 1)] = x;
				}
			free(sd->tracks);
			sd->tracks = nt;
			sd->tcap = nc;
		}
	}
	return t;
}

static void track_drop(struct statedir *sd, struct track *t)
{
	struct track **b = &sd->tracks[hash_str(t->path) & (sd->tcap - 1)];

	for (; *b; b = &(*b)->next)
		if (*b == t) {
			*b = t->next;
			free(t);
			sd->ntracks--;
			return;
		}
}

/* A verification waits until its path has been quiet for VERIFY_DELAY_NS: the
 * live file is then what the drained records say, not ahead of them. */
static void changed(struct statedir *sd, const char *path)
{
	struct track *t = track_get(sd, path, true);
	uint64_t now = mono_ns();

	if (!t)
		return;
	t->changed_ns = now;
	if (t->due_ns && t->due_ns < now + VERIFY_DELAY_NS)
		t->due_ns = now + VERIFY_DELAY_NS;
}

/* ts: when the change that could not be carried happened (expected), or 0. */
static void make_due_at(struct statedir *sd, const char *path, bool expected, uint64_t ts)
{
	struct track *t = track_get(sd, path, true);

	if (!t)
		return;
	t->due_ns = mono_ns() + VERIFY_DELAY_NS;
	t->expected |= expected;
	if (expected && ts && (!t->event_ts || ts < t->event_ts))
		t->event_ts = ts;
}

static void make_due(struct statedir *sd, const char *path, bool expected)
{
	make_due_at(sd, path, expected, 0);
}

/* ---- hard links ----------------------------------------------------------- */

static const char *ino_get(struct statedir *sd, uint64_t dev, uint64_t ino)
{
	struct ino_ent *e;

	if (!sd->icap)
		return NULL;
	for (e = sd->inos[(ino ^ dev * 31) & (sd->icap - 1)]; e; e = e->next)
		if (e->dev == dev && e->ino == ino)
			return e->path;
	return NULL;
}

static void ino_put(struct statedir *sd, uint64_t dev, uint64_t ino, const char *path)
{
	struct ino_ent **b, *e;
	size_t n = strlen(path);

	if (!sd->icap) {
		sd->inos = calloc(4096, sizeof(*sd->inos));
		if (!sd->inos)
			return;
		sd->icap = 4096;
	}
	b = &sd->inos[(ino ^ dev * 31) & (sd->icap - 1)];
	for (e = *b; e; e = e->next)
		if (e->dev == dev && e->ino == ino)
			break;
	if (e && strlen(e->path) >= n) {
		memcpy(e->path, path, n + 1);
		return;
	}
	if (e) {
		/* a longer path: replace the entry */
		struct ino_ent **p;

		for (p = b; *p != e; p = &(*p)->next)
			;
		*p = e->next;
		free(e);
	}
	e = malloc(sizeof(*e) + n + 1);
	if (!e)
		return;
	e->dev = dev;
	e->ino = ino;
	memcpy(e->path, path, n + 1);
	e->next = *b;
	*b = e;
}

/* ---- deltas ------------------------------------------------------------------ */

static void add_row(struct statedir *sd, const struct ks_delta *d, uint32_t tid, uint64_t bytes)
{
	struct ks_file row = {
		.ts = d->ts, .pid = d->pid, .tid = tid, .op = d->op, .flags = d->flags,
		.file = d->file, .seq = d->seq, .offset = d->offset, .bytes = bytes,
	};

	if (sd->c)
		consumer_add_row(sd->c, KS_KIND_FILE, &row);
}

/* Does d (raw payload data) to the shadow. It fails where restore would fail:
 * the delta is then not written, and the path is verified instead. */
static int shadow_apply(struct statedir *sd, const struct ks_delta *d, const char *path,
			 const char *path2, const void *data, size_t len)
{
	const char *r = path + 1, *r2 = path2 ? path2 + 1 : NULL;
	char target[KS_LINK_MAX + 1];
	int err = 0;

	switch (d->op) {
	case KS_DOP_MKDIR:
		err = rs_mkdir(sd->shadow, r, d->mode, UINT32_MAX, UINT32_MAX);
		break;
	case KS_DOP_CREATE:
		err = rs_create(sd->shadow, r, d->mode, UINT32_MAX, UINT32_MAX);
		break;
	case KS_DOP_WRITE:
		err = rs_write(sd->shadow, r, d->offset, data, len);
		break;
	case KS_DOP_TRUNCATE:
		err = rs_truncate(sd->shadow, r, d->length);
		break;
	case KS_DOP_UNLINK:
		err = rs_unlink(sd->shadow, r);
		break;
	case KS_DOP_RMDIR:
		err = rs_rmdir(sd->shadow, r);
		break;
	case KS_DOP_RENAME:
		err = rs_rename(sd->shadow, r, r2, d->arg);
		break;
	case KS_DOP_SYMLINK:
		memcpy(target, data, len);
		target[len] = '\0';
		err = rs_symlink(sd->shadow, r, target, UINT32_MAX, UINT32_MAX);
		break;
	case KS_DOP_LINK:
		err = rs_link(sd->shadow, r, r2);
		break;
	case KS_DOP_CHMOD:
		err = rs_chmod(sd->shadow, r, d->mode);
		break;
	case KS_DOP_FALLOCATE:
		err = rs_fallocate(sd->shadow, r, d->arg, d->offset, d->length);
		break;
	default:
		break;
	}
	if (err)
		ks_debug("state dir shadow: %s; verifying instead", rs_tree_error(sd->shadow));
	return err;
}

/* Applies delta d about path (and path2) to the shadow, then writes it with its
 * payload and lists it among the file events. A delta the shadow refuses is not
 * written (restore would refuse it too): its paths are verified instead. */
static int emit(struct statedir *sd, struct ks_delta *d, uint32_t tid, const char *path,
		const char *path2, const void *data, size_t len)
{
	int err;

	if (d->op == KS_DOP_SYMLINK && (!len || len > KS_LINK_MAX))
		return 0;
	d->flags |= sd->flags;
	if (shadow_apply(sd, d, path, path2, data, len)) {
		make_due(sd, path, false);
		if (path2)
			make_due(sd, path2, false);
		return 0;
	}
	err = ks_dw_file(sd->w, path, strlen(path), &d->file);
	if (!err && path2)
		err = ks_dw_file(sd->w, path2, strlen(path2), &d->file2);
	if (!err)
		err = ks_dw_add(sd->w, d, data, len);
	if (err)
		return err;
	add_row(sd, d, tid, d->op == KS_DOP_WRITE ? len : d->length);
	sd->st.deltas++;
	if (d->flags & KS_DF_CORRECTION)
		sd->st.corrections++;
	if (!sd->verifying) {
		changed(sd, path);
		if (path2)
			changed(sd, path2);
	}
	return 0;
}

static int emit_simple(struct statedir *sd, unsigned op, uint64_t ts, uint32_t pid, uint32_t tid,
		       const char *path, const char *path2, const struct ks_delta *args)
{
	struct ks_delta d = { 0 };

	if (args)
		d = *args;
	d.op = (uint8_t)op;
	d.ts = ts;
	d.pid = pid;
	return emit(sd, &d, tid, path, path2, NULL, 0);
}

/* CONTENT of path from the live file open at fd (read to its end): streamed
 * into chunks and into the shadow. */
static int emit_content(struct statedir *sd, const char *path, int fd, const struct stat *sb,
			uint64_t ts)
{
	struct ks_delta d = {
		.op = KS_DOP_CONTENT, .ts = ts, .mode = sb->st_mode & 07777, .uid = sb->st_uid,
		.gid = sb->st_gid, .flags = sd->flags,
	};
	uint64_t total = 0;
	int sfd = -1, err;
	ssize_t n;

	err = ks_dw_file(sd->w, path, strlen(path), &d.file);
	err = err ?: ks_dw_content_begin(sd->w, &d);
	if (err)
		return err;
	if (rs_content_begin(sd->shadow, path + 1, &sfd)) {
		/* what the shadow refuses restore would: no delta */
		ks_debug("state dir shadow: %s", rs_tree_error(sd->shadow));
		ks_dw_content_abort(sd->w);
		return 0;
	}
	while ((n = pread(fd, sd->buf, IO_BUF, (off_t)total)) > 0) {
		err = ks_dw_content_data(sd->w, sd->buf, (size_t)n);
		if (err)
			break;
		if (pwrite(sfd, sd->buf, (size_t)n, (off_t)total) != n) {
			ks_debug("state dir shadow: cannot write %s: %s", path, strerror(errno));
			ks_dw_content_abort(sd->w);
			close(sfd);
			return 0;
		}
		total += (uint64_t)n;
	}
	if (n < 0 && !err)
		ks_debug("cannot read %s: %s", path, strerror(errno));
	if (err) {
		ks_dw_content_abort(sd->w);
		close(sfd);
		return err;
	}
	if (rs_content_finish(sd->shadow, path + 1, sfd, total, d.mode, UINT32_MAX, UINT32_MAX)) {
		ks_debug("state dir shadow: %s", rs_tree_error(sd->shadow));
		ks_dw_content_abort(sd->w);
		return 0;
	}
	err = ks_dw_content_end(sd->w, total, &d.seq);
	d.length = total;
	if (err)
		return err;
	add_row(sd, &d, 0, total);
	sd->st.deltas++;
	if (d.flags & KS_DF_CORRECTION)
		sd->st.corrections++;
	if (d.flags & KS_DF_READBACK)
		sd->st.readback_bytes += total;
	return 0;
}

/* ---- verification: the live tree against the shadow ---------------------------- */

/* Opens path beneath its state dir (live) or in the shadow, O_PATH, the final
 * component itself when it is a symlink. -ENOENT also for what lies behind a
 * symlink or a non-directory. */
static int open_live(struct statedir *sd, int i, const char *path, int flags)
{
	int fd = rs_open(sd->dirs[i].live, live_rel(sd, i, path), flags);

	return fd == -ELOOP || fd == -ENOTDIR ? -ENOENT : fd;
}

static int open_shadow(struct statedir *sd, const char *path, int flags)
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

static int reconcile(struct statedir *sd, const char *path, bool recursive, int depth);

/* Removes path from the shadow (and the deltas): it is gone from the live tree. */
static uint64_t verify_now(struct statedir *sd)
{
	return sd->verify_ts ? sd->verify_ts : mono_ns();
}

static int remove_entry(struct statedir *sd, const char *path, const struct stat *ss)
{
	uint64_t ts = verify_now(sd);

	if (S_ISDIR(ss->st_mode))
		return emit_simple(sd, KS_DOP_RMDIR, ts, 0, 0, path, NULL, NULL);
	return emit_simple(sd, KS_DOP_UNLINK, ts, 0, 0, path, NULL, NULL);
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
			if (n == cap) {
				char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*nn));

				if (!nn) {
					err = -ENOMEM;
					break;
				}
				names = nn;
			}
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
		err = reconcile(sd, child, true, depth + 1);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

/* Makes the shadow (and so the deltas) agree with the live entry at path: what
 * differs is emitted with sd->flags (baseline, correction, or plain in the
 * fallback). Directories are compared entry by entry when recursive. */
static int reconcile(struct statedir *sd, const char *path, bool recursive, int depth)
{
	struct stat ls, ss;
	int i = dir_of(sd, path), lfd, sfd, err = 0, same;
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
			pfd = open_shadow(sd, parent, O_PATH | O_DIRECTORY);
			if (pfd < 0)
				return reconcile(sd, parent, true, 0);
			close(pfd);
		}
	}
	lfd = open_live(sd, i, path, O_PATH);
	if (lfd >= 0 && (fstat(lfd, &ls) || !supported(ls.st_mode))) {
		close(lfd);
		lfd = -ENOENT;
	}
	sfd = open_shadow(sd, path, O_PATH);
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

			err = emit_simple(sd, have_s ? KS_DOP_CHMOD : KS_DOP_MKDIR, ts, 0, 0, path,
					  NULL, &a);
			if (err)
				goto out;
		}
		if (!recursive && have_s)
			goto out;
		if (sfd < 0)
			sfd = open_shadow(sd, path, O_PATH);
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
				err = emit_simple(sd, KS_DOP_UNLINK, ts, 0, 0, path, NULL, NULL);
			a.op = KS_DOP_SYMLINK;
			a.ts = ts;
			err = err ?: emit(sd, &a, 0, path, NULL, lt, (size_t)ln);
		}
	} else {
		const char *other = ls.st_nlink > 1 ? ino_get(sd, ls.st_dev, ls.st_ino) : NULL;
		int rfd;

		if (other && strcmp(other, path)) {
			/* a hard link of a file seen already: is it one in the shadow too? */
			struct stat os, ol;
			int ofd = open_shadow(sd, other, O_PATH);
			int olfd = dir_of(sd, other) == i ? open_live(sd, i, other, O_PATH) : -1;
			bool linked = ofd >= 0 && have_s && !fstat(ofd, &os) && os.st_ino == ss.st_ino;
			bool still = olfd >= 0 && !fstat(olfd, &ol) && ol.st_ino == ls.st_ino &&
				     ol.st_dev == ls.st_dev;

			if (ofd >= 0)
				close(ofd);
			if (olfd >= 0)
				close(olfd);
			if (still && !linked && ofd >= 0) {
				if (have_s)
					err = emit_simple(sd, KS_DOP_UNLINK, ts, 0, 0, path, NULL, NULL);
				err = err ?: emit_simple(sd, KS_DOP_LINK, ts, 0, 0, other, path, NULL);
				goto out;
			}
			if (still && linked)
				goto out; /* its bytes were compared through the other name */
		}
		if (ls.st_nlink > 1)
			ino_put(sd, ls.st_dev, ls.st_ino, path);
		rfd = open_live(sd, i, path, O_RDONLY);
		if (rfd < 0) {
			ks_debug("cannot read %s: %s", path, strerror(-rfd));
			goto out;
		}
		same = 0;
		if (have_s && ss.st_size == ls.st_size) {
			int srd = open_shadow(sd, path, O_RDONLY);

			if (srd >= 0) {
				same = same_bytes(sd, rfd, srd);
				close(srd);
			}
		}
		if (same != 1) {
			err = emit_content(sd, path, rfd, &ls, ts);
		} else if ((ls.st_mode & 07777) != (ss.st_mode & 07777)) {
			struct ks_delta a = { .mode = ls.st_mode & 07777 };

			err = emit_simple(sd, KS_DOP_CHMOD, ts, 0, 0, path, NULL, &a);
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

/* ---- the probes' records ----------------------------------------------------- */

static int read_back(struct statedir *sd, const char *path, uint64_t off, uint64_t len,
		     uint8_t *dst, size_t *got)
{
	int i = dir_of(sd, path), fd;
	ssize_t n;

	*got = 0;
	if (i < 0)
		return -ENOENT;
	fd = open_live(sd, i, path, O_RDONLY);
	if (fd < 0)
		return fd;
	n = pread(fd, dst, (size_t)len, (off_t)off);
	close(fd);
	if (n < 0)
		return -errno;
	*got = (size_t)n;
	return 0;
}

/* Emits the write gathered in p, then (rb_len > 0) the bytes of
 * [rb_off, rb_off + rb_len) read back from the file: one atomic change of one or
 * more WRITE deltas. */
static int finish_write(struct statedir *sd, struct pending *p, uint64_t rb_off, uint64_t rb_len)
{
	struct ks_delta d = { .op = KS_DOP_WRITE, .ts = p->ts, .pid = p->pid, .offset = p->off };
	size_t got = 0, want;
	int err = 0;

	if (rb_len) {
		want = rb_len > IO_BUF ? IO_BUF : (size_t)rb_len;
		if (read_back(sd, p->path, rb_off, want, sd->buf, &got))
			got = 0;
		/* gone, moved or cut short since: what is there is verified */
		if (got < want)
			make_due_at(sd, p->path, true, p->ts);
	}
	if (p->len) {
		d.length = p->len;
		d.flags = got ? KS_DF_MORE : 0;
		err = emit(sd, &d, p->tid, p->path, NULL, p->buf, p->len);
	}
	while (!err && got) {
		size_t cur = got;

		sd->st.readback_bytes += cur;
		rb_len -= cur;
		d = (struct ks_delta){ .op = KS_DOP_WRITE, .ts = p->ts, .pid = p->pid,
				       .offset = rb_off, .length = cur, .flags = KS_DF_READBACK };
		rb_off += cur;
		got = 0;
		if (rb_len && cur == IO_BUF) {
			/* the next block goes to buf2 so that this one is still whole */
			want = rb_len > IO_BUF ? IO_BUF : (size_t)rb_len;
			if (read_back(sd, p->path, rb_off, want, sd->buf2, &got))
				got = 0;
		}
		if (got)
			d.flags |= KS_DF_MORE;
		err = emit(sd, &d, p->tid, p->path, NULL, sd->buf, cur);
		if (got)
			memcpy(sd->buf, sd->buf2, got);
	}
	free(p->path);
	free(p->buf);
	memset(p, 0, sizeof(*p));
	return err;
}

static struct pending *pending_of(struct statedir *sd, uint32_t tid)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (sd->pend[i].used && sd->pend[i].tid == tid)
			return &sd->pend[i];
	return NULL;
}

static struct pending *pending_new(struct statedir *sd, const struct ks_ev_file *e,
				   const char *path)
{
	struct pending *p = NULL;

	for (int i = 0; i < MAX_PENDING && !p; i++)
		if (!sd->pend[i].used)
			p = &sd->pend[i];
	if (!p) {
		/* too many threads writing in pieces at once: the oldest goes now */
		p = &sd->pend[0];
		for (int i = 1; i < MAX_PENDING; i++)
			if (sd->pend[i].seen_ns < p->seen_ns)
				p = &sd->pend[i];
		make_due_at(sd, p->path, true, p->ts);
		finish_write(sd, p, 0, 0);
	}
	p->path = strdup(path);
	if (!p->path)
		return NULL;
	p->used = true;
	p->tid = e->tid;
	p->pid = e->pid;
	p->ts = e->ts;
	p->off = e->off;
	p->seen_ns = mono_ns();
	sd->st.syscall_bytes += e->total;
	return p;
}

static int defer_range(struct statedir *sd, const struct ks_ev_file *e, const char *path)
{
	struct deferred *d;

	for (d = sd->deferred; d && strcmp(d->path, path); d = d->next)
		;
	if (!d) {
		size_t n = strlen(path);

		d = calloc(1, sizeof(*d) + n + 1);
		if (!d)
			return -ENOMEM;
		memcpy(d->path, path, n + 1);
		d->next = sd->deferred;
		sd->deferred = d;
	}
	if (d->n && d->r[d->n - 1][1] == e->off) {
		d->r[d->n - 1][1] = e->off + e->len; /* an append to the last one */
	} else {
		if (d->n == d->cap) {
			size_t nc = d->cap ? d->cap * 2 : 16;
			uint64_t (*nr)[2] = realloc(d->r, nc * sizeof(*nr));

			if (!nr)
				return -ENOMEM;
			d->r = nr;
			d->cap = nc;
		}
		d->r[d->n][0] = e->off;
		d->r[d->n][1] = e->off + e->len;
		d->n++;
	}
	if (e->ts > d->ts)
		d->ts = e->ts;
	d->pid = e->pid;
	sd->st.syscall_bytes += e->total;
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Reads back the deferred ranges, merged: the bytes they have now, at the time
 * of the last write (later than some of them were: an overload costs precision
 * in time, never bytes). */
static int flush_deferred(struct statedir *sd)
{
	int err = 0;

	while (sd->deferred) {
		struct deferred *d = sd->deferred;
		size_t m = 0;

		sd->deferred = d->next;
		qsort(d->r, d->n, sizeof(*d->r), range_cmp);
		for (size_t i = 1; i < d->n; i++) {
			if (d->r[i][0] <= d->r[m][1]) {
				if (d->r[i][1] > d->r[m][1])
					d->r[m][1] = d->r[i][1];
			} else {
				m++;
				d->r[m][0] = d->r[i][0];
				d->r[m][1] = d->r[i][1];
			}
		}
		for (size_t i = 0; d->n && i <= m && !err; i++) {
			struct pending p = { .used = true, .ts = d->ts, .pid = d->pid,
					     .off = d->r[i][0], .path = strdup(d->path) };

			if (!p.path)
				err = -ENOMEM;
			else
				err = finish_write(sd, &p, d->r[i][0], d->r[i][1] - d->r[i][0]);
		}
		free(d->r);
		free(d);
	}
	return err;
}

static int on_write(struct statedir *sd, const struct ks_ev_file *e, const char *path,
		    const uint8_t *data)
{
	struct pending *p = pending_of(sd, e->tid);
	unsigned what = e->type >> 16;
	int err = 0;

	if (p && (p->ts != e->ts || strcmp(p->path, path) || p->off + p->len != e->off)) {
		/* the rest of p was lost: what came is stored, the file verified */
		make_due_at(sd, p->path, true, p->ts);
		err = finish_write(sd, p, 0, 0);
		p = NULL;
	}
	if (!p && what == KS_EVF_DIRTY && (e->flags & KS_EVF_F_BUSY) && !(e->flags & KS_EVF_F_FAULT))
		return defer_range(sd, e, path) ?: err;
	if (!p && !(p = pending_new(sd, e, path)))
		return -ENOMEM;
	if (what == KS_EVF_DIRTY) {
		if (e->flags & KS_EVF_F_FAULT)
			make_due_at(sd, path, true, e->ts);
		return finish_write(sd, p, e->off, e->len) ?: err;
	}
	if (p->len + e->dlen > p->cap) {
		size_t nc = p->cap ? p->cap : 16384;
		uint8_t *nb;

		while (nc < p->len + e->dlen)
			nc *= 2;
		nb = realloc(p->buf, nc);
		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->cap = nc;
	}
	memcpy(p->buf + p->len, data, e->dlen);
	p->len += e->dlen;
	if (!(e->flags & KS_EVF_F_MORE))
		err = finish_write(sd, p, 0, 0) ?: err;
	return err;
}


/* The paths of a KS_EVF_NAME record: s1 (or s3) is the directory the argument
 * s2 (or s4) is relative to, under state dir dir, or from the root when abs. */
static bool name_path(struct statedir *sd, uint32_t dir, bool abs, const char *base, size_t blen,
		      const char *arg, size_t alen, char *out)
{
	char b[PATH_MAX], a[PATH_MAX];

	if (!alen || blen >= sizeof(b) - 1 || alen >= sizeof(a))
		return false;
	if (abs) {
		b[0] = '/';
		memcpy(b + 1, base, blen);
		b[blen + 1] = '\0';
	} else {
		if (dir >= (uint32_t)sd->ndirs)
			return false;
		if (snprintf(b, sizeof(b), "%s%s%.*s", sd->dirs[dir].path, blen ? "/" : "",
			     (int)blen, base) >= (int)sizeof(b))
			return false;
	}
	memcpy(a, arg, alen);
	a[alen] = '\0';
	return normalize(b, a, out, PATH_MAX);
}

static bool nr_is(long nr, long a, long b)
{
	return nr == a || nr == b;
}

#ifndef SYS_rename
/* the generic syscall table (arm64) has no legacy calls */
#define SYS_rename -1
#define SYS_link -2
#define SYS_symlink -3
#define SYS_mkdir -4
#define SYS_rmdir -5
#define SYS_unlink -6
#define SYS_chmod -7
#define SYS_chown -8
#define SYS_lchown -9
#define SYS_mknod -10
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static bool shadow_is_link(struct statedir *sd, const char *path)
{
	struct stat sb;
	int fd = open_shadow(sd, path, O_PATH);
	bool r = fd >= 0 && !fstat(fd, &sb) && S_ISLNK(sb.st_mode);

	if (fd >= 0)
		close(fd);
	return r;
}

static bool shadow_has(struct statedir *sd, const char *path)
{
	int fd = open_shadow(sd, path, O_PATH);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A namespace operation by path: the same delta when both ends are in the
 * state dirs; a move or link across their border is verified instead (what
 * arrived is read, what left is removed). */
static int on_name(struct statedir *sd, const struct ks_ev_file *e, const char *s1,
		   const char *s2, const char *s3, const char *s4)
{
	char p1[PATH_MAX], p2[PATH_MAX], target[KS_LINK_MAX + 1];
	struct ks_delta a = { .mode = e->mode & 07777, .uid = e->uid, .gid = e->gid,
			      .length = e->len };
	long nr = e->nr;
	bool two = nr_is(nr, SYS_rename, SYS_renameat) || nr == SYS_renameat2 ||
		   nr_is(nr, SYS_link, SYS_linkat);
	bool in1, in2 = false;

	if (!name_path(sd, e->dir, e->flags & KS_EVF_F_ABS1, s1, e->len1, s2, e->len2, p1)) {
		/* linkat(fd, "", ..., AT_EMPTY_PATH), an O_TMPFILE given a name: what
		 * appeared is read */
		if (two && name_path(sd, e->dir3, e->flags & KS_EVF_F_ABS3, s3, e->len3, s4,
				     e->len4, p2) && dir_of(sd, p2) >= 0)
			make_due_at(sd, p2, true, e->ts);
		return 0;
	}
	in1 = dir_of(sd, p1) >= 0;
	if (two) {
		if (!name_path(sd, e->dir3, e->flags & KS_EVF_F_ABS3, s3, e->len3, s4, e->len4, p2))
			return 0;
		in2 = dir_of(sd, p2) >= 0;
	}
	if (!in1 && !in2)
		return 0;
	if (e->flags & KS_EVF_F_LONG) {
		if (in1)
			make_due_at(sd, p1, true, e->ts);
		if (in2)
			make_due_at(sd, p2, true, e->ts);
		return 0;
	}
	if (two) {
		bool link = nr_is(nr, SYS_link, SYS_linkat);

		/* linkat with AT_SYMLINK_FOLLOW links what a symlink points to */
		if (in1 && in2 && shadow_has(sd, p1) &&
		    !(link && (e->arg & AT_SYMLINK_FOLLOW) && shadow_is_link(sd, p1))) {
			if (!link)
				a.arg = nr == SYS_renameat2 ? e->arg : 0;
			return emit_simple(sd, link ? KS_DOP_LINK : KS_DOP_RENAME, e->ts, e->pid,
					   e->tid, p1, p2, &a);
		}
		if (in1)
			make_due_at(sd, p1, true, e->ts);
		if (in2)
			make_due_at(sd, p2, true, e->ts);
		return 0;
	}
	if (nr_is(nr, SYS_mkdir, SYS_mkdirat))
		return emit_simple(sd, KS_DOP_MKDIR, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr == SYS_rmdir || (nr == SYS_unlinkat && (e->arg & AT_REMOVEDIR)))
		return emit_simple(sd, KS_DOP_RMDIR, e->ts, e->pid, e->tid, p1, NULL, NULL);
	if (nr_is(nr, SYS_unlink, SYS_unlinkat))
		return emit_simple(sd, KS_DOP_UNLINK, e->ts, e->pid, e->tid, p1, NULL, NULL);
	if (nr_is(nr, SYS_symlink, SYS_symlinkat)) {
		struct ks_delta d = { .op = KS_DOP_SYMLINK, .ts = e->ts, .pid = e->pid,
				      .uid = e->uid, .gid = e->gid };

		if (!e->len4 || e->len4 > KS_LINK_MAX)
			return 0;
		memcpy(target, s4, e->len4);
		return emit(sd, &d, e->tid, p1, NULL, target, e->len4);
	}
	/* what follows acts on what a final symlink points to: verified instead */
	if (shadow_is_link(sd, p1) &&
	    !(nr_is(nr, SYS_lchown, SYS_fchownat) &&
	      (nr == SYS_lchown || (e->arg & AT_SYMLINK_NOFOLLOW)))) {
		make_due_at(sd, p1, true, e->ts);
		return 0;
	}
	if (nr == SYS_truncate)
		return emit_simple(sd, KS_DOP_TRUNCATE, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr_is(nr, SYS_chmod, SYS_fchmodat) || nr == SYS_fchmodat2)
		return emit_simple(sd, KS_DOP_CHMOD, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr_is(nr, SYS_chown, SYS_lchown) || nr == SYS_fchownat)
		return emit_simple(sd, KS_DOP_CHOWN, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr_is(nr, SYS_mknod, SYS_mknodat))
		return emit_simple(sd, KS_DOP_CREATE, e->ts, e->pid, e->tid, p1, NULL, &a);
	return 0;
}

/* ts: a msync or munmap (mapped_only): when the mapped bytes were written. */
static void all_due(struct statedir *sd, bool mapped_only, uint64_t ts)
{
	uint64_t when = mono_ns() + VERIFY_DELAY_NS;

	for (size_t i = 0; i < sd->tcap; i++)
		for (struct track *t = sd->tracks[i]; t; t = t->next) {
			if (mapped_only && !t->mapped)
				continue;
			if (!t->due_ns || when < t->due_ns)
				t->due_ns = when;
			if (mapped_only && (!t->event_ts || ts < t->event_ts))
				t->event_ts = ts;
		}
}

static int on_record(void *ctx, const void *data, size_t size)
{
	struct statedir *sd = ctx;
	const struct ks_ev_file *e = data;
	const char *s1, *s2, *s3, *s4;
	const uint8_t *bytes;
	char path[PATH_MAX];
	unsigned what;
	struct pending *p;
	struct ks_delta a = { 0 };
	size_t slen;
	int err = 0;

	if (size < sizeof(*e))
		return 0;
	slen = (size_t)e->len1 + e->len2 + e->len3 + e->len4;
	if (sizeof(*e) + slen + e->dlen > size)
		return 0;
	s1 = (const char *)(e + 1);
	s2 = s1 + e->len1;
	s3 = s2 + e->len2;
	s4 = s3 + e->len3;
	bytes = (const uint8_t *)(s4 + e->len4);
	if (memchr(s1, '\0', slen))
		return 0;
	sd->last_record_ns = mono_ns();
	what = e->type >> 16;
	p = pending_of(sd, e->tid);
	if (p && what != KS_EVF_WRITE && what != KS_EVF_DIRTY) {
		make_due_at(sd, p->path, true, p->ts);
		err = finish_write(sd, p, 0, 0);
	}
	switch (what) {
	case KS_EVF_EXIT:
		all_due(sd, false, 0);
		return err;
	case KS_EVF_MSYNC:
		all_due(sd, true, e->ts);
		return err;
	case KS_EVF_NAME:
		return on_name(sd, e, s1, s2, s3, s4) ?: err;
	}
	if (e->dir >= (uint32_t)sd->ndirs)
		return err;
	if (snprintf(path, sizeof(path), "%s%s%.*s", sd->dirs[e->dir].path, e->len1 ? "/" : "",
		     (int)e->len1, s1) >= (int)sizeof(path) || (e->flags & KS_EVF_F_LONG)) {
		/* which file is not known: everything is verified at the end */
		sd->sweep_due = true;
		return err;
	}
	a.ts = e->ts;
	a.pid = e->pid;
	switch (what) {
	case KS_EVF_WRITE:
	case KS_EVF_DIRTY:
		if (e->dlen > KS_EVF_PIECE || (what == KS_EVF_WRITE && e->dlen != e->len))
			return err;
		return on_write(sd, e, path, bytes) ?: err;
	case KS_EVF_TRUNCATE:
		a.length = e->len;
		return emit_simple(sd, KS_DOP_TRUNCATE, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_FALLOCATE:
		a.offset = e->off;
		a.length = e->len;
		a.arg = e->arg;
		return emit_simple(sd, KS_DOP_FALLOCATE, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_CHMOD:
		a.mode = e->mode & 07777;
		return emit_simple(sd, KS_DOP_CHMOD, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_CHOWN:
		a.uid = e->uid;
		a.gid = e->gid;
		return emit_simple(sd, KS_DOP_CHOWN, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_OPEN:
		a.mode = e->mode & 07777;
		a.uid = e->uid;
		a.gid = e->gid;
		if (e->arg & O_CREAT)
			err = emit_simple(sd, KS_DOP_CREATE, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
		if (e->arg & O_TRUNC) {
			struct ks_delta t = { .length = 0 };

			err = emit_simple(sd, KS_DOP_TRUNCATE, e->ts, e->pid, e->tid, path, NULL, &t) ?: err;
		}
		return err;
	case KS_EVF_CLOSE:
		if (track_get(sd, path, false))
			make_due(sd, path, false);
		return err;
	case KS_EVF_MMAP: {
		struct track *t = track_get(sd, path, true);

		if (t) {
			t->mapped = true;
			t->expected = true;
		}
		return err;
	}
	}
	return err;
}

/* ---- inotify (the fallback) -------------------------------------------------- */

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | \
		    IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | \
		    IN_ONLYDIR | IN_EXCL_UNLINK)

static void watch_tree(struct statedir *sd, const char *path, int depth)
{
	int wd, i = dir_of(sd, path), fd;
	struct dirent *e;
	DIR *d;

	if (i < 0 || depth > 256)
		return;
	wd = inotify_add_watch(sd->ifd, path, WATCH_MASK);
	if (wd < 0) {
		ks_debug("cannot watch %s: %s", path, strerror(errno));
		return;
	}
	if (wd >= sd->nwds) {
		int n = wd + 64;
		char **nw = realloc(sd->wds, (size_t)n * sizeof(*nw));

		if (!nw)
			return;
		memset(nw + sd->nwds, 0, (size_t)(n - sd->nwds) * sizeof(*nw));
		sd->wds = nw;
		sd->nwds = n;
	}
	free(sd->wds[wd]);
	sd->wds[wd] = strdup(path);
	fd = open_live(sd, i, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		char child[PATH_MAX];
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(sb.st_mode))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) < (int)sizeof(child))
			watch_tree(sd, child, depth + 1);
	}
	closedir(d);
}

static void inotify_due(struct statedir *sd, const char *path, uint64_t now)
{
	struct track *t = track_get(sd, path, true);
	uint64_t when;

	if (!t)
		return;
	if (!t->due_ns)
		t->changed_ns = now;
	when = now + INOTIFY_QUIET_NS;
	if (when > t->changed_ns + INOTIFY_MAX_WAIT_NS)
		when = t->changed_ns + INOTIFY_MAX_WAIT_NS;
	t->due_ns = when;
}

static void read_inotify(struct statedir *sd, uint64_t now)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(sd->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			char path[PATH_MAX];

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				sd->sweep_due = true;
				continue;
			}
			if (ev->wd < 0 || ev->wd >= sd->nwds || !sd->wds[ev->wd])
				continue;
			if (ev->mask & IN_IGNORED) {
				free(sd->wds[ev->wd]);
				sd->wds[ev->wd] = NULL;
				continue;
			}
			if (snprintf(path, sizeof(path), "%s%s%s", sd->wds[ev->wd], ev->len ? "/" : "",
				     ev->len ? ev->name : "") >= (int)sizeof(path))
				continue;
			inotify_due(sd, path, now);
			if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
				watch_tree(sd, path, 0);
		}
	}
}

/* ---- verification runs -------------------------------------------------------- */

static int verify_path(struct statedir *sd, const char *path, bool expected, uint64_t ts)
{
	int err;

	sd->verify_ts = ts;
	sd->verifying = true;
	sd->flags = sd->fsnotify ? 0 : expected ? KS_DF_READBACK : KS_DF_CORRECTION;
	err = reconcile(sd, path, true, 0);
	sd->flags = 0;
	sd->verifying = false;
	sd->verify_ts = 0;
	return err;
}

static int verify_all(struct statedir *sd)
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
static int verify_due(struct statedir *sd, uint64_t now, bool everything)
{
	struct due *due = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!everything && now - sd->last_record_ns < VERIFY_DELAY_NS &&
	    now - sd->last_verify_ns < VERIFY_MAX_WAIT_NS)
		return 0;
	sd->last_verify_ns = now;
	for (size_t i = 0; i < sd->tcap && !err; i++)
		for (struct track *t = sd->tracks[i], *next; t; t = next) {
			next = t->next;
			if (!everything && (!t->due_ns || t->due_ns > now))
				continue;
			if (n == cap) {
				struct due *nd = realloc(due, (cap ? cap * 2 : 64) * sizeof(*nd));

				if (!nd) {
					err = -ENOMEM;
					break;
				}
				due = nd;
				cap = cap ? cap * 2 : 64;
			}
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
				track_drop(sd, t);
			}
		}
	if (n)
		qsort(due, n, sizeof(*due), due_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!err)
			err = verify_path(sd, due[i].path, due[i].expected, due[i].ts);
		free(due[i].path);
	}
	free(due);
	return err;
}

int statedir_tick(struct statedir *sd, uint64_t now)
{
	int err = 0;

	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &sd->pend[i];

		if (p->used && now - p->seen_ns > PENDING_TIMEOUT_NS) {
			make_due_at(sd, p->path, true, p->ts);
			err = finish_write(sd, p, 0, 0) ?: err;
		}
	}
	if (sd->ifd >= 0)
		read_inotify(sd, now);
	err = flush_deferred(sd) ?: err;
	if (now - sd->last_flush_ns >= PACK_FLUSH_NS) {
		/* a pack and the deltas that wait for it go to the writer thread */
		sd->last_flush_ns = now;
		err = ks_dw_flush(sd->w) ?: err;
	}
	if (sd->sweep_due && sd->fsnotify) {
		sd->sweep_due = false;
		err = verify_all(sd) ?: err;
	}
	return verify_due(sd, now, false) ?: err;
}

int statedir_poll_fd(struct statedir *sd)
{
	return sd ? sd->ifd : -1;
}

/* ---- the probes -------------------------------------------------------------- */

static uint32_t kdev(dev_t d)
{
	return (uint32_t)(major(d) << 20 | minor(d));
}

static int fill_statedirs(struct statedir *sd, int map_fd)
{
	for (int i = 0; i < sd->ndirs; i++) {
		struct ks_statedir_key k = { .ino = sd->dirs[i].ino, .dev = sd->dirs[i].kdev };
		uint32_t v = (uint32_t)i;
		char prefix[PATH_MAX];

		if (bpf_map_update_elem(map_fd, &k, &v, BPF_ANY))
			return -errno;
		/* every ancestor, "/" included: a path relative to one may lead inside */
		for (size_t n = 1; n <= sd->dirs[i].len; n++) {
			struct stat sb;

			if (n < sd->dirs[i].len && sd->dirs[i].path[n] != '/')
				continue;
			if (n == sd->dirs[i].len)
				break;
			memcpy(prefix, sd->dirs[i].path, n);
			prefix[n] = '\0';
			if (stat(n == 0 ? "/" : prefix, &sb))
				continue;
			k.ino = sb.st_ino;
			k.dev = kdev(sb.st_dev);
			v = KS_STATEDIR_ANCESTOR;
			bpf_map_update_elem(map_fd, &k, &v, BPF_NOEXIST);
		}
		{
			struct stat sb;

			if (!stat("/", &sb)) {
				k.ino = sb.st_ino;
				k.dev = kdev(sb.st_dev);
				v = KS_STATEDIR_ANCESTOR;
				bpf_map_update_elem(map_fd, &k, &v, BPF_NOEXIST);
			}
		}
	}
	return 0;
}

static int attach_bpf(struct statedir *sd, struct probes *p, const struct statedir_opts *o,
		      const char **why)
{
	static const char *const shared[] = { "traced", "traced_tids", "events", "pb", "drops" };
	struct probes_mode m;
	struct files_bpf *s;
	uint32_t payload = o->max_payload ? o->max_payload : 1u << 20;
	int err;

	probes_get_mode(p, &m);
	*why = "open the file probes";
	s = files_bpf__open();
	if (!s)
		return -errno;
	s->rodata->self_tgid = getpid();
	s->rodata->trace_all = false;
	s->rodata->use_hash = m.set == SET_HASH;
	s->rodata->use_perfbuf = m.transport == TRANSPORT_PERFBUF;
	s->rodata->wakeup_bytes = o->ring_bytes ? o->ring_bytes / 4 : 1 << 20;
	s->rodata->max_payload = (payload + KS_EVF_PIECE - 1) / KS_EVF_PIECE * KS_EVF_PIECE;
	*why = "share the maps with the file probes";
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		struct bpf_map *mine = bpf_object__find_map_by_name(s->obj, shared[i]);
		int fd = probes_map_fd(p, shared[i]);

		err = mine && fd >= 0 ? bpf_map__reuse_fd(mine, fd) : -ENOENT;
		if (err)
			goto fail;
	}
	*why = "load the file probes";
	err = files_bpf__load(s);
	if (err)
		goto fail;
	*why = "fill the state dir map";
	err = fill_statedirs(sd, bpf_map__fd(s->maps.statedirs));
	if (err)
		goto fail;
	*why = "attach the file probes";
	err = files_bpf__attach(s);
	if (err)
		goto fail;
	sd->skel = s;
	return 0;
fail:
	files_bpf__destroy(s);
	return err < 0 ? err : -EINVAL;
}

/* ---- life cycle ----------------------------------------------------------------- */

static int put_meta(struct statedir *sd, const char *key, const char *val)
{
	if (sd->c)
		return consumer_put(sd->c, KS_DB_META, key, strlen(key), val, strlen(val));
	return ks_store_put_meta(sd->store, key, val);
}

static int put_meta_u64(struct statedir *sd, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return put_meta(sd, key, buf);
}

/* Canonical, existing, distinct directories, none inside another. */
static int add_dirs(struct statedir *sd, const struct statedir_opts *o, char *msg, size_t len)
{
	sd->dirs = calloc((size_t)o->ndirs, sizeof(*sd->dirs));
	if (!sd->dirs)
		return -ENOMEM;
	for (int i = 0; i < o->ndirs; i++) {
		char *real = realpath(o->dirs[i], NULL);
		struct stat sb;
		bool skip = false;

		if (!real || stat(real, &sb) || !S_ISDIR(sb.st_mode)) {
			int err = real ? (errno ? -errno : -ENOTDIR) : -errno;

			snprintf(msg, len, "--state-dir %s: %s", o->dirs[i],
				 real && !S_ISDIR(sb.st_mode) ? "not a directory" : strerror(-err));
			free(real);
			return err ? err : -ENOTDIR;
		}
		if (!strcmp(real, "/")) {
			snprintf(msg, len, "--state-dir %s: the root cannot be a state dir; "
				 "name the directories that hold the state", o->dirs[i]);
			free(real);
			return -EINVAL;
		}
		for (int j = 0; j < sd->ndirs && !skip; j++) {
			struct sd_dir *d = &sd->dirs[j];
			size_t n = strlen(real);

			if (!strncmp(real, d->path, d->len) && (real[d->len] == '/' || !real[d->len])) {
				skip = true; /* inside one already given */
			} else if (n < d->len && !strncmp(d->path, real, n) && d->path[n] == '/') {
				/* this one holds an earlier one: it replaces it */
				close(d->fd);
				rs_tree_close(d->live);
				free(d->path);
				*d = sd->dirs[--sd->ndirs];
				j--;
			}
		}
		if (skip) {
			free(real);
			continue;
		}
		struct sd_dir *d = &sd->dirs[sd->ndirs];

		d->path = real;
		d->len = strlen(real);
		d->ino = sb.st_ino;
		d->kdev = kdev(sb.st_dev);
		d->fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (d->fd < 0 || rs_tree_open(d->fd, false, &d->live)) {
			snprintf(msg, len, "--state-dir %s: %s", o->dirs[i], strerror(errno));
			if (d->fd >= 0)
				close(d->fd);
			free(real);
			return -errno;
		}
		sd->ndirs++;
	}
	return 0;
}

static int make_shadow(struct statedir *sd, char *msg, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(sd->shadow_path, sizeof(sd->shadow_path), "%s/ksight-shadow-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(sd->shadow_path)) {
		snprintf(msg, len, "cannot make a working directory in %s: %s (set TMPDIR)",
			 tmp && *tmp ? tmp : "/tmp", strerror(errno));
		sd->shadow_path[0] = '\0';
		return -errno;
	}
	fd = open(sd->shadow_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || rs_tree_open(fd, false, &sd->shadow)) {
		snprintf(msg, len, "cannot open %s: %s", sd->shadow_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	close(fd);
	/* the parents of each state dir, as restore makes them */
	for (int i = 0; i < sd->ndirs; i++) {
		char buf[PATH_MAX];
		const char *p = sd->dirs[i].path;

		for (const char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
			memcpy(buf, p + 1, (size_t)(s - p - 1));
			buf[s - p - 1] = '\0';
			rs_mkdir(sd->shadow, buf, 0755, UINT32_MAX, UINT32_MAX);
		}
	}
	return 0;
}

static int state_dirs_meta(struct statedir *sd)
{
	json_t *a = json_array();
	char *s;
	int err;

	for (int i = 0; i < sd->ndirs; i++)
		json_array_append_new(a, json_string(sd->dirs[i].path));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	if (!s)
		return -ENOMEM;
	err = put_meta(sd, "state_dirs", s);
	free(s);
	return err ?: put_meta_u64(sd, "statedir_start_ns", mono_ns());
}

int statedir_start(const struct statedir_opts *o, struct ks_store *store, struct probes *p,
		   struct statedir **out, char *msg, size_t msglen)
{
	struct statedir *sd = calloc(1, sizeof(*sd));
	struct ks_dw_stats ws;
	const char *why = "";
	int err;

	if (!sd)
		return -ENOMEM;
	sd->ifd = -1;
	sd->store = store;
	sd->buf = malloc(IO_BUF);
	sd->buf2 = malloc(IO_BUF);
	if (!sd->buf || !sd->buf2) {
		err = -ENOMEM;
		snprintf(msg, msglen, "out of memory");
		goto fail;
	}
	err = add_dirs(sd, o, msg, msglen);
	err = err ?: make_shadow(sd, msg, msglen);
	if (err)
		goto fail;
	err = ks_dw_new(put_store, store, 0, &sd->w);
	err = err ?: state_dirs_meta(sd);
	if (err) {
		snprintf(msg, msglen, "cannot write the state dirs into the trace: %s",
			 ks_strerror(err));
		goto fail;
	}
	/* the baseline: every entry is new to the empty shadow */
	sd->flags = KS_DF_BASELINE;
	sd->verifying = true;
	for (int i = 0; i < sd->ndirs && !err; i++)
		err = reconcile(sd, sd->dirs[i].path, true, 0);
	sd->flags = 0;
	sd->verifying = false;
	err = err ?: ks_dw_flush(sd->w);
	ks_dw_get_stats(sd->w, &ws);
	sd->baseline_stored = ws.stored_bytes;
	err = err ?: ks_store_commit(store);
	if (err) {
		snprintf(msg, msglen, "cannot store the baseline of the state dirs: %s",
			 ks_strerror(err));
		goto fail;
	}
	if (p) {
		err = attach_bpf(sd, p, o, &why);
		if (err)
			ks_debug("cannot %s: %s", why, strerror(-err));
	}
	if (!sd->skel) {
		if (!o->fallback) {
			snprintf(msg, msglen, "cannot follow the state dirs: %s%s%s; allow "
				 "--fallback-fsnotify or run where BPF loads",
				 p ? "cannot " : "the BPF probes are not loaded",
				 p ? why : "", p ? "" : "");
			err = -ENOTSUP;
			goto fail;
		}
		sd->fsnotify = true;
		sd->st.fsnotify = true;
		sd->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (sd->ifd < 0) {
			err = -errno;
			snprintf(msg, msglen, "cannot follow the state dirs with inotify: %s",
				 strerror(errno));
			goto fail;
		}
		for (int i = 0; i < sd->ndirs; i++)
			watch_tree(sd, sd->dirs[i].path, 0);
		fprintf(stderr, "ksight: following the state dirs with inotify (fsnotify "
			"fallback: %s%s); changes are read from the files when they settle\n",
			p ? "cannot " : "no BPF probes", p ? why : "");
	}
	err = put_meta(sd, "statedir_capture", sd->fsnotify ? "fsnotify" : "bpf");
	err = err ?: ks_store_commit(store);
	if (err) {
		snprintf(msg, msglen, "cannot write the trace: %s", ks_strerror(err));
		goto fail;
	}
	*out = sd;
	return 0;
fail:
	statedir_free(sd);
	return err;
}

int statedir_attach(struct statedir *sd, struct consumer *c)
{
	sd->c = c;
	ks_dw_set_put(sd->w, put_consumer, c);
	if (sd->skel)
		return consumer_set_handler(c, KS_EV_FILE, on_record, sd);
	return 0;
}

int statedir_finish(struct statedir *sd)
{
	struct ks_dw_stats ws;
	int err = 0;

	for (int i = 0; i < MAX_PENDING; i++)
		if (sd->pend[i].used)
			err = finish_write(sd, &sd->pend[i], 0, 0) ?: err;
	err = flush_deferred(sd) ?: err;
	if (sd->ifd >= 0)
		read_inotify(sd, mono_ns());
	err = verify_due(sd, UINT64_MAX, true) ?: err;
	err = verify_all(sd) ?: err;
	err = ks_dw_flush(sd->w) ?: err;
	ks_dw_get_stats(sd->w, &ws);
	sd->st.stored_bytes = ws.stored_bytes - sd->baseline_stored;
	sd->st.baseline_bytes = sd->baseline_stored;
	err = err ?: put_meta_u64(sd, "statedir_syscall_bytes", sd->st.syscall_bytes);
	err = err ?: put_meta_u64(sd, "statedir_stored_bytes", sd->st.stored_bytes);
	err = err ?: put_meta_u64(sd, "statedir_baseline_bytes", sd->st.baseline_bytes);
	err = err ?: put_meta_u64(sd, "statedir_deltas", sd->st.deltas);
	err = err ?: put_meta_u64(sd, "statedir_corrections", sd->st.corrections);
	err = err ?: put_meta_u64(sd, "statedir_readback_bytes", sd->st.readback_bytes);
	err = err ?: put_meta_u64(sd, "statedir_chunks", ws.chunks);
	err = err ?: put_meta_u64(sd, "statedir_chunks_dup", ws.chunks_dup);
	return err;
}

void statedir_get_stats(struct statedir *sd, struct statedir_stats *st)
{
	*st = sd->st;
}

static int open_dirs(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D)
		chmod(p, (sb->st_mode & 07777) | S_IRWXU);
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

void statedir_free(struct statedir *sd)
{
	if (!sd)
		return;
	files_bpf__destroy(sd->skel);
	if (sd->ifd >= 0)
		close(sd->ifd);
	for (int i = 0; i < sd->nwds; i++)
		free(sd->wds[i]);
	free(sd->wds);
	for (int i = 0; i < MAX_PENDING; i++) {
		free(sd->pend[i].path);
		free(sd->pend[i].buf);
	}
	while (sd->deferred) {
		struct deferred *d = sd->deferred;

		sd->deferred = d->next;
		free(d->r);
		free(d);
	}
	for (size_t i = 0; i < sd->tcap; i++)
		while (sd->tracks[i]) {
			struct track *t = sd->tracks[i];

			sd->tracks[i] = t->next;
			free(t);
		}
	free(sd->tracks);
	for (size_t i = 0; i < sd->icap; i++)
		while (sd->inos[i]) {
			struct ino_ent *e = sd->inos[i];

			sd->inos[i] = e->next;
			free(e);
		}
	free(sd->inos);
	rs_tree_close(sd->shadow);
	if (sd->shadow_path[0]) {
		/* ours alone (mode 0700): made writable, then removed, links not followed */
		nftw(sd->shadow_path, open_dirs, 16, FTW_PHYS);
		nftw(sd->shadow_path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	for (int i = 0; i < sd->ndirs; i++) {
		rs_tree_close(sd->dirs[i].live);
		close(sd->dirs[i].fd);
		free(sd->dirs[i].path);
	}
	free(sd->dirs);
	ks_dw_free(sd->w);
	free(sd->buf);
	free(sd->buf2);
	free(sd);
}
