/* State directory capture: the files probes' records (bpf/files.bpf.c) turned
 * into deltas: writes gathered from their pieces or read back from the file,
 * dirty ranges deferred while the ring is busy, namespace operations by path;
 * what a record cannot carry is made due for verification instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/grow.h"
#include "record/statedir_priv.h"

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


static int read_back(struct statedir *sd, const char *path, uint64_t off, uint64_t len,
		     uint8_t *dst, size_t *got)
{
	int i = sd_dir_of(sd, path), fd;
	ssize_t n;

	*got = 0;
	if (i < 0)
		return -ENOENT;
	fd = sd_open_live(sd, i, path, O_RDONLY);
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
int sd_finish_write(struct statedir *sd, struct pending *p, uint64_t rb_off, uint64_t rb_len)
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
			sd_make_due_at(sd, p->path, true, p->ts);
	}
	if (p->len) {
		d.length = p->len;
		d.flags = got ? KS_DF_MORE : 0;
		err = sd_emit(sd, &d, p->tid, p->path, NULL, p->buf, p->len);
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
		err = sd_emit(sd, &d, p->tid, p->path, NULL, sd->buf, cur);
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
		sd_make_due_at(sd, p->path, true, p->ts);
		sd_finish_write(sd, p, 0, 0);
	}
	p->path = strdup(path);
	if (!p->path)
		return NULL;
	p->used = true;
	p->tid = e->tid;
	p->pid = e->pid;
	p->ts = e->ts;
	p->off = e->off;
	p->seen_ns = ks_mono_ns();
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
		if (KS_GROW(&d->r, &d->cap, d->n + 1))
			return -ENOMEM;
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
int sd_flush_deferred(struct statedir *sd)
{
	int err = 0;

	while (sd->deferred) {
		struct deferred *d = sd->deferred;
		size_t m = 0;

		sd->deferred = d->next;
		ks_qsort(d->r, d->n, sizeof(*d->r), range_cmp);
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
				err = sd_finish_write(sd, &p, d->r[i][0], d->r[i][1] - d->r[i][0]);
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
		sd_make_due_at(sd, p->path, true, p->ts);
		err = sd_finish_write(sd, p, 0, 0);
		p = NULL;
	}
	if (!p && what == KS_EVF_DIRTY && (e->flags & KS_EVF_F_BUSY) && !(e->flags & KS_EVF_F_FAULT))
		return defer_range(sd, e, path) ?: err;
	if (!p && !(p = pending_new(sd, e, path)))
		return -ENOMEM;
	if (what == KS_EVF_DIRTY) {
		if (e->flags & KS_EVF_F_FAULT)
			sd_make_due_at(sd, path, true, e->ts);
		return sd_finish_write(sd, p, e->off, e->len) ?: err;
	}
	if (KS_GROW(&p->buf, &p->cap, p->len + e->dlen))
		return -ENOMEM;
	memcpy(p->buf + p->len, data, e->dlen);
	p->len += e->dlen;
	if (!(e->flags & KS_EVF_F_MORE))
		err = sd_finish_write(sd, p, 0, 0) ?: err;
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
	int fd = sd_open_shadow(sd, path, O_PATH);
	bool r = fd >= 0 && !fstat(fd, &sb) && S_ISLNK(sb.st_mode);

	if (fd >= 0)
		close(fd);
	return r;
}

static bool shadow_has(struct statedir *sd, const char *path)
{
	int fd = sd_open_shadow(sd, path, O_PATH);

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
				     e->len4, p2) && sd_dir_of(sd, p2) >= 0)
			sd_make_due_at(sd, p2, true, e->ts);
		return 0;
	}
	in1 = sd_dir_of(sd, p1) >= 0;
	if (two) {
		if (!name_path(sd, e->dir3, e->flags & KS_EVF_F_ABS3, s3, e->len3, s4, e->len4, p2))
			return 0;
		in2 = sd_dir_of(sd, p2) >= 0;
	}
	if (!in1 && !in2)
		return 0;
	if (e->flags & KS_EVF_F_LONG) {
		if (in1)
			sd_make_due_at(sd, p1, true, e->ts);
		if (in2)
			sd_make_due_at(sd, p2, true, e->ts);
		return 0;
	}
	if (two) {
		bool link = nr_is(nr, SYS_link, SYS_linkat);

		/* linkat with AT_SYMLINK_FOLLOW links what a symlink points to */
		if (in1 && in2 && shadow_has(sd, p1) &&
		    !(link && (e->arg & AT_SYMLINK_FOLLOW) && shadow_is_link(sd, p1))) {
			if (!link)
				a.arg = nr == SYS_renameat2 ? e->arg : 0;
			return sd_emit_simple(sd, link ? KS_DOP_LINK : KS_DOP_RENAME, e->ts, e->pid,
					   e->tid, p1, p2, &a);
		}
		if (in1)
			sd_make_due_at(sd, p1, true, e->ts);
		if (in2)
			sd_make_due_at(sd, p2, true, e->ts);
		return 0;
	}
	if (nr_is(nr, SYS_mkdir, SYS_mkdirat))
		return sd_emit_simple(sd, KS_DOP_MKDIR, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr == SYS_rmdir || (nr == SYS_unlinkat && (e->arg & AT_REMOVEDIR)))
		return sd_emit_simple(sd, KS_DOP_RMDIR, e->ts, e->pid, e->tid, p1, NULL, NULL);
	if (nr_is(nr, SYS_unlink, SYS_unlinkat))
		return sd_emit_simple(sd, KS_DOP_UNLINK, e->ts, e->pid, e->tid, p1, NULL, NULL);
	if (nr_is(nr, SYS_symlink, SYS_symlinkat)) {
		struct ks_delta d = { .op = KS_DOP_SYMLINK, .ts = e->ts, .pid = e->pid,
				      .uid = e->uid, .gid = e->gid };

		if (!e->len4 || e->len4 > KS_LINK_MAX)
			return 0;
		memcpy(target, s4, e->len4);
		return sd_emit(sd, &d, e->tid, p1, NULL, target, e->len4);
	}
	/* what follows acts on what a final symlink points to: verified instead */
	if (shadow_is_link(sd, p1) &&
	    !(nr_is(nr, SYS_lchown, SYS_fchownat) &&
	      (nr == SYS_lchown || (e->arg & AT_SYMLINK_NOFOLLOW)))) {
		sd_make_due_at(sd, p1, true, e->ts);
		return 0;
	}
	if (nr == SYS_truncate)
		return sd_emit_simple(sd, KS_DOP_TRUNCATE, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr_is(nr, SYS_chmod, SYS_fchmodat) || nr == SYS_fchmodat2)
		return sd_emit_simple(sd, KS_DOP_CHMOD, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr_is(nr, SYS_chown, SYS_lchown) || nr == SYS_fchownat)
		return sd_emit_simple(sd, KS_DOP_CHOWN, e->ts, e->pid, e->tid, p1, NULL, &a);
	if (nr_is(nr, SYS_mknod, SYS_mknodat))
		return sd_emit_simple(sd, KS_DOP_CREATE, e->ts, e->pid, e->tid, p1, NULL, &a);
	return 0;
}

