/* Opening a trace for replay and walking its segments. Every error becomes one
 * line that names the file and the damaged part, for the commands to print. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/kserr.h"
#include "replay/pipeline.h"
#include "replay/trace.h"
#include "replay/window.h"
#include "util/units.h"
#include "store/store.h"

static const char *open_advice(int err)
{
	switch (-err) {
	case ENOENT:
		return "check the path ('ksight record -o FILE' writes one)";
	case EACCES:
	case EPERM:
		return "traces are mode 0600: run as the user who recorded it";
	case KS_ENOTTRACE:
		return "give a file written by 'ksight record'";
	case KS_EVERSION:
		return "read it with the ksight version that recorded it";
	case KS_ECORRUPT:
		return "the file cannot be replayed; record the command again";
	case ENOMEM:
		return "free some memory and retry";
	default:
		return "check the file and retry";
	}
}

static void meta_str(struct replay_trace *t, const char *key, char **out)
{
	if (ks_store_get_meta(t->st, key, out))
		*out = NULL;
}

static void meta_u64(struct replay_trace *t, const char *key, unsigned bit, uint64_t *v)
{
	char *s = NULL;

	if (!ks_store_get_meta(t->st, key, &s) && !ks_parse_u64(s, v))
		t->meta.have |= bit;
	free(s);
}

static void meta_s64(struct replay_trace *t, const char *key, unsigned bit, int64_t *v)
{
	char *s = NULL;

	if (!ks_store_get_meta(t->st, key, &s) && !ks_parse_s64(s, v))
		t->meta.have |= bit;
	free(s);
}

static void read_meta(struct replay_trace *t)
{
	struct replay_meta *m = &t->meta;

	meta_str(t, "format_version", &m->format_version);
	meta_str(t, "ksight_version", &m->ksight_version);
	meta_str(t, "hostname", &m->hostname);
	meta_str(t, "kernel_release", &m->kernel_release);
	meta_str(t, "command", &m->command);
	meta_str(t, "state", &m->state);
	meta_str(t, "probes", &m->probes);
	meta_str(t, "btf_source", &m->btf_source);
	meta_u64(t, "start_ns", RM_START, &m->start_ns);
	meta_u64(t, "end_ns", RM_END, &m->end_ns);
	meta_s64(t, "mono_to_realtime_ns", RM_MONO, &m->mono_to_realtime_ns);
	meta_s64(t, "mono_to_boottime_ns", RM_BOOT, &m->mono_to_boottime_ns);
	meta_s64(t, "exit_code", RM_EXIT, &m->exit_code);
	meta_u64(t, "lost_syscall", RM_LOST_SYSCALL, &m->lost_syscall);
	meta_u64(t, "lost_proc", RM_LOST_PROC, &m->lost_proc);
	meta_u64(t, "lost_sched", RM_LOST_SCHED, &m->lost_sched);
	meta_u64(t, "lost_total", RM_LOST_TOTAL, &m->lost_total);
	meta_u64(t, "ring_bytes", RM_RING, &m->ring_bytes);
}

static void reason(struct replay_whole *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reason(struct replay_whole *w, const char *fmt, ...)
{
	va_list ap;

	if (w->nreasons < REPLAY_REASONS) {
		va_start(ap, fmt);
		vsnprintf(w->reason[w->nreasons], REPLAY_REASON_LEN, fmt, ap);
		va_end(ap);
		/* reasons quote meta strings: plain printable text only */
		for (char *p = w->reason[w->nreasons]; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
	}
	w->nreasons++;
}

static const char *const db_label[KS_DB_COUNT] = {
	[KS_DB_META] = "metadata", [KS_DB_SEGMENTS] = "segments",
	[KS_DB_FILES] = "files table", [KS_DB_DELTAS] = "deltas",
};

