/* `ksight export --format ndjson`: one table of a trace as one JSON object per
 * line, for fleet engines (ClickHouse JSONEachRow, BigQuery, DuckDB). Event
 * tables (syscalls, samples) stream segment by segment; the others come from
 * the computed report. Every row carries host and trace_id. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "replay/export.h"
#include "util/hmap.h"

const char *const export_ndjson_tables[] = {
	"syscalls", "processes", "execs", "sched", "files", "network", "samples", NULL,
};

static const char *const table_help[] = {
	"every syscall: ts_ns (epoch), pid, tid, syscall, nr, category, ret, dur_ns,\n"
	"             errno, returned",
	"every process: pid, ppid, comm, argv, start_ns, exit_ns, exit_code,\n"
	"             cpu_time_ms, voluntary/involuntary_switches, peak_rss_kb",
	"every successful exec: ts_ns, pid, ppid, comm, argv",
	"per process and second: time_bucket, pid, comm, context_switches,\n"
	"             voluntary/involuntary_switches, wakeups, cpu_time_ms",
	"per file: path, opens, reads, read_bytes, writes, write_bytes, errors, time_ns",
	"per socket: name, local, remote, domain, type, opens, reads, read_bytes,\n"
	"             writes, write_bytes, errors, time_ns",
	"every /proc sample: ts_ns, pid, threads, rss_kb, vsz_kb, cpu_ns, read_bytes,\n"
	"             write_bytes, rchar, wchar, minflt, majflt",
};

const char *export_ndjson_describe(const char *table)
{
	for (size_t i = 0; export_ndjson_tables[i]; i++)
		if (!strcmp(table, export_ndjson_tables[i]))
			return table_help[i];
	return NULL;
}

void export_trace_id(const struct replay_trace *t, char out[17])
{
	const struct replay_meta *m = &t->meta;
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s\n%llu\n%lld\n%s", m->hostname ? m->hostname : "",
			 (unsigned long long)m->start_ns, (long long)m->mono_to_realtime_ns,
			 m->command ? m->command : "");

	snprintf(out, 17, "%016llx",
		 (unsigned long long)ks_hash_bytes(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1));
}

struct nd {
	const struct report *r;
	FILE *f;
	struct export_stats *st;
	char *prefix; /* {"host":"...","trace_id":"...", */
	uint64_t lo, hi;
};

static bool selected(const struct nd *n, uint32_t pid, uint64_t ts)
{
	return (!n->r->a.o.has_pid || pid == n->r->a.o.pid) && ts >= n->lo && ts <= n->hi;
}

static int64_t epoch(const struct nd *n, uint64_t ts)
{
	bool known;

	return report_epoch_ns(&n->r->t->meta, ts, &known);
}

static int syscall_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct nd *n = ctx;
	const struct ks_syscall *v = rows;
	char nb[KS_SYSCALL_NAME_MAX];

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++) {
		const struct ks_syscall *s = &v[i];
		bool ret = !(s->flags & KS_SYSF_NORET);
		const char *en = ret && s->ret < 0 && s->ret >= -4095 ?
					 strerrorname_np((int)-s->ret) : NULL;

		if (!selected(n, s->pid, s->ts))
			continue;
		if (fprintf(n->f, "%s\"ts_ns\":%lld,\"pid\":%u,\"tid\":%u,\"syscall\":\"%s\","
			    "\"nr\":%u,\"category\":\"%s\",\"ret\":%lld,\"dur_ns\":%llu,"
			    "\"errno\":\"%s\",\"returned\":%s}\n", n->prefix,
			    (long long)epoch(n, s->ts), s->pid, s->tid, ks_syscall_name(s->nr, nb),
			    s->nr, ks_cat_name(ks_syscall_category(s->nr)), (long long)s->ret,
			    (unsigned long long)s->dur, en ? en : "", ret ? "true" : "false") < 0)
			return -EIO;
		n->st->rows++;
		n->st->syscalls++;
	}
	return 0;
}

