/* Opening a trace for replay and walking its segments. Every error becomes one
 * line that names the file and the damaged part, for the commands to print. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/kserr.h"
#include "replay/trace.h"
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
	meta_s64(t, "exit_code", RM_EXIT, &m->exit_code);
	meta_u64(t, "lost_syscall", RM_LOST_SYSCALL, &m->lost_syscall);
	meta_u64(t, "lost_proc", RM_LOST_PROC, &m->lost_proc);
	meta_u64(t, "lost_sched", RM_LOST_SCHED, &m->lost_sched);
	meta_u64(t, "lost_total", RM_LOST_TOTAL, &m->lost_total);
	meta_u64(t, "ring_bytes", RM_RING, &m->ring_bytes);
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
	err = ks_seg_decoder_new(&t->dec);
	if (err) {
		snprintf(msg, msglen, "%s: cannot create a segment decoder: %s", path,
			 ks_strerror(err));
		goto fail;
	}
	read_meta(t);
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
	if (t->dec)
		ks_seg_decoder_free(t->dec);
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

int replay_each_segment(struct replay_trace *t, unsigned kind, replay_seg_fn fn, void *ctx)
{
	struct ks_seg_iter *it = NULL;
	struct ks_seg_header hdr;
	const void *buf, *rows;
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
		if (hdr.kind != k) {
			err = replay_fail(t, -KS_ECORRUPT,
					  "segment kind%u#%llu holds kind %u events; the trace is "
					  "damaged (record the command again)",
					  k, (unsigned long long)seq, (unsigned)hdr.kind);
			break;
		}
		if (!ks_schema_get(k)) {
			t->skipped_segments++;
			continue;
		}
		err = ks_seg_decode(t->dec, buf, len, &hdr, &rows);
		if (err) {
			seg_damaged(t, k, seq, err);
			break;
		}
		err = fn(ctx, &hdr, seq, rows);
		if (err)
			goto out;
	}
	if (err < 0 && !t->err[0])
		iter_damaged(t, err);
out:
	ks_seg_iter_free(it);
	return err;
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
	*known = true;
	if (m->have & RM_LOST_TOTAL)
		return m->lost_total;
	if (m->have & (RM_LOST_SYSCALL | RM_LOST_PROC | RM_LOST_SCHED))
		return m->lost_syscall + m->lost_proc + m->lost_sched;
	*known = false;
	return 0;
}

bool replay_closed_cleanly(const struct replay_meta *m)
{
	return m->state && !strcmp(m->state, "complete");
}
