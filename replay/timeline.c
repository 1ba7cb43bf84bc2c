/* File versions over time: the deltas in sequence order, each a row of the path
 * it changed, with the file's size after it from a model of the namespace (hard
 * links share one size, a rename moves it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/delta.h"
#include "format/kserr.h"
#include "replay/restore.h"
#include "replay/timeline.h"
#include "util/clock.h"
#include "replay/trace.h"
#include "util/bytes.h"
#include "util/grow.h"
#include "util/hmap.h"
#include "util/escape.h"
#include "util/units.h"
#include "store/store.h"

#define FALLOC_KEEP_SIZE 0x01
#define FALLOC_COLLAPSE 0x08
#define FALLOC_INSERT 0x20

/* The namespace model: path id -> node (1-based index; 0: nothing there). */
struct node {
	int64_t size; /* -1: not a regular file */
};

struct model {
	struct ks_hmap at;   /* path id -> node */
	struct ks_hmap file; /* path id -> index in tl->files + 1 */
	struct node *nodes;
	size_t n, cap;
};

static uint64_t new_node(struct model *m, int64_t size)
{
	if (KS_GROW(&m->nodes, &m->cap, m->n + 1))
		return 0;
	m->nodes[m->n].size = size;
	return ++m->n;
}

static int path_of(struct replay_trace *t, uint64_t id, char **out)
{
	const char *v;
	size_t len;
	int err = replay_file_path(t, id, &v, &len);

	if (err)
		return err;
	/* printed, never used as a path: control bytes become '?' */
	*out = malloc(len + 1);
	if (!*out)
		return replay_fail(t, -ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = ((const unsigned char *)v)[i];

		(*out)[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	(*out)[len] = '\0';
	return 0;
}

static bool wanted(const char *path, const char *prefix)
{
	size_t n;

	if (!prefix)
		return true;
	n = strlen(prefix);
	while (n > 1 && prefix[n - 1] == '/')
		n--;
	return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/' ||
					      (n == 1 && prefix[0] == '/'));
}

/* The file of path id in tl (added on first sight), or NULL when it is filtered
 * out. Sets *err on failure. */
static struct timeline_file *file_of(struct replay_trace *t, struct timeline *tl,
				     struct model *m, uint64_t id, const char *prefix, int *err)
{
	uint64_t *slot = ks_hmap_upsert(&m->file, id, 0, NULL);
	char *path;

	if (!slot) {
		*err = replay_fail(t, -ENOMEM, "out of memory");
		return NULL;
	}
	if (*slot == UINT64_MAX)
		return NULL;
	if (*slot)
		return &tl->files[*slot - 1];
	*err = path_of(t, id, &path);
	if (*err)
		return NULL;
	if (!wanted(path, prefix)) {
		free(path);
		*slot = UINT64_MAX;
		return NULL;
	}
	if (KS_GROW(&tl->files, &tl->cap, tl->n + 1)) {
		free(path);
		*err = replay_fail(t, -ENOMEM, "out of memory");
		return NULL;
	}
	tl->files[tl->n] = (struct timeline_file){ .id = id, .path = path };
	*slot = ++tl->n;
	return &tl->files[tl->n - 1];
}

static int add_row(struct replay_trace *t, struct timeline_file *f, const struct timeline_row *r)
{
	if (KS_GROW(&f->rows, &f->cap, f->n + 1))
		return replay_fail(t, -ENOMEM, "out of memory");
	f->rows[f->n++] = *r;
	return 0;
}

/* Moves the model through d; *size and *size2: the sizes at d->file and
 * d->file2 after it (-1: nothing, or not a regular file). */
static int apply(struct model *m, const struct ks_delta *d, int64_t *size, int64_t *size2)
{
	uint64_t *at, *at2 = NULL, node, x;
	struct node *n;

	/* both present first: adding the second may move the first */
	if ((d->file2 && !ks_hmap_upsert(&m->at, d->file2, 0, NULL)) ||
	    !(at = ks_hmap_upsert(&m->at, d->file, 0, NULL)))
		return -ENOMEM;
	if (d->file2)
		at2 = ks_hmap_get(&m->at, d->file2);
	node = *at;
	n = node ? &m->nodes[node - 1] : NULL;
	switch (d->op) {
	case KS_DOP_MKDIR:
		if (!node && !(*at = new_node(m, -1)))
			return -ENOMEM;
		break;
	case KS_DOP_SYMLINK:
		if (!(*at = new_node(m, -1)))
			return -ENOMEM;
		break;
	case KS_DOP_CREATE:
		if (!node && !(*at = new_node(m, 0)))
			return -ENOMEM;
		break;
	case KS_DOP_CONTENT:
		if (n && n->size >= 0)
			n->size = (int64_t)d->length;
		else if (!(*at = new_node(m, (int64_t)d->length)))
			return -ENOMEM;
		break;
	case KS_DOP_WRITE:
		if (!n && !(*at = new_node(m, 0)))
			return -ENOMEM;
		n = &m->nodes[*at - 1];
		if (n->size < (int64_t)(d->offset + d->length))
			n->size = (int64_t)(d->offset + d->length);
		break;
	case KS_DOP_TRUNCATE:
		if (n)
			n->size = (int64_t)d->length;
		break;
	case KS_DOP_FALLOCATE:
		if (!n || n->size < 0)
			break;
		if (d->arg & FALLOC_COLLAPSE)
			n->size = n->size > (int64_t)d->length ? n->size - (int64_t)d->length : 0;
		else if (d->arg & FALLOC_INSERT)
			n->size += (int64_t)d->length;
		else if (!(d->arg & FALLOC_KEEP_SIZE) && n->size < (int64_t)(d->offset + d->length))
			n->size = (int64_t)(d->offset + d->length);
		break;
	case KS_DOP_UNLINK:
	case KS_DOP_RMDIR:
		*at = 0;
		break;
	case KS_DOP_RENAME:
		if (d->arg & 2 /* RENAME_EXCHANGE */) {
			x = *at2;
			*at2 = *at;
			*at = x;
		} else if (d->file2 != d->file) {
			*at2 = node;
			*at = 0;
		}
		break;
	case KS_DOP_LINK:
		*at2 = node;
		break;
	default:
		break;
	}
	*size = *at ? m->nodes[*at - 1].size : -1;
	*size2 = at2 && *at2 ? m->nodes[*at2 - 1].size : -1;
	return 0;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct timeline_file *)a)->path,
		      ((const struct timeline_file *)b)->path);
}