static int sample_rows(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct nd *n = ctx;
	const struct ks_sample *v = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++) {
		const struct ks_sample *s = &v[i];

		if (!selected(n, s->pid, s->ts))
			continue;
		if (fprintf(n->f, "%s\"ts_ns\":%lld,\"pid\":%u,\"threads\":%u,\"rss_kb\":%llu,"
			    "\"vsz_kb\":%llu,\"cpu_ns\":%llu,\"read_bytes\":%llu,"
			    "\"write_bytes\":%llu,\"rchar\":%llu,\"wchar\":%llu,\"minflt\":%llu,"
			    "\"majflt\":%llu}\n", n->prefix, (long long)epoch(n, s->ts), s->pid,
			    s->threads, (unsigned long long)s->rss_kb, (unsigned long long)s->vsz_kb,
			    (unsigned long long)s->cpu_ns, (unsigned long long)s->read_bytes,
			    (unsigned long long)s->write_bytes, (unsigned long long)s->rchar,
			    (unsigned long long)s->wchar, (unsigned long long)s->minflt,
			    (unsigned long long)s->majflt) < 0)
			return -EIO;
		n->st->rows++;
	}
	return 0;
}

/* Writes o (stolen) after the host and trace_id columns. */
static int put_row(struct nd *n, json_t *o)
{
	char *s;
	int err = 0;

	if (!o)
		return -ENOMEM;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
	json_decref(o);
	if (!s)
		return -ENOMEM;
	/* s is "{...}": the prefix already opened the object */
	if (fprintf(n->f, "%s%s\n", n->prefix, s[1] == '}' ? "}" : s + 1) < 0)
		err = -EIO;
	free(s);
	n->st->rows++;
	return err;
}

static json_t *argv_text(const char *argv, uint32_t len)
{
	char buf[KS_ARGV_MAX];
	size_t l = len < KS_ARGV_MAX ? len : KS_ARGV_MAX;

	memcpy(buf, argv, l);
	while (l && !buf[l - 1])
		l--;
	for (size_t i = 0; i < l; i++)
		if (!buf[i])
			buf[i] = ' ';
	return report_json_text(buf, l);
}

static int processes(struct nd *n)
{
	const struct replay_procs *p = &n->r->a.procs;
	int err = 0;

	for (size_t i = 0; i < p->n && !err; i++) {
		const struct replay_proc *rp = &p->v[i];
		const struct sched_proc *sp = sched_find_record(&n->r->a.sched, (uint32_t)i);

		if (n->r->a.o.has_pid && rp->pid != n->r->a.o.pid)
			continue;
		err = put_row(n, json_pack(
			"{s:I,s:I,s:o,s:o,s:I,s:I,s:I,s:f,s:I,s:I,s:I}", "pid", (json_int_t)rp->pid,
			"ppid", (json_int_t)rp->ppid, "comm", report_json_text(rp->comm, strlen(rp->comm)),
			"argv", argv_text(rp->argv, rp->argv_len),
			"start_ns", (json_int_t)epoch(n, rp->start_ts),
			"exit_ns", (json_int_t)(rp->exited ? epoch(n, rp->exit_ts) : 0),
			"exit_code", (json_int_t)(rp->exited ? replay_exit_code(rp->wstatus) : -1),
			"cpu_time_ms", sp ? (double)sp->c.on_ns / 1e6 : 0.0,
			"voluntary_switches", (json_int_t)(sp ? sp->c.vol : 0),
			"involuntary_switches", (json_int_t)(sp ? sp->c.invol : 0),
			"peak_rss_kb", (json_int_t)(sp ? sp->peak_rss_kb : 0)));
	}
	return err;
}

static int execs(struct nd *n)
{
	const struct replay_procs *p = &n->r->a.procs;
	int err = 0;

	for (size_t i = 0; i < p->nexecs && !err; i++) {
		const struct replay_exec *e = &p->execs[i];

		if (!selected(n, e->pid, e->ts))
			continue;
		err = put_row(n, json_pack("{s:I,s:I,s:I,s:o,s:o}", "ts_ns",
					   (json_int_t)epoch(n, e->ts), "pid", (json_int_t)e->pid,
					   "ppid", (json_int_t)e->ppid, "comm",
					   report_json_text(e->comm, strlen(e->comm)), "argv",
					   argv_text(e->argv, e->argv_len)));
	}
	return err;
}

