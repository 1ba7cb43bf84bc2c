/* `ksight info`: a trace's metadata, segment and event counts per kind, losses and
 * sizes. Every segment is decoded, so a damaged trace fails here as everywhere. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/kserr.h"
#include "cli/cli.h"
#include "cli/args.h"
#include "replay/report.h"
#include "util/units.h"
#include "store/store.h"

static const char usage_text[] =
	"usage: ksight info FILE [--json]\n"
	"\n"
	"Shows a trace's metadata (command, host, kernel, times, exit status, probes),\n"
	"the segments and events of each kind, lost events, and sizes: bytes on disk,\n"
	"stored (compressed) and raw segment bytes, bytes per event. Every segment is\n"
	"decoded and checked on the way.\n"
	"\n"
	"options:\n"
	"  -j, --json   one JSON document instead of text\n"
	"  -h, --help   this text\n"
	"\n"
	"Exit status: 0, 1 if the trace is damaged or unreadable, 2 for bad arguments.\n"
	"\n"
	"examples:\n"
	"  ksight info trace.lmdb\n"
	"  ksight info trace.lmdb --json | jq .kinds\n";

struct kind_stat {
	uint64_t segments, events, stored, raw, first_ts, last_ts;
};

struct info {
	struct replay_trace *t;
	struct {
		char name[32];
		uint64_t n;
	} lost[16]; /* the lost_* counters, by name */
	size_t nlost;
	struct replay_span span; /* of every event: the duration of an unclosed trace */
	struct kind_stat kinds[KS_KIND_MAX];
	struct ks_store_info st;
};

static int count_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, size_t len)
{
	struct kind_stat *k;

	(void)seq;
	if (hdr->kind >= KS_KIND_MAX)
		return 0;
	k = &((struct info *)ctx)->kinds[hdr->kind];
	if (hdr->count && (!k->events || hdr->first_ts < k->first_ts))
		k->first_ts = hdr->first_ts;
	if (hdr->count && hdr->last_ts > k->last_ts)
		k->last_ts = hdr->last_ts;
	k->segments++;
	k->events += hdr->count;
	k->stored += len;
	k->raw += hdr->raw_size;
	return 0;
}

static int verify_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			  const void *rows)
{
	(void)seq;
	replay_span_rows(&((struct info *)ctx)->span, hdr, rows);
	return 0;
}

/* The lost_* counters of meta (but lost_total), for the breakdown. */
static void lost_counters(struct info *in)
{
	struct ks_db_iter *it = NULL;
	const void *k, *v;
	size_t kl, vl;
	char val[32];

	if (ks_store_iter(in->t->st, KS_DB_META, &it))
		return;
	while (ks_db_iter_next(it, &k, &kl, &v, &vl) > 0 && in->nlost < 16) {
		size_t n = in->nlost;

		if (kl <= 5 || kl - 5 >= sizeof(in->lost[n].name) || memcmp(k, "lost_", 5) ||
		    vl >= sizeof(val) || (kl == 10 && !memcmp(k, "lost_total", 10)))
			continue;
		memcpy(val, v, vl);
		val[vl] = 0;
		if (ks_parse_u64(val, &in->lost[n].n))
			continue;
		memcpy(in->lost[n].name, (const char *)k + 5, kl - 5);
		in->lost[n].name[kl - 5] = 0;
		in->nlost++;
	}
	ks_db_iter_free(it);
}