static void flaw_reason(struct replay_whole *w, const struct ks_flaw *f)
{
	unsigned long long a = f->seq, b = f->seq_end;
	char kb[16];
	const char *kn = replay_kind_name(f->kind, kb);

	switch (f->type) {
	case KS_FLAW_NO_MANIFEST:
		reason(w, "no manifest (an older trace, or it was removed): whether pieces are "
			  "missing cannot be checked");
		break;
	case KS_FLAW_MANIFEST:
		reason(w, "the manifest is damaged: whether pieces are missing cannot be checked");
		break;
	case KS_FLAW_SEG_MISSING:
		if (a == b)
			reason(w, "segment %s #%llu missing", kn, a);
		else
			reason(w, "segments %s #%llu..#%llu missing", kn, a, b);
		break;
	case KS_FLAW_SEG_EXTRA:
		reason(w, "segment %s #%llu is not in the manifest (duplicated or foreign)", kn, a);
		break;
	case KS_FLAW_SEG_ALTERED:
		reason(w, "segments %s altered (contents differ from the manifest)", kn);
		break;
	case KS_FLAW_SEG_KEY:
		reason(w, "a segment key of %llu bytes (not a ksight segment)",
		       (unsigned long long)f->found);
		break;
	case KS_FLAW_DB_COUNT:
		reason(w, "%s: %llu entries, the manifest counts %llu (%llu %s)",
		       db_label[f->db], (unsigned long long)f->found, (unsigned long long)f->want,
		       (unsigned long long)(f->found < f->want ? f->want - f->found : f->found - f->want),
		       f->found < f->want ? "missing" : "extra");
		break;
	case KS_FLAW_DB_ALTERED:
		reason(w, "%s altered (contents differ from the manifest)", db_label[f->db]);
		break;
	}
	if (f->type != KS_FLAW_NO_MANIFEST)
		w->damaged = true;
	if (f->type == KS_FLAW_MANIFEST || f->type == KS_FLAW_NO_MANIFEST ||
	    f->db == KS_DB_META || f->db == KS_DB_FILES || f->db == KS_DB_DELTAS)
		w->state_damaged = true;
}

/* Human names of the loss counters the recorder writes. */
static const char *lost_label(const char *name, char *buf, size_t len)
{
	if (!strcmp(name, "unwritten_changes"))
		snprintf(buf, len, "state-dir changes not written to the trace (disk full or "
			 "write error)");
	else if (!strncmp(name, "unwritten_", 10))
		snprintf(buf, len, "%s events not written to the trace (disk full or write "
			 "error)", name + 10);
	else if (!strcmp(name, "transport"))
		snprintf(buf, len, "events lost by the perf buffer");
	else if (!strcmp(name, "file"))
		snprintf(buf, len, "file events lost");
	else
		snprintf(buf, len, "%s events lost", name);
	return buf;
}

/* Every "lost_*" counter in meta, summed; each one not zero is a reason. Returns
 * the number of counters found. */
static unsigned loss_counters(struct replay_trace *t, struct replay_whole *w)
{
	struct ks_db_iter *it = NULL;
	const void *k, *v;
	size_t kl, vl;
	unsigned found = 0;
	uint64_t total = 0, sum = 0;
	bool have_total = false;
	char name[64], val[32], label[192];

	if (ks_store_iter(t->st, KS_DB_META, &it))
		return 0;
	while (ks_db_iter_next(it, &k, &kl, &v, &vl) > 0) {
		uint64_t n;

		if (kl <= 5 || kl >= sizeof(name) || memcmp(k, "lost_", 5) || vl >= sizeof(val))
			continue;
		memcpy(name, (const char *)k + 5, kl - 5);
		name[kl - 5] = 0;
		memcpy(val, v, vl);
		val[vl] = 0;
		if (ks_parse_u64(val, &n)) {
			reason(w, "loss counter lost_%s is not a number", name);
			continue;
		}
		if (!strcmp(name, "total")) {
			total = n;
			have_total = true;
			continue;
		}
		found++;
		sum = sum + n < sum ? UINT64_MAX : sum + n;
		if (n)
			reason(w, "%llu %s", (unsigned long long)n, lost_label(name, label, sizeof(label)));
	}
	ks_db_iter_free(it);
	if (have_total && total > sum) {
		reason(w, "%llu events lost (lost_total)", (unsigned long long)(total - sum));
		sum = total;
	}
	w->lost_events = sum;
	return found + have_total;
}

struct event_sums {
	uint64_t events[256];
	uint64_t unknown; /* segments of kinds this build has no schema for */
};

static int sum_events(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, size_t len)
{
	struct event_sums *s = ctx;

	(void)seq, (void)len;
	s->events[hdr->kind & 0xff] += hdr->count;
	if (!ks_schema_get(hdr->kind))
		s->unknown++;
	return 0;
}

