/* The whole-trace restore behind `ksight restore`: the trace's deltas collected in
 * order and applied through the confined tree of fstree/, every name checked first. */
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
#include <unistd.h>

#include "format/kserr.h"
#include "replay/restore.h"
#include "replay/window.h"
#include "replay/trace.h"
#include "util/bytes.h"
#include "util/grow.h"
#include "util/hmap.h"
#include "util/escape.h"
#include "util/units.h"
#include "store/store.h"

/* ---- the deltas of a trace ---------------------------------------------------- */

static int ent_cmp(const void *a, const void *b)
{
	const struct delta_ent *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void delta_list_free(struct delta_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int delta_collect(struct replay_trace *t, struct delta_list *out)
{
	struct ks_db_iter *it = NULL;
	const void *k, *v;
	size_t kl, vl, cap = 0;
	struct ks_delta d;
	int err;

	memset(out, 0, sizeof(*out));
	err = ks_store_iter(t->st, KS_DB_DELTAS, &it);
	if (err)
		return replay_fail(t, err, "cannot read the deltas: %s; the trace is damaged",
				   ks_strerror(err));
	while ((err = ks_db_iter_next(it, &k, &kl, &v, &vl)) > 0) {
		out->bytes += kl + vl;
		if (ks_is_chunk_key(k, kl) || ks_is_pack_key(k, kl)) {
			out->chunks++;
			continue;
		}
		if (kl != KS_DELTA_KEY_LEN) {
			err = replay_fail(t, -KS_ECORRUPT,
					  "the deltas database holds a key of %zu bytes; the trace "
					  "is damaged", kl);
			goto fail;
		}
		err = ks_delta_decode(k, kl, v, vl, &d);
		if (err) {
			replay_fail(t, err, "delta %llu#%llu: %s; the trace is damaged",
				    (unsigned long long)d.file, (unsigned long long)d.seq,
				    ks_strerror(err));
			goto fail;
		}
		if (KS_GROW(&out->v, &cap, out->n + 1)) {
			err = replay_fail(t, -ENOMEM, "out of memory reading the deltas");
			goto fail;
		}
		out->v[out->n++] = (struct delta_ent){ .seq = d.seq, .file = d.file, .ts = d.ts,
						       .key = k, .val = v, .vlen = vl };
	}
	if (err < 0) {
		replay_fail(t, err, "cannot read the deltas: %s; the trace is damaged",
			    ks_strerror(err));
		goto fail;
	}
	ks_db_iter_free(it);
	ks_qsort(out->v, out->n, sizeof(*out->v), ent_cmp);
	for (size_t i = 1; i < out->n; i++)
		if (out->v[i].seq == out->v[i - 1].seq) {
			/* said before the list goes: the message reads it */
			err = replay_fail(t, -KS_ECORRUPT,
					  "two deltas have sequence %llu (files %llu and %llu); "
					  "the trace is damaged",
					  (unsigned long long)out->v[i].seq,
					  (unsigned long long)out->v[i - 1].file,
					  (unsigned long long)out->v[i].file);
			delta_list_free(out);
			return err;
		}
	return 0;
fail:
	ks_db_iter_free(it);
	delta_list_free(out);
	return err;
}

/* An absolute path as the recorder writes them: "/" and checked components. */
static bool abs_ok(const char *p, size_t len)
{
	return len >= 2 && p[0] == '/' && rs_rel_ok(p + 1, len - 1) &&
	       !(len == 2 && p[1] == '.');
}

/* Prints len bytes of p for a message, control bytes escaped. */
void restore_free_dirs(char **dirs, int n)
{
	for (int i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
}

int restore_state_dirs(struct replay_trace *t, char ***out)
{
	char *s = NULL, **dirs = NULL, pb[256];
	json_error_t je;
	json_t *a = NULL;
	int n = 0, err = 0;

	*out = NULL;
	if (ks_store_get_meta(t->st, "state_dirs", &s))
		return 0;
	a = json_loads(s, 0, &je);
	if (!json_is_array(a) || json_array_size(a) > 1024) {
		err = replay_fail(t, -KS_ECORRUPT, "the recorded state dir list is not a JSON "
				  "array of paths; the trace is damaged");
		goto out;
	}
	dirs = calloc(json_array_size(a) + 1, sizeof(*dirs));
	if (!dirs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);
		const char *p = json_string_value(e);
		size_t len = p ? json_string_length(e) : 0;

		if (!p || !abs_ok(p, len)) {
			err = replay_fail(t, -KS_ECORRUPT,
					  "recorded state dir '%s' is not a plain absolute path; "
					  "refusing to restore it",
					  p ? ks_escape(pb, sizeof(pb), p, len) : "(not a string)");
			goto out;
		}
		dirs[n] = strdup(p);
		if (!dirs[n]) {
			err = -ENOMEM;
			goto out;
		}
		n++;
	}
out:
	json_decref(a);
	free(s);
	if (err) {
		restore_free_dirs(dirs, n);
		return err;
	}
	*out = dirs;
	return n;
}

/* ---- times ------------------------------------------------------------------ */

int restore_start_ns(struct replay_trace *t, uint64_t *start)
{
	char *s = NULL;
	int err;

	if (t->meta.have & RM_START) {
		*start = t->meta.start_ns;
		return 0;
	}
	/* a recorder that did not finish wrote no start_ns; the state dir capture
	 * writes its own at the beginning */
	if (ks_store_get_meta(t->st, "statedir_start_ns", &s))
		return -ENOENT;
	err = ks_parse_u64(s, start);
	free(s);
	return err ? -ENOENT : 0;
}

int restore_parse_time(struct replay_trace *t, const char *s, uint64_t *mono)
{
	int64_t epoch;
	uint64_t start, dur;

	if (s[0] == '+') {
		if (ks_parse_duration(s + 1, &dur))
			return -EINVAL;
		if (restore_start_ns(t, &start))
			return -ENOENT;
		*mono = dur > UINT64_MAX - start ? UINT64_MAX : start + dur;
		return 0;
	}
	if (ks_parse_time(s, &epoch))
		return -EINVAL;
	if (!(t->meta.have & RM_MONO))
		return -ENOENT;
	/* the epoch to CLOCK_MONOTONIC; before the clock's start is its start */
	if (__builtin_sub_overflow(epoch, t->meta.mono_to_realtime_ns, &epoch))
		epoch = t->meta.mono_to_realtime_ns < 0 ? INT64_MAX : 0;
	*mono = epoch < 0 ? 0 : (uint64_t)epoch;
	return 0;
}

/* ---- whole-trace restore ------------------------------------------------------ */

static void rel_free(struct ks_hmap *m)
{
	ks_hmap_each(m, i)
		free((char *)(uintptr_t)m->slot[i].val);
	ks_hmap_free(m);
}

struct restorer {
	struct replay_trace *t;
	const struct restore_opts *o;
	char **dirs;
	int ndirs;
	struct ks_hmap rel; /* file id -> its path under the restore root, checked once */
	struct ks_delta_reader *rd;
	struct rs_tree *tree;
};

/* The relative path of file id under the restore root: checked to be a plain
 * absolute path inside a recorded state dir. */
static int rel_of(struct restorer *r, uint64_t id, const char **out)
{
	struct replay_trace *t = r->t;
	const char *p;
	size_t len;
	const uint64_t *known = ks_hmap_get(&r->rel, id);
	char pb[256], *rel_copy;
	int err;

	if (known) {
		*out = (const char *)(uintptr_t)*known;
		return 0;
	}
	err = replay_file_path(t, id, &p, &len);
	if (err)
		return err;
	if (!abs_ok(p, len))
		return replay_fail(t, -KS_ECORRUPT,
				   "file entry %llu ('%s') is not a plain absolute path (empty, "
				   "relative, '.', '..', '//' or a NUL byte); refusing to restore "
				   "this trace, nothing was written",
				   (unsigned long long)id, ks_escape(pb, sizeof(pb), p, len));
	for (int i = 0; i < r->ndirs; i++) {
		size_t dl = strlen(r->dirs[i]);
		const char *rel;
		size_t rl;

		if (len < dl || memcmp(p, r->dirs[i], dl) || (len > dl && p[dl] != '/'))
			continue;
		if (r->o->flat) {
			rel = len == dl ? "." : p + dl + 1;
			rl = len == dl ? 1 : len - dl - 1;
		} else {
			rel = p + 1;
			rl = len - 1;
		}
		rel_copy = strndup(rel, rl);
		if (!rel_copy || ks_hmap_put(&r->rel, id, (uintptr_t)rel_copy)) {
			free(rel_copy);
			return replay_fail(t, -ENOMEM, "out of memory reading the file table");
		}
		*out = rel_copy;
		return 0;
	}
	return replay_fail(t, -KS_ECORRUPT,
			   "file entry %llu ('%s') lies outside the recorded state dirs; "
			   "refusing to restore this trace, nothing was written",
			   (unsigned long long)id, ks_escape(pb, sizeof(pb), p, len));
}

static int fetch_chunk(void *ctx, const struct ks_chunk_ref *ref, const void **data)
{
	struct restorer *r = ctx;
	uint8_t key[KS_CHUNK_KEY_LEN];
	const void *v;
	size_t vl;
	int err;

	if (ref->pack) {
		ks_pack_key(ref->pack, key);
		err = ks_store_get(r->t->st, KS_DB_DELTAS, key, KS_PACK_KEY_LEN, &v, &vl);
		err = err ?: ks_pack_slice(v, vl, ref, &v, &vl);
	} else {
		ks_chunk_key(ref->hash, key);
		err = ks_store_get(r->t->st, KS_DB_DELTAS, key, sizeof(key), &v, &vl);
	}
	if (err)
		return err == -KS_ENOTFOUND ? -KS_ECORRUPT : err;
	return ks_chunk_decode(r->rd, ref->hash, ref->len, v, vl, data);
}

/* Opens (making it when missing) the restore directory, which must be empty. */
static int open_dest(struct replay_trace *t, const char *dest, int *out)
{
	char to[PATH_MAX];
	size_t n = strlen(dest);
	struct dirent *e;
	DIR *d;
	int fd, dup_fd;

	/* "link/" would make the kernel follow link despite O_NOFOLLOW: the trailing
	 * slashes go first */
	while (n > 1 && dest[n - 1] == '/')
		n--;
	if (n >= sizeof(to))
		return replay_fail(t, -ENAMETOOLONG, "--to: the name is too long");
	memcpy(to, dest, n);
	to[n] = '\0';
	if (mkdir(to, 0755) && errno != EEXIST)
		return replay_fail(t, -errno, "cannot create %s: %s", to, strerror(errno));
	fd = open(to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return replay_fail(t, -errno, "cannot open %s: %s%s", to, strerror(errno),
				   errno == ELOOP || errno == ENOTDIR ?
					   " (--to must be a directory, not a symlink)" : "");
	dup_fd = dup(fd);
	d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		close(fd);
		return replay_fail(t, -errno, "cannot read %s: %s", to, strerror(errno));
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			close(fd);
			return replay_fail(t, -EEXIST, "%s is not empty; restore into a new or "
					   "empty directory", to);
		}
	closedir(d);
	*out = fd;
	return 0;
}

/* Non-flat: the parents of each state dir (mode 0755, as tar makes them). */
static int make_parents(struct restorer *r)
{
	for (int i = 0; i < r->ndirs; i++) {
		int err = rs_mkdir_parents(r->tree, r->dirs[i] + 1, 0755);

		if (err)
			return replay_fail(r->t, err, "%s (restoring into %s)", rs_tree_error(r->tree), r->o->to);
	}
	return 0;
}

/* A bounded trace: at must lie inside the window it holds; the restore starts
 * from the checkpoint of at's epoch (*from: its first delta; 0: the start). */
static int restore_window(struct replay_trace *t, uint64_t at, uint64_t *from)
{
	const struct replay_whole *w = &t->whole;
	const struct replay_meta *m = &t->meta;
	struct ks_epoch *e = malloc(sizeof(*e));
	int found;

	*from = 0;
	if (!e)
		return replay_fail(t, -ENOMEM, "out of memory");
	if (w->dropped_segments && at < w->window_start_ns) {
		double start = (m->have & RM_START) ? (double)m->start_ns : 0;
		double end = (m->have & RM_END) ? (double)m->end_ns : 0;

		free(e);
		if (m->have & RM_START)
			return replay_fail(t, -ERANGE, "--at is %.3f s into the recording, before the "
					   "window this trace holds (%+.3f s to %+.3f s; older state "
					   "was dropped by --keep/--max-size)",
					   ((double)at - start) / 1e9,
					   ((double)w->window_start_ns - start) / 1e9,
					   end ? (end - start) / 1e9 : 0);
		return replay_fail(t, -ERANGE, "--at is before the window this trace holds (it "
				   "starts at monotonic %.3f s; older state was dropped by "
				   "--keep/--max-size)", w->window_start_ns / 1e9);
	}
	found = replay_epoch_at(t, at, e);
	if (found > 0)
		*from = e->delta_seq;
	free(e);
	return found < 0 ? found : 0;
}

int restore_trace(struct replay_trace *t, const struct restore_opts *o,
		  struct restore_stats *st)
{
	struct restorer r = { .t = t, .o = o };
	struct delta_list l = { 0 };
	uint64_t problems = 0, from = 0;
	size_t skip = 0;
	char first[700] = "";
	int err, dfd = -1;

	memset(st, 0, sizeof(*st));
	err = restore_state_dirs(t, &r.dirs);
	if (err < 0)
		return err;
	r.ndirs = err;
	st->dirs = err;
	if (!r.ndirs) {
		err = replay_fail(t, -ENOENT, "no state directories were recorded in this trace "
				  "(record with --state-dir DIR)");
		goto out;
	}
	if (o->flat && r.ndirs != 1) {
		err = replay_fail(t, -EINVAL, "--flat needs a trace of one state dir; this one has "
				  "%d (restore without --flat)", r.ndirs);
		goto out;
	}
	err = restore_window(t, o->at, &from);
	if (err)
		goto out;
	err = delta_collect(t, &l);
	if (err)
		goto out;
	while (from && skip < l.n && l.v[skip].seq < from)
		skip++; /* before the checkpoint this restore starts from */
	if (skip) {
		memmove(l.v, l.v + skip, (l.n - skip) * sizeof(*l.v));
		l.n -= skip;
	}
	st->deltas = l.n;
	st->stored = l.bytes;
	/* every name is checked before anything is written */
	for (size_t i = 0; i < l.n; i++) {
		struct ks_delta d;
		const char *rel;

		ks_delta_decode(l.v[i].key, KS_DELTA_KEY_LEN, l.v[i].val, l.v[i].vlen, &d);
		err = rel_of(&r, d.file, &rel);
		if (!err && (d.op == KS_DOP_RENAME || d.op == KS_DOP_LINK))
			err = rel_of(&r, d.file2, &rel);
		if (err)
			goto out;
	}
	err = ks_delta_reader_new(&r.rd);
	if (err) {
		replay_fail(t, err, "out of memory");
		goto out;
	}
	err = open_dest(t, o->to, &dfd);
	if (err)
		goto out;
	err = rs_tree_open(dfd, geteuid() == 0, &r.tree);
	if (err) {
		replay_fail(t, err, "cannot use %s: %s", o->to, strerror(-err));
		goto out;
	}
	if (!o->flat && (err = make_parents(&r)))
		goto out;
	for (size_t i = 0; i < l.n;) {
		size_t j = i;
		struct ks_delta d;

		/* a change of several deltas is applied whole or not at all */
		for (;; j++) {
			if (j == l.n)
				break;
			ks_delta_decode(l.v[j].key, KS_DELTA_KEY_LEN, l.v[j].val, l.v[j].vlen, &d);
			if (!(d.flags & KS_DF_MORE))
				break;
		}
		if (j == l.n) {
			st->torn += l.n - i;
			break;
		}
		if (d.ts > o->at) {
			st->later += j - i + 1;
			i = j + 1;
			continue;
		}
		for (; i <= j; i++) {
			const char *rel, *rel2 = NULL;

			ks_delta_decode(l.v[i].key, KS_DELTA_KEY_LEN, l.v[i].val, l.v[i].vlen, &d);
			rel_of(&r, d.file, &rel);
			if (d.op == KS_DOP_RENAME || d.op == KS_DOP_LINK)
				rel_of(&r, d.file2, &rel2);
			if (rs_apply(r.tree, &d, rel, rel2, r.rd, fetch_chunk, &r)) {
				if (!problems++)
					snprintf(first, sizeof(first), "delta %llu#%llu (%s): %s",
						 (unsigned long long)d.file,
						 (unsigned long long)d.seq, ks_delta_op_name(d.op),
						 rs_tree_error(r.tree));
				continue;
			}
			st->applied++;
		}
	}
	rs_tree_sync(r.tree);
	st->bytes = rs_tree_bytes(r.tree);
	if (problems)
		err = replay_fail(t, -EIO, "%llu of %llu deltas could not be applied; the first: %s",
				  (unsigned long long)problems, (unsigned long long)st->deltas,
				  first);
out:
	rs_tree_close(r.tree);
	if (dfd >= 0)
		close(dfd);
	ks_delta_reader_free(r.rd);
	rel_free(&r.rel);
	delta_list_free(&l);
	restore_free_dirs(r.dirs, r.ndirs);
	return err;
}
