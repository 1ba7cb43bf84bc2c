/* State directory capture: every delta (from the probes' records, inotify or
 * verification) goes through here: applied to the shadow copy first, then
 * written by the delta writer and listed among the trace's file events. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format/event.h"
#include "util/log.h"
#include "record/consumer.h"
#include "record/statedir_priv.h"
#include "fstree/tree.h"

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
int sd_emit(struct statedir *sd, struct ks_delta *d, uint32_t tid, const char *path,
		const char *path2, const void *data, size_t len)
{
	int err;

	if (d->op == KS_DOP_SYMLINK && (!len || len > KS_LINK_MAX))
		return 0;
	d->flags |= sd->flags;
	if (shadow_apply(sd, d, path, path2, data, len)) {
		sd_make_due(sd, path, false);
		if (path2)
			sd_make_due(sd, path2, false);
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
		sd_changed(sd, path);
		if (path2)
			sd_changed(sd, path2);
	}
	return 0;
}

int sd_emit_simple(struct statedir *sd, unsigned op, uint64_t ts, uint32_t pid, uint32_t tid,
		       const char *path, const char *path2, const struct ks_delta *args)
{
	struct ks_delta d = { 0 };

	if (args)
		d = *args;
	d.op = (uint8_t)op;
	d.ts = ts;
	d.pid = pid;
	return sd_emit(sd, &d, tid, path, path2, NULL, 0);
}

/* CONTENT of path from the live file open at fd (read to its end): streamed
 * into chunks and into the shadow. */
int sd_emit_content(struct statedir *sd, const char *path, int fd, const struct stat *sb,
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