static const char *human(char buf[32], uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static const char *const db_names[KS_DB_COUNT] = { "meta", "segments", "files", "deltas" };

static void info_text(FILE *f, const struct info *in)
{
	const struct replay_meta *m = &in->t->meta;
	struct kind_stat total = { 0 };
	char b1[32], b2[32], tb[KS_TIME_BUF], db[KS_DUR_BUF], kb[16];
	char *cmd = report_command_line(m);
	const struct replay_whole *w = &in->t->whole;
	bool known, derived;
	uint64_t dur;

	fprintf(f, "trace        %s\n", in->t->path);
	fprintf(f, "state        %s%s\n", m->state ? m->state : "?",
		replay_closed_cleanly(m) ? "" : "  (INCOMPLETE: not closed cleanly; events after "
						"the last commit are missing)");
	fprintf(f, "format       %s, recorded by ksight %s\n",
		m->format_version ? m->format_version : "?", m->ksight_version ? m->ksight_version : "?");
	fprintf(f, "host         %s, kernel %s\n", m->hostname ? m->hostname : "?",
		m->kernel_release ? m->kernel_release : "?");
	fprintf(f, "command      %s\n", cmd ? cmd : "?");
	free(cmd);
	if (m->have & RM_START) {
		int64_t epoch = report_epoch_ns(m, m->start_ns, &known);

		fprintf(f, "started      %s%s (monotonic %llu ns)\n",
			known ? ks_fmt_utc(tb, epoch) : "?", known ? " UTC" : "",
			(unsigned long long)m->start_ns);
	} else {
		fputs("started      ? (not recorded)\n", f);
	}
	if (replay_duration(m, &in->span, &dur, &derived))
		fprintf(f, "duration     %s%s\n", ks_fmt_dur(db, dur),
			derived ? " (not recorded: first event to last)" : "");
	else
		fputs("duration     ? (not recorded, no events)\n", f);
	if (m->have & RM_EXIT)
		fprintf(f, "exit status  %lld\n", (long long)m->exit_code);
	else
		fputs("exit status  ?\n", f);
	fprintf(f, "probes       %s\n", m->probes ? m->probes : "?");
	if (!ks_store_get_meta(in->t->st, "page_faults", &cmd) && strcmp(cmd, "recorded"))
		fprintf(f, "page faults  %s\n", cmd);
	free(cmd);
	fprintf(f, "btf          %s\n", m->btf_source ? m->btf_source : "?");
	if (m->have & RM_RING)
		fprintf(f, "ring buffer  %s\n", human(b1, m->ring_bytes));
	if (!w->lost_known)
		fputs("lost events  ? (not recorded)", f);
	else
		fprintf(f, "lost events  %llu", (unsigned long long)w->lost_events);
	for (size_t i = 0; i < in->nlost; i++)
		fprintf(f, "%s%s %llu", i ? ", " : " (", in->lost[i].name,
			(unsigned long long)in->lost[i].n);
	fputs(in->nlost ? ")\n" : "\n", f);
	if (w->bounded)
		fprintf(f, "retention    max size %s, keep %.3f s: %llu events in %llu segments "
			"dropped by policy (not lost); window from %+.3f s\n",
			w->max_size ? human(b1, w->max_size) : "none", w->keep_ns / 1e9,
			(unsigned long long)w->dropped_events,
			(unsigned long long)w->dropped_segments,
			m->have & RM_START ? ((double)w->window_start_ns - (double)m->start_ns) / 1e9 : 0.0);
	fprintf(f, "complete     %s\n", w->complete ? "yes" : "NO");
	for (size_t i = 0; i < w->nreasons && i < REPLAY_REASONS; i++)
		fprintf(f, "  incomplete: %s\n", w->reason[i]);
	if (w->nreasons > REPLAY_REASONS)
		fprintf(f, "  incomplete: and %zu more\n", w->nreasons - REPLAY_REASONS);
	fprintf(f, "file         %s on disk", human(b1, in->st.file_size));
	fprintf(f, " (map %s)\n", human(b1, in->st.map_size));

	fprintf(f, "\n%-10s %9s %12s %12s %12s %12s\n", "kind", "segments", "events", "stored",
		"raw", "bytes/event");
	for (unsigned k = 1; k < KS_KIND_MAX; k++) {
		const struct kind_stat *s = &in->kinds[k];

		if (!s->segments)
			continue;
		fprintf(f, "%-10s %9llu %12llu %12s %12s %12.2f\n", replay_kind_name(k, kb),
			(unsigned long long)s->segments, (unsigned long long)s->events,
			human(b1, s->stored), human(b2, s->raw),
			s->events ? (double)s->stored / (double)s->events : 0.0);
		total.segments += s->segments;
		total.events += s->events;
		total.stored += s->stored;
		total.raw += s->raw;
	}
	fprintf(f, "%-10s %9llu %12llu %12s %12s %12.2f\n", "total",
		(unsigned long long)total.segments, (unsigned long long)total.events,
		human(b1, total.stored), human(b2, total.raw),
		total.events ? (double)total.stored / (double)total.events : 0.0);
	if (total.events)
		fprintf(f, "on disk per event: %.2f bytes (whole file)\n",
			(double)in->st.file_size / (double)total.events);
	if (in->t->skipped_segments)
		fprintf(f, "%llu segments of kinds this ksight does not know (not decoded)\n",
			(unsigned long long)in->t->skipped_segments);

	fputs("\ndatabase   entries  value bytes\n", f);
	for (unsigned d = 0; d < KS_DB_COUNT; d++)
		fprintf(f, "%-10s %7llu %12s\n", db_names[d], (unsigned long long)in->st.entries[d],
			human(b1, in->st.value_bytes[d]));
}

static void jset(bool *ok, json_t *o, const char *k, json_t *v)
{
	if (!v || !o || json_object_set_new(o, k, v))
		*ok = false;
}

static json_t *ju(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *meta_json(struct info *in, bool *ok)
{
	json_t *o = json_object();
	struct ks_db_iter *it = NULL;
	const void *k, *v;
	size_t klen, vlen;
	char key[256];
	int err;

	if (ks_store_iter(in->t->st, KS_DB_META, &it)) {
		*ok = false;
		return o;
	}
	while ((err = ks_db_iter_next(it, &k, &klen, &v, &vlen)) > 0) {
		if (klen >= sizeof(key) || (klen == 8 && !memcmp(k, "manifest", 8)) ||
		    (klen > 6 && !memcmp(k, "epoch/", 6))) /* binary: format/epoch.h */
			continue;
		memcpy(key, k, klen);
		key[klen] = 0;
		jset(ok, o, key, report_json_text(v, vlen));
	}
	if (err < 0)
		*ok = false;
	ks_db_iter_free(it);
	return o;
}

static json_t *info_json(struct info *in)
{
	const struct replay_meta *m = &in->t->meta;
	json_t *doc = json_object(), *kinds = json_array(), *dbs = json_object(), *lost;
	struct kind_stat total = { 0 };
	const struct replay_whole *w = &in->t->whole;
	bool ok = true, dur_known, derived;
	uint64_t dur;
	char kb[16];

	jset(&ok, doc, "file", report_json_text(in->t->path, strlen(in->t->path)));
	jset(&ok, doc, "meta", meta_json(in, &ok));
	jset(&ok, doc, "state", m->state ? json_string(m->state) : json_null());
	jset(&ok, doc, "closed_cleanly", json_boolean(replay_closed_cleanly(m)));
	lost = json_object();
	jset(&ok, lost, "syscall", m->have & RM_LOST_SYSCALL ? ju(m->lost_syscall) : json_null());
	jset(&ok, lost, "proc", m->have & RM_LOST_PROC ? ju(m->lost_proc) : json_null());
	jset(&ok, lost, "sched", m->have & RM_LOST_SCHED ? ju(m->lost_sched) : json_null());
	for (size_t i = 0; i < in->nlost; i++)
		jset(&ok, lost, in->lost[i].name, ju(in->lost[i].n));
	jset(&ok, lost, "total", ju(w->lost_events));
	jset(&ok, doc, "lost", lost);
	jset(&ok, doc, "lost_events", ju(w->lost_events));
	if (w->bounded)
		jset(&ok, doc, "retention", report_json_retention(w));
	jset(&ok, doc, "complete", json_boolean(w->complete && !in->t->skipped_segments));
	jset(&ok, doc, "incomplete_reasons", report_json_reasons(w));
	dur_known = replay_duration(m, &in->span, &dur, &derived);
	jset(&ok, doc, "duration_ns", dur_known ? ju(dur) : json_null());
	jset(&ok, doc, "duration_derived", json_boolean(dur_known && derived));
	for (unsigned k = 1; k < KS_KIND_MAX; k++) {
		const struct kind_stat *s = &in->kinds[k];
		json_t *o;

		if (!s->segments)
			continue;
		o = json_object();
		jset(&ok, o, "kind", json_string(replay_kind_name(k, kb)));
		jset(&ok, o, "segments", ju(s->segments));
		jset(&ok, o, "events", ju(s->events));
		jset(&ok, o, "stored_bytes", ju(s->stored));
		jset(&ok, o, "raw_bytes", ju(s->raw));
		jset(&ok, o, "bytes_per_event",
		     json_real(s->events ? (double)s->stored / (double)s->events : 0));
		jset(&ok, o, "first_ts", ju(s->first_ts));
		jset(&ok, o, "last_ts", ju(s->last_ts));
		if (!o || json_array_append_new(kinds, o))
			ok = false;
		total.segments += s->segments;
		total.events += s->events;
		total.stored += s->stored;
		total.raw += s->raw;
	}
	jset(&ok, doc, "kinds", kinds);
	jset(&ok, doc, "segments", ju(total.segments));
	jset(&ok, doc, "events", ju(total.events));
	jset(&ok, doc, "stored_bytes", ju(total.stored));
	jset(&ok, doc, "raw_bytes", ju(total.raw));
	jset(&ok, doc, "bytes_per_event",
	     json_real(total.events ? (double)total.stored / (double)total.events : 0));
	jset(&ok, doc, "file_bytes", ju(in->st.file_size));
	jset(&ok, doc, "map_bytes", ju(in->st.map_size));
	jset(&ok, doc, "skipped_segments", ju(in->t->skipped_segments));
	for (unsigned d = 0; d < KS_DB_COUNT; d++) {
		json_t *o = json_object();

		jset(&ok, o, "entries", ju(in->st.entries[d]));
		jset(&ok, o, "value_bytes", ju(in->st.value_bytes[d]));
		jset(&ok, dbs, db_names[d], o);
	}
	jset(&ok, doc, "databases", dbs);
	if (!ok) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct info in = { 0 };
	bool json = false;
	char line[2048], *out = NULL;
	size_t len = 0;
	int c, err, rc = KS_EXIT_FAIL;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return KS_EXIT_OK;
		default:
			return replay_bad_option("info", c, argv);
		}
	}
	const char *file;
	int op = replay_trace_operand("info", argc, argv, "give the trace file", &file);
	if (op >= 0)
		return op;
	if (replay_open_said(file, &in.t))
		return KS_EXIT_FAIL;
	err = replay_each_header(in.t, 0, count_segment, &in);
	err = err ?: replay_each_segment(in.t, 0, verify_segment, &in);
	if (err) {
		ks_error("%s", in.t->err);
		goto out;
	}
	lost_counters(&in);
	err = ks_store_stat(in.t->st, &in.st);
	if (err) {
		ks_error("%s: cannot read the database statistics: %s; the trace may be damaged",
			 in.t->path, ks_strerror(err));
		goto out;
	}
	if (json) {
		json_t *doc = info_json(&in);

		out = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
		json_decref(doc);
		len = out ? strlen(out) : 0;
	} else {
		FILE *f = open_memstream(&out, &len);

		if (f) {
			info_text(f, &in);
			if (fclose(f)) {
				free(out);
				out = NULL;
			}
		}
	}
	if (!out) {
		ks_error("info: out of memory formatting the output");
		goto out;
	}
	if (fwrite(out, 1, len, stdout) != len || (json && fputc('\n', stdout) == EOF) ||
	    fflush(stdout)) {
		ks_error("info: writing the output failed: %s", strerror(errno));
		goto out;
	}
	if (replay_incomplete_line(in.t, line, sizeof(line)))
		ks_error("%s", line);
	rc = KS_EXIT_OK;
out:
	free(out);
	replay_close(in.t);
	return rc;
}