/* The verdict: the manifest's flaws, the closing state, every loss counter, the
 * segments' event counts against the manifest's. Fails only when the trace
 * cannot be read (t->err set). */
static int assess(struct replay_trace *t)
{
	struct replay_whole *w = &t->whole;
	struct ks_store_check *c = calloc(1, sizeof(*c));
	struct event_sums *sums = calloc(1, sizeof(*sums));
	int err;

	if (!c || !sums) {
		err = replay_fail(t, -ENOMEM, "out of memory checking the trace");
		goto out;
	}
	err = ks_store_check(t->st, c);
	if (err) {
		replay_fail(t, err, "cannot check the trace against its manifest: %s; the trace "
			    "is damaged (record the command again)", ks_strerror(err));
		goto out;
	}
	for (size_t i = 0; i < c->nflaws && i < KS_CHECK_FLAWS; i++)
		flaw_reason(w, &c->flaws[i]);
	if (c->nflaws > KS_CHECK_FLAWS) {
		reason(w, "%zu more damaged pieces", c->nflaws - KS_CHECK_FLAWS);
		w->damaged = w->state_damaged = true;
	}
	if (!replay_closed_cleanly(&t->meta))
		reason(w, "trace not closed cleanly (state %s): events after the last commit "
			  "are missing",
		       t->meta.state ? t->meta.state : "unknown");
	if (t->meta.probes && !strncmp(t->meta.probes, "none", 4))
		reason(w, "events not recorded: no probes (%s)", t->meta.probes);
	w->lost_known = loss_counters(t, w) > 0;
	if (!w->lost_known)
		reason(w, "no loss counters: whether events were lost is unknown");
	if (replay_each_header(t, 0, sum_events, sums)) {
		/* the walks of the commands name it again; the verdict is made */
		reason(w, "%s", t->err + strlen(t->path) + 2);
		t->err[0] = 0;
		w->damaged = true;
	}
	if (sums->unknown)
		reason(w, "%llu segments of event kinds this ksight does not know",
		       (unsigned long long)sums->unknown);
	for (unsigned k = 1; c->have_manifest && k < 256; k++) {
		uint64_t want = c->manifest.events[k];
		char kb[16];

		if (want != KS_EVENTS_UNKNOWN && want != sums->events[k])
			reason(w, "segments %s hold %llu events, the manifest counts %llu",
			       replay_kind_name(k, kb), (unsigned long long)sums->events[k],
			       (unsigned long long)want);
	}
	replay_retention(t, c->have_manifest ? &c->manifest : NULL);
	w->complete = w->nreasons == 0;
out:
	free(c);
	free(sums);
	return err;
}

