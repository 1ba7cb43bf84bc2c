/* State directory capture: the life cycle (start with the baseline, attach to
 * the consumer, tick, finish with the whole tree verified, free) and the paths
 * of the state dirs. The capture itself lives beside this file:
 * statedir_track.c (what is due), statedir_emit.c (deltas and the shadow),
 * statedir_verify.c (live tree against the shadow), statedir_events.c (the
 * probes' records), statedir_probes.c (loading them), statedir_notify.c (the
 * inotify fallback).
 *
 * The baseline, the probes' records and the inotify events all become deltas
 * through one writer (format/delta.h), and every delta is applied at once to a
 * shadow copy of the state dirs (the restore engine on a private directory).
 * Verification compares the live tree with the shadow and stores what differs
 * as corrections: when a file is closed after writing, when a traced process
 * ends, and over everything at the end. The baseline itself is the first such
 * verification, against an empty shadow.
 *
 * Runs on the drain thread (the consumer's handlers and statedir_tick), so
 * nothing here is locked. Live files are opened beneath their state dir with no
 * symlink followed: a traced program cannot make the recorder read elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/events.h"
#include "files.skel.h"
#include "format/delta.h"
#include "format/kserr.h"
#include "util/clock.h"
#include "util/log.h"
#include "record/consumer.h"
#include "record/probes.h"
#include "record/statedir_priv.h"
#include "fstree/tree.h"
#include "store/store.h"

static int put_store(void *ctx, int db, const void *k, size_t kl, const void *v, size_t vl)
{
	return ks_store_put(ctx, db == KS_DW_FILES ? KS_DB_FILES : KS_DB_DELTAS, k, kl, v, vl);
}

static int put_consumer(void *ctx, int db, const void *k, size_t kl, const void *v, size_t vl)
{
	return consumer_put(ctx, db == KS_DW_FILES ? KS_DB_FILES : KS_DB_DELTAS, k, kl, v, vl);
}

/* The state dir holding absolute path p, or -1. */
int sd_dir_of(struct statedir *sd, const char *p)
{
	for (int i = 0; i < sd->ndirs; i++) {
		const struct sd_dir *d = &sd->dirs[i];

		if (!strncmp(p, d->path, d->len) && (p[d->len] == '\0' || p[d->len] == '/'))
			return i;
	}
	return -1;
}

/* ---- start ------------------------------------------------------------------ */

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
		d->kdev = sd_kdev(sb.st_dev);
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
	return err ?: put_meta_u64(sd, "statedir_start_ns", ks_mono_ns());
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
		err = sd_reconcile(sd, sd->dirs[i].path, true, 0);
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
		err = sd_probes_attach(sd, p, o, &why);
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
		err = sd_notify_start(sd);
		if (err) {
			snprintf(msg, msglen, "cannot follow the state dirs with inotify: %s",
				 strerror(-err));
			goto fail;
		}
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
		return consumer_set_handler(c, KS_EV_FILE, sd_on_record, sd);
	return 0;
}

/* ---- running and finishing ---------------------------------------------------- */

/* Work of the drain thread: writes in pieces that never finished, inotify
 * events, deferred read-backs, the delta pack, then the verifications due. */
int statedir_tick(struct statedir *sd, uint64_t now)
{
	int err = 0;

	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &sd->pend[i];

		if (p->used && now - p->seen_ns > PENDING_TIMEOUT_NS) {
			sd_make_due_at(sd, p->path, true, p->ts);
			err = sd_finish_write(sd, p, 0, 0) ?: err;
		}
	}
	if (sd->ifd >= 0)
		sd_notify_read(sd, now);
	err = sd_flush_deferred(sd) ?: err;
	if (now - sd->last_flush_ns >= PACK_FLUSH_NS) {
		/* a pack and the deltas that wait for it go to the writer thread */
		sd->last_flush_ns = now;
		err = ks_dw_flush(sd->w) ?: err;
	}
	if (sd->sweep_due && sd->fsnotify) {
		sd->sweep_due = false;
		err = sd_verify_all(sd) ?: err;
	}
	return sd_verify_due(sd, now, false) ?: err;
}

int statedir_poll_fd(struct statedir *sd)
{
	return sd ? sd->ifd : -1;
}

int statedir_finish(struct statedir *sd)
{
	struct ks_dw_stats ws;
	int err = 0;

	for (int i = 0; i < MAX_PENDING; i++)
		if (sd->pend[i].used)
			err = sd_finish_write(sd, &sd->pend[i], 0, 0) ?: err;
	err = sd_flush_deferred(sd) ?: err;
	if (sd->ifd >= 0)
		sd_notify_read(sd, ks_mono_ns());
	err = sd_verify_due(sd, UINT64_MAX, true) ?: err;
	err = sd_verify_all(sd) ?: err;
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
	sd->st.lost = sd->tr.lost;
	err = err ?: put_meta_u64(sd, "statedir_lost", sd->st.lost);
	err = err ?: put_meta_u64(sd, "statedir_chunks", ws.chunks);
	err = err ?: put_meta_u64(sd, "statedir_chunks_dup", ws.chunks_dup);
	return err;
}

void statedir_get_stats(struct statedir *sd, struct statedir_stats *st)
{
	*st = sd->st;
	st->lost = sd->tr.lost;
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
	for (size_t i = 0; i < sd->nwds; i++)
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
	sd_tracks_free(&sd->tr);
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