int timeline_build(struct replay_trace *t, const char *prefix, struct timeline *tl)
{
	struct delta_list l;
	struct model m = { 0 };
	int err;

	memset(tl, 0, sizeof(*tl));
	if (t->meta.have & RM_MONO)
		tl->mono_to_realtime = t->meta.mono_to_realtime_ns;
	if (restore_start_ns(t, &tl->start))
		tl->start = 0;
	err = delta_collect(t, &l);
	if (err)
		return err;
	for (size_t i = 0; i < l.n; i++) {
		struct timeline_file *f, *f2 = NULL;
		struct timeline_row r;
		struct ks_delta d;
		int64_t size, size2;

		ks_delta_decode(l.v[i].key, KS_DELTA_KEY_LEN, l.v[i].val, l.v[i].vlen, &d);
		err = apply(&m, &d, &size, &size2);
		if (err) {
			err = replay_fail(t, err, "out of memory");
			goto out;
		}
		r = (struct timeline_row){
			.seq = d.seq, .ts = d.ts, .pid = d.pid, .op = d.op, .flags = d.flags,
			.offset = d.offset, .size = size, .other = d.file2,
		};
		switch (d.op) {
		case KS_DOP_WRITE:
		case KS_DOP_CONTENT:
			r.bytes = d.dlen;
			break;
		case KS_DOP_TRUNCATE:
		case KS_DOP_FALLOCATE:
			r.bytes = d.length;
			break;
		case KS_DOP_SYMLINK:
			r.bytes = d.dlen;
			break;
		}
		err = 0;
		f = file_of(t, tl, &m, d.file, prefix, &err);
		if (err)
			goto out;
		if (d.op == KS_DOP_RENAME || d.op == KS_DOP_LINK) {
			f2 = file_of(t, tl, &m, d.file2, prefix, &err);
			if (err)
				goto out;
			/* the source side keeps its own size; the new name carries the row */
			r.from = true;
		}
		if (f && (err = add_row(t, f, &r)))
			goto out;
		if (f2) {
			r.from = false;
			r.size = size2;
			r.other = d.file;
			if ((err = add_row(t, f2, &r)))
				goto out;
		}
	}
	ks_qsort(tl->files, tl->n, sizeof(*tl->files), path_cmp);
out:
	ks_hmap_free(&m.at);
	ks_hmap_free(&m.file);
	free(m.nodes);
	delta_list_free(&l);
	if (err)
		timeline_free(tl);
	return err;
}

void timeline_free(struct timeline *tl)
{
	for (size_t i = 0; i < tl->n; i++) {
		free(tl->files[i].path);
		free(tl->files[i].rows);
	}
	free(tl->files);
	memset(tl, 0, sizeof(*tl));
}

const char *timeline_path(const struct timeline *tl, uint64_t id)
{
	for (size_t i = 0; i < tl->n; i++)
		if (tl->files[i].id == id)
			return tl->files[i].path;
	return NULL;
}

static const char *op_label(const struct timeline_row *r, char *buf, size_t len)
{
	const char *op = ks_delta_op_name(r->op);

	if (r->flags & KS_DF_BASELINE)
		snprintf(buf, len, "%s (baseline)", op);
	else if (r->flags & KS_DF_CORRECTION)
		snprintf(buf, len, "%s (correction)", op);
	else if (r->flags & KS_DF_READBACK)
		snprintf(buf, len, "%s (read back)", op);
	else if ((r->op == KS_DOP_RENAME || r->op == KS_DOP_LINK) && !r->from)
		snprintf(buf, len, "%s (new name)", op);
	else
		snprintf(buf, len, "%s", op);
	return buf;
}