const char *replay_incomplete_line(const struct replay_trace *t, char *buf, size_t len)
{
	const struct replay_whole *w = &t->whole;
	size_t n;

	if (w->complete)
		return NULL;
	n = (size_t)snprintf(buf, len, "%s: INCOMPLETE trace:", t->path);
	for (size_t i = 0; i < w->nreasons && i < REPLAY_REASONS && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s %s", i ? ";" : "", w->reason[i]);
	if (w->nreasons > REPLAY_REASONS && n < len)
		snprintf(buf + n, len - n, "; and %zu more", w->nreasons - REPLAY_REASONS);
	return buf;
}

int replay_open(const char *path, struct replay_trace **out, char *msg, size_t msglen)
{
	struct replay_trace *t;
	int err;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(msg, msglen, "%s: out of memory opening the trace", path);
		return -ENOMEM;
	}
	t->path = path;
	err = ks_store_open(path, KS_STORE_RDONLY, &t->st);
	if (err) {
		snprintf(msg, msglen, "cannot open trace %s: %s; %s", path, ks_strerror(err),
			 open_advice(err));
		goto fail;
	}
	t->threads = seg_pipe_default_threads();
	read_meta(t);
	err = assess(t);
	if (err) {
		snprintf(msg, msglen, "%s", t->err);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	replay_close(t);
	return err;
}

void replay_close(struct replay_trace *t)
{
	struct replay_meta *m;

	if (!t)
		return;
	m = &t->meta;
	free(m->format_version);
	free(m->ksight_version);
	free(m->hostname);
	free(m->kernel_release);
	free(m->command);
	free(m->state);
	free(m->probes);
	free(m->btf_source);
	seg_pipe_free(t->pipe);
	if (t->st)
		ks_store_close(t->st);
	free(t);
}

int replay_fail(struct replay_trace *t, int err, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(t->err, sizeof(t->err), "%s: ", t->path);

	if (n < 0 || (size_t)n >= sizeof(t->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(t->err + n, sizeof(t->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return err;
}

const char *replay_kind_name(unsigned kind, char buf[16])
{
	const struct ks_schema *s = ks_schema_get(kind);

	if (s && s->name)
		return s->name;
	snprintf(buf, 16, "kind%u", kind);
	return buf;
}

static int seg_damaged(struct replay_trace *t, unsigned kind, uint64_t seq, int err)
{
	char kb[16];

	return replay_fail(t, err,
			   "segment %s#%llu: %s; the trace is damaged and cannot be replayed "
			   "in full (record the command again)",
			   replay_kind_name(kind, kb), (unsigned long long)seq, ks_strerror(err));
}

static int iter_damaged(struct replay_trace *t, int err)
{
	return replay_fail(t, err,
			   "cannot read the segment index: %s; the trace is damaged (record "
			   "the command again)", ks_strerror(err));
}

int replay_set_threads(struct replay_trace *t, unsigned threads)
{
	if (!threads || threads > SEG_PIPE_MAX_THREADS)
		return -EINVAL;
	if (t->walking)
		return -EBUSY;
	if (t->pipe && seg_pipe_threads(t->pipe) != threads) {
		seg_pipe_free(t->pipe);
		t->pipe = NULL;
	}
	t->threads = threads;
	return 0;
}

int replay_set_work(struct replay_trace *t, unsigned kind, const struct seg_pipe_work *w)
{
	if (t->walking)
		return -EBUSY;
	t->work = w;
	t->work_kind = kind;
	return 0;
}

/* What the walk does with one segment, in order: its error (t->err set), 0 when
 * skipped, or fn's value. */
static int deliver(struct replay_trace *t, const struct seg_result *r, replay_seg_fn fn,
		   void *ctx)
{
	switch (r->status) {
	case SEG_BAD_HDR:
	case SEG_BAD_DATA:
		return seg_damaged(t, r->kind, r->seq, r->err);
	case SEG_BAD_KIND:
		return replay_fail(t, -KS_ECORRUPT,
				   "segment kind%u#%llu holds kind %u events; the trace is "
				   "damaged (record the command again)",
				   r->kind, (unsigned long long)r->seq, (unsigned)r->hdr.kind);
	case SEG_UNKNOWN:
		t->skipped_segments++;
		return 0;
	case SEG_DECODED:
		break;
	}
	return r->work_err ?: fn(ctx, &r->hdr, r->seq, r->rows);
}

static int pipe_failed(struct replay_trace *t, int err)
{
	return replay_fail(t, err, "cannot start the segment decoders: %s", ks_strerror(err));
}

int replay_each_segment(struct replay_trace *t, unsigned kind, replay_seg_fn fn, void *ctx)
{
	struct ks_seg_iter *it = NULL;
	struct seg_pipe *nested = NULL, *p;
	const struct seg_result *r;
	bool outer = !t->walking;
	int err;

	if (!t->pipe) {
		err = seg_pipe_new(t->threads ? t->threads : 1, &t->pipe);
		if (err)
			return pipe_failed(t, err);
	}
	p = t->pipe;
	if (!outer) {
		/* A walk from inside a callback: the outer one holds the pipeline. */
		err = seg_pipe_new(1, &nested);
		if (err)
			return pipe_failed(t, err);
		p = nested;
	}
	err = ks_store_iter_segments(t->st, kind, &it);
	if (err) {
		iter_damaged(t, err);
		goto out;
	}
	t->walking = true;
	if (outer && t->work && t->work_kind == kind)
		seg_pipe_set_work(p, t->work);
	seg_pipe_begin(p, it);
	while ((err = seg_pipe_next(p, &r)) > 0) {
		err = deliver(t, r, fn, ctx);
		if (err)
			goto end; /* a damaged segment (t->err set), or fn's value */
	}
	if (err < 0 && !t->err[0])
		iter_damaged(t, err);
end:
	seg_pipe_end(p);
	t->walking = !outer;
out:
	ks_seg_iter_free(it);
	seg_pipe_free(nested);
	return err;
}

/* --- segments of several kinds read side by side (replay/timerun.c) --------- */

struct replay_cursor {
	struct replay_trace *t;
	struct ks_seg_iter *it;
	struct seg_pipe *pipe; /* its own decoders: cursors walk at the same time */
	bool begun;
};

int replay_cursor_open(struct replay_trace *t, unsigned kind, struct replay_cursor **out)
{
	struct replay_cursor *c = calloc(1, sizeof(*c));
	int err;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->t = t;
	err = seg_pipe_new(t->threads ? t->threads : 1, &c->pipe);
	if (err) {
		free(c);
		return pipe_failed(t, err);
	}
	err = ks_store_iter_segments(t->st, kind, &c->it);
	if (err) {
		replay_cursor_close(c);
		return iter_damaged(t, err);
	}
	if (t->work && t->work_kind == kind)
		seg_pipe_set_work(c->pipe, t->work);
	seg_pipe_begin(c->pipe, c->it);
	c->begun = true;
	*out = c;
	return 0;
}

int replay_cursor_next(struct replay_cursor *c, struct ks_seg_header *hdr, uint64_t *seq,
		       const void **rows)
{
	struct replay_trace *t = c->t;
	const struct seg_result *r;
	int err;

	while ((err = seg_pipe_next(c->pipe, &r)) > 0) {
		switch (r->status) {
		case SEG_BAD_HDR:
		case SEG_BAD_DATA:
		case SEG_BAD_KIND:
			return deliver(t, r, NULL, NULL);
		case SEG_UNKNOWN:
			t->skipped_segments++;
			continue;
		case SEG_DECODED:
			if (r->work_err)
				return r->work_err;
			*hdr = r->hdr;
			*seq = r->seq;
			*rows = r->rows;
			return 1;
		}
	}
	if (err < 0 && !t->err[0])
		iter_damaged(t, err);
	return err;
}

void replay_cursor_close(struct replay_cursor *c)
{
	if (!c)
		return;
	if (c->begun)
		seg_pipe_end(c->pipe);
	ks_seg_iter_free(c->it);
	seg_pipe_free(c->pipe);
	free(c);
}

int replay_each_header(struct replay_trace *t, unsigned kind, replay_hdr_fn fn, void *ctx)
{
	struct ks_seg_iter *it = NULL;
	struct ks_seg_header hdr;
	const void *buf;
	unsigned k;
	uint64_t seq;
	size_t len;
	int err;

	err = ks_store_iter_segments(t->st, kind, &it);
	if (err)
		return iter_damaged(t, err);
	while ((err = ks_seg_iter_next(it, &k, &seq, &buf, &len)) > 0) {
		err = ks_seg_read_header(buf, len, &hdr);
		if (err) {
			seg_damaged(t, k, seq, err);
			break;
		}
		err = fn(ctx, &hdr, seq, len);
		if (err)
			goto out;
	}
	if (err < 0 && !t->err[0])
		iter_damaged(t, err);
out:
	ks_seg_iter_free(it);
	return err;
}

int replay_file_path(struct replay_trace *t, uint64_t id, const char **path, size_t *len)
{
	uint8_t key[8];
	const void *v;
	int err;

	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(id >> (56 - 8 * i));
	err = ks_store_get(t->st, KS_DB_FILES, key, sizeof(key), &v, len);
	if (err)
		return replay_fail(t, err == -KS_ENOTFOUND ? -KS_ECORRUPT : err,
				   "file entry %llu is %s; the trace is damaged",
				   (unsigned long long)id,
				   err == -KS_ENOTFOUND ? "missing" : ks_strerror(err));
	*path = v;
	return 0;
}

uint64_t replay_lost_events(const struct replay_meta *m, bool *known)
{
	uint64_t sum = m->lost_syscall + m->lost_proc + m->lost_sched;

	*known = true;
	if (m->have & RM_LOST_TOTAL)
		return m->lost_total > sum ? m->lost_total : sum;
	if (m->have & (RM_LOST_SYSCALL | RM_LOST_PROC | RM_LOST_SCHED))
		return sum;
	*known = false;
	return 0;
}

bool replay_closed_cleanly(const struct replay_meta *m)
{
	/* a snapshot is a copy of what a live recorder committed, closed as such */
	return m->state && (!strcmp(m->state, "complete") || !strcmp(m->state, "snapshot"));
}