static int sched(struct nd *n)
{
	const struct sched_analysis *s = &n->r->a.sched;
	int err = 0;

	for (size_t i = 0; i < s->nbuckets && !err; i++) {
		const struct sched_bucket *b = &s->buckets[i];
		const char *comm = replay_procs_comm_at(&n->r->a.procs, b->pid,
							sched_sec_last_ns(s, b->sec));

		if (n->r->a.o.has_pid && b->pid != n->r->a.o.pid)
			continue;
		err = put_row(n, json_pack("{s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:f}", "time_bucket",
					   (json_int_t)b->sec, "pid", (json_int_t)b->pid, "comm",
					   report_json_text(comm, strlen(comm)), "context_switches",
					   (json_int_t)b->switches, "voluntary_switches",
					   (json_int_t)b->vol, "involuntary_switches",
					   (json_int_t)b->invol, "wakeups", (json_int_t)b->wakeups,
					   "cpu_time_ms", (double)b->cpu_ns / 1e6));
	}
	return err;
}

static json_t *opt_text(const char *s)
{
	return s ? report_json_text(s, strlen(s)) : json_string("");
}

/* files (paths) or network (sockets): the replayed fd tables' objects. */
static int objects(struct nd *n, bool sockets)
{
	const struct files_analysis *f = &n->r->files;
	int err = 0;

	for (size_t i = 0; i < f->nst && !err; i++) {
		const struct file_stat *s = &f->st[i];
		const struct fdt_object *o = files_object(f, s);
		json_t *row;

		if (!s->opens && !s->reads && !s->writes && !s->errors && !s->time_ns)
			continue;
		if (sockets ? o->kind != FDT_SOCKET : o->kind != FDT_FILE)
			continue;
		row = json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
				sockets ? "name" : "path", report_json_text(o->name, o->name_len),
				"opens", (json_int_t)s->opens, "reads", (json_int_t)s->reads,
				"read_bytes", (json_int_t)s->read_bytes, "writes",
				(json_int_t)s->writes, "write_bytes", (json_int_t)s->write_bytes,
				"errors", (json_int_t)s->errors, "time_ns", (json_int_t)s->time_ns);
		if (row && sockets &&
		    (json_object_set_new(row, "local", opt_text(o->local)) ||
		     json_object_set_new(row, "remote", opt_text(o->remote)) ||
		     json_object_set_new(row, "domain", json_integer(o->domain)) ||
		     json_object_set_new(row, "type", json_integer(o->type)))) {
			json_decref(row);
			row = NULL;
		}
		err = put_row(n, row);
	}
	return err;
}

int export_ndjson(const struct report *r, const char *table, FILE *f, struct export_stats *st)
{
	struct nd n = { .r = r, .f = f, .st = st };
	const struct replay_meta *m = &r->t->meta;
	char id[17], *host;
	json_t *h;
	int err;

	memset(st, 0, sizeof(*st));
	if (!export_ndjson_describe(table))
		return -EINVAL;
	n.lo = r->a.lo;
	n.hi = r->a.range > UINT64_MAX - r->a.lo ? UINT64_MAX : r->a.lo + r->a.range;
	export_trace_id(r->t, id);
	h = m->hostname ? report_json_text(m->hostname, strlen(m->hostname)) : json_string("");
	host = h ? json_dumps(h, JSON_ENCODE_ANY) : NULL;
	json_decref(h);
	if (!host || asprintf(&n.prefix, "{\"host\":%s,\"trace_id\":\"%s\",", host, id) < 0) {
		free(host);
		return -ENOMEM;
	}
	free(host);
	if (!strcmp(table, "syscalls"))
		err = replay_each_segment(r->t, KS_KIND_SYSCALL, syscall_rows, &n);
	else if (!strcmp(table, "samples"))
		err = replay_each_segment(r->t, KS_KIND_SAMPLE, sample_rows, &n);
	else if (!strcmp(table, "processes"))
		err = processes(&n);
	else if (!strcmp(table, "execs"))
		err = execs(&n);
	else if (!strcmp(table, "sched"))
		err = sched(&n);
	else
		err = objects(&n, !strcmp(table, "network"));
	if (!err && fflush(f))
		err = -EIO;
	if (err == -ENOMEM && !r->t->err[0])
		replay_fail(r->t, err, "out of memory while exporting the trace");
	free(n.prefix);
	return err;
}