static void fmt_time(const struct timeline *tl, uint64_t ts, char *buf, size_t len)
{
	char utc[KS_TIME_BUF];
	int64_t ns;

	if (!tl->mono_to_realtime) {
		snprintf(buf, len, "%llu", (unsigned long long)ts);
		return;
	}
	ns = ks_mono_to_epoch(ts, tl->mono_to_realtime);
	snprintf(buf, len, "%s.%06lld", ks_fmt_utc(utc, ns),
		 (long long)((ns % 1000000000) / 1000));
}

void timeline_text(FILE *f, const struct timeline *tl)
{
	for (size_t i = 0; i < tl->n; i++) {
		const struct timeline_file *file = &tl->files[i];

		fputs(i ? "\n" : "", f);
		ks_fput_escaped(f, file->path, strlen(file->path));
		fputc('\n', f);
		fprintf(f, "  %-26s %10s %8s  %-22s %12s %12s %12s\n", "TIME (UTC)", "OFFSET",
			"PID", "OPERATION", "AT", "BYTES", "SIZE");
		for (size_t j = 0; j < file->n; j++) {
			const struct timeline_row *r = &file->rows[j];
			char when[64], op[48], size[24], off[24] = "-", rel[24] = "-";

			fmt_time(tl, r->ts, when, sizeof(when));
			if (tl->start)
				snprintf(rel, sizeof(rel), "%+.3fs",
					 ((double)r->ts - (double)tl->start) / 1e9);
			if (r->op == KS_DOP_WRITE || r->op == KS_DOP_FALLOCATE)
				snprintf(off, sizeof(off), "%llu", (unsigned long long)r->offset);
			if (r->size >= 0)
				snprintf(size, sizeof(size), "%lld", (long long)r->size);
			else
				snprintf(size, sizeof(size), "-");
			fprintf(f, "  %-26s %10s %8u  %-22s %12s %12llu %12s", when, rel, r->pid,
				op_label(r, op, sizeof(op)), off, (unsigned long long)r->bytes, size);
			if (r->other) {
				const char *o = timeline_path(tl, r->other);

				fprintf(f, "  %s %s", r->from ? "->" : "<-", o ? o : "(elsewhere)");
			}
			fputc('\n', f);
		}
	}
}

json_t *timeline_json(const struct timeline *tl)
{
	json_t *doc = json_object(), *files = json_array();

	if (!doc || !files) {
		json_decref(doc);
		json_decref(files);
		return NULL;
	}
	json_object_set_new(doc, "files", files);
	for (size_t i = 0; i < tl->n; i++) {
		const struct timeline_file *file = &tl->files[i];
		json_t *fo = json_object(), *rows = json_array();

		json_object_set_new(fo, "path", json_string(file->path));
		json_object_set_new(fo, "versions", rows);
		json_array_append_new(files, fo);
		for (size_t j = 0; j < file->n; j++) {
			const struct timeline_row *r = &file->rows[j];
			json_t *ro = json_object();
			char when[64];

			fmt_time(tl, r->ts, when, sizeof(when));
			json_object_set_new(ro, "seq", json_integer((json_int_t)r->seq));
			json_object_set_new(ro, "ts_mono_ns", json_integer((json_int_t)r->ts));
			if (tl->mono_to_realtime)
				json_object_set_new(ro, "timestamp",
						    json_integer((json_int_t)r->ts +
								 tl->mono_to_realtime));
			json_object_set_new(ro, "time_str", json_string(when));
			if (tl->start)
				json_object_set_new(ro, "offset_s",
						    json_real(((double)r->ts - (double)tl->start) / 1e9));
			json_object_set_new(ro, "pid", json_integer(r->pid));
			json_object_set_new(ro, "op", json_string(ks_delta_op_name(r->op)));
			json_object_set_new(ro, "source",
					    json_string(r->flags & KS_DF_BASELINE ? "baseline" :
							r->flags & KS_DF_CORRECTION ? "correction" :
							r->flags & KS_DF_READBACK ? "readback" :
							"syscall"));
			if (r->op == KS_DOP_WRITE || r->op == KS_DOP_FALLOCATE)
				json_object_set_new(ro, "offset", json_integer((json_int_t)r->offset));
			json_object_set_new(ro, "bytes", json_integer((json_int_t)r->bytes));
			json_object_set_new(ro, "size", r->size >= 0 ? json_integer(r->size) :
								     json_null());
			if (r->other) {
				const char *o = timeline_path(tl, r->other);

				json_object_set_new(ro, r->from ? "to" : "from",
						    o ? json_string(o) : json_null());
			}
			json_array_append_new(rows, ro);
		}
	}
	return doc;
}