/* ts: a msync or munmap (mapped_only): when the mapped bytes were written. */
int sd_on_record(void *ctx, const void *data, size_t size)
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
	sd->last_record_ns = ks_mono_ns();
	what = e->type >> 16;
	p = pending_of(sd, e->tid);
	if (p && what != KS_EVF_WRITE && what != KS_EVF_DIRTY) {
		sd_make_due_at(sd, p->path, true, p->ts);
		err = sd_finish_write(sd, p, 0, 0);
	}
	switch (what) {
	case KS_EVF_EXIT:
		sd_all_due(sd, false, 0);
		return err;
	case KS_EVF_MSYNC:
		sd_all_due(sd, true, e->ts);
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
		return sd_emit_simple(sd, KS_DOP_TRUNCATE, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_FALLOCATE:
		a.offset = e->off;
		a.length = e->len;
		a.arg = e->arg;
		return sd_emit_simple(sd, KS_DOP_FALLOCATE, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_CHMOD:
		a.mode = e->mode & 07777;
		return sd_emit_simple(sd, KS_DOP_CHMOD, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_CHOWN:
		a.uid = e->uid;
		a.gid = e->gid;
		return sd_emit_simple(sd, KS_DOP_CHOWN, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
	case KS_EVF_OPEN:
		a.mode = e->mode & 07777;
		a.uid = e->uid;
		a.gid = e->gid;
		if (e->arg & O_CREAT)
			err = sd_emit_simple(sd, KS_DOP_CREATE, e->ts, e->pid, e->tid, path, NULL, &a) ?: err;
		if (e->arg & O_TRUNC) {
			struct ks_delta t = { .length = 0 };

			err = sd_emit_simple(sd, KS_DOP_TRUNCATE, e->ts, e->pid, e->tid, path, NULL, &t) ?: err;
		}
		return err;
	case KS_EVF_CLOSE:
		if (sd_track_find(&sd->tr, path))
			sd_make_due(sd, path, false);
		return err;
	case KS_EVF_MMAP: {
		struct track *t = sd_track_add(&sd->tr, path);

		if (t) {
			t->mapped = true;
			t->expected = true;
		}
		return err;
	}
	}
	return err;
}

