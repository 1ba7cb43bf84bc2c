/* The block I/O and network parts of the report: JSON "block_io", "network"
 * and "io_buckets", and the text sections BLOCK I/O and NETWORK
 * (biolatency/biosnoop and tcptop/tcpretrans style). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/report.h"
#include "replay/report_io.h"
#include "store/store.h"
#include "util/units.h"

#define PROCS_SHOWN 20
#define CONNS_SHOWN 40

int report_io_compute(struct report *r)
{
	struct ks_store *st = r->t->st;
	char *devs = NULL, *lost = NULL, *end;
	int err;

	/* absent keys (older traces, --no-block/--no-net) leave NULL */
	if (ks_store_get_meta(st, "io_probes", &r->io_probes))
		r->io_probes = NULL;
	if (ks_store_get_meta(st, "io_missing", &r->io_missing))
		r->io_missing = NULL;
	if (ks_store_get_meta(st, "block_devices", &devs))
		devs = NULL;
	r->io_lost = -1;
	if (!ks_store_get_meta(st, "lost_io", &lost)) {
		r->io_lost = strtoll(lost, &end, 10);
		if (*end || r->io_lost < 0)
			r->io_lost = -1;
	}
	free(lost);
	err = blockio_finish(&r->a.blk, devs);
	free(devs);
	err = err ?: net_finish(&r->a.net);
	return err ?: io_buckets_sort(&r->a.iob);
}

static bool has_probe(const struct report *r, const char *tp)
{
	return r->io_probes && strstr(r->io_probes, tp);
}

/* ---- JSON --------------------------------------------------------------------- */

static json_t *jstrn(const char *s, size_t max)
{
	return report_json_text(s, strnlen(s, max));
}

static const char *dev_name(const struct blockio_analysis *a, uint32_t dev)
{
	uint64_t *at = ks_hmap_get(&a->devmap, dev);

	return at ? a->devs[*at].name : "?";
}

static json_t *json_block(struct jb *b, const struct report *r)
{
	const struct blockio_analysis *a = &r->a.blk;
	json_t *o = json_object(), *devs = json_array(), *procs = json_array();
	json_t *slow = json_array();
	char dev[32], tb[KS_TIME_BUF];

	jb_set(b, o, "recorded", json_boolean(has_probe(r, "block_rq_complete")));
	jb_set(b, o, "not_recorded", r->io_missing ? json_string(r->io_missing) : json_null());
	jb_set(b, o, "requests", jb_u64(a->requests));
	jb_set(b, o, "bytes", jb_u64(a->bytes));
	jb_set(b, o, "kernel_thread_bytes", jb_u64(a->kthread_bytes));
	jb_set(b, o, "errors", jb_u64(a->errors));
	/* shared with network: the I/O probes' one drop counter */
	jb_set(b, o, "lost_events", r->io_lost < 0 ? json_null() : jb_u64(r->io_lost));
	for (size_t i = 0; i < a->ndevs; i++) {
		const struct blk_dev *d = &a->devs[i];
		json_t *x = json_object();

		snprintf(dev, sizeof(dev), "%u:%u", d->dev >> 20, d->dev & 0xfffff);
		jb_set(b, x, "dev", json_string(dev));
		jb_set(b, x, "name", json_string(d->name));
		jb_set(b, x, "reads", jb_u64(d->reads));
		jb_set(b, x, "writes", jb_u64(d->writes));
		jb_set(b, x, "other", jb_u64(d->others));
		jb_set(b, x, "read_bytes", jb_u64(d->read_bytes));
		jb_set(b, x, "write_bytes", jb_u64(d->write_bytes));
		jb_set(b, x, "queue_ns", jb_u64(d->queue_ns));
		jb_set(b, x, "service_ns", jb_u64(d->service_ns));
		jb_set(b, x, "p50_ns", jb_u64(ks_hist_percentile(d->lat, 50)));
		jb_set(b, x, "p99_ns", jb_u64(ks_hist_percentile(d->lat, 99)));
		jb_set(b, x, "max_ns", jb_u64(d->lat->count ? d->lat->max : 0));
		jb_set(b, x, "log2_us", jb_log2(b, d->log2us));
		jb_push(b, devs, x);
	}
	for (size_t i = 0; i < a->nprocs; i++) {
		const struct blk_proc *p = &a->procs[i];
		json_t *x = json_object();

		jb_set(b, x, "pid", json_integer(p->pid));
		jb_set(b, x, "comm", jstrn(p->comm, sizeof(p->comm)));
		jb_set(b, x, "kernel_thread", json_boolean(p->kthread));
		jb_set(b, x, "reads", jb_u64(p->reads));
		jb_set(b, x, "writes", jb_u64(p->writes));
		jb_set(b, x, "read_bytes", jb_u64(p->read_bytes));
		jb_set(b, x, "write_bytes", jb_u64(p->write_bytes));
		jb_set(b, x, "time_ns", jb_u64(p->time_ns));
		jb_push(b, procs, x);
	}
	for (size_t i = 0; i < a->nslow; i++) {
		const struct ks_block *q = &a->slow[i];
		json_t *x = json_object();
		bool known;
		int64_t e = report_epoch_ns(&r->t->meta, q->ts, &known);

		snprintf(dev, sizeof(dev), "%u:%u", q->dev >> 20, q->dev & 0xfffff);
		jb_set(b, x, "timestamp", known ? json_integer(e) : json_null());
		jb_set(b, x, "time_str", known ? json_string(ks_fmt_utc(tb, e)) : json_null());
		jb_set(b, x, "pid", json_integer(q->pid));
		jb_set(b, x, "tid", json_integer(q->tid));
		jb_set(b, x, "comm", jstrn(q->comm, sizeof(q->comm)));
		jb_set(b, x, "kernel_thread", json_boolean(q->flags & KS_BLK_KTHREAD));
		jb_set(b, x, "dev", json_string(dev));
		jb_set(b, x, "name", json_string(dev_name(a, q->dev)));
		jb_set(b, x, "op", json_string(blockio_op_name(q->op)));
		jb_set(b, x, "sector", jb_u64(q->sector));
		jb_set(b, x, "bytes", jb_u64(q->bytes));
		jb_set(b, x, "queue_ns", jb_u64(q->queue_ns));
		jb_set(b, x, "service_ns", jb_u64(q->service_ns));
		jb_set(b, x, "latency_ns", jb_u64(q->queue_ns + q->service_ns));
		jb_set(b, x, "error", json_boolean(q->flags & KS_BLK_ERROR));
		jb_push(b, slow, x);
	}
	jb_set(b, o, "devices", devs);
	jb_set(b, o, "by_process", procs);
	jb_set(b, o, "slow", slow);
	return o;
}

static json_t *json_network(struct jb *b, const struct report *r)
{
	const struct net_analysis *a = &r->a.net;
	json_t *o = json_object(), *procs = json_array(), *conns = json_array();
	char lb[NET_ADDR_BUF], rb[NET_ADDR_BUF], pb[16];

	jb_set(b, o, "recorded", json_boolean(has_probe(r, "sock_send_length")));
	jb_set(b, o, "not_recorded", r->io_missing ? json_string(r->io_missing) : json_null());
	jb_set(b, o, "tx_bytes", jb_u64(a->tx));
	jb_set(b, o, "rx_bytes", jb_u64(a->rx));
	jb_set(b, o, "retransmits", jb_u64(a->retransmits));
	jb_set(b, o, "connections_omitted", jb_u64(a->conn_misses));
	jb_set(b, o, "lost_events", r->io_lost < 0 ? json_null() : jb_u64(r->io_lost));
	for (size_t i = 0; i < a->nprocs; i++) {
		const struct net_proc *p = &a->procs[i];
		json_t *x = json_object();

		jb_set(b, x, "pid", json_integer(p->pid));
		jb_set(b, x, "comm", jstrn(p->comm, sizeof(p->comm)));
		jb_set(b, x, "tx_bytes", jb_u64(p->tx));
		jb_set(b, x, "rx_bytes", jb_u64(p->rx));
		jb_set(b, x, "retransmits", jb_u64(p->retransmits));
		jb_set(b, x, "connections", jb_u64(p->conns));
		jb_push(b, procs, x);
	}
	for (size_t i = 0; i < a->nconns; i++) {
		const struct net_conn *c = &a->conns[i];
		json_t *x = json_object();

		jb_set(b, x, "pid", json_integer(c->pid));
		jb_set(b, x, "comm", jstrn(c->comm, sizeof(c->comm)));
		jb_set(b, x, "proto", json_string(net_proto_name(c->proto, pb)));
		jb_set(b, x, "family", json_string(c->family == 10 ? "ipv6" : "ipv4"));
		jb_set(b, x, "local", json_string(net_endpoint(lb, c->family, c->laddr, c->lport)));
		jb_set(b, x, "remote", json_string(net_endpoint(rb, c->family, c->raddr, c->rport)));
		jb_set(b, x, "tx_bytes", jb_u64(c->tx));
		jb_set(b, x, "rx_bytes", jb_u64(c->rx));
		jb_set(b, x, "retransmits", jb_u64(c->retransmits));
		jb_set(b, x, "start_ns", jb_epoch(r, c->start_ts));
		/* still open at the trace's end: no end */
		jb_set(b, x, "end_ns", c->closed ? jb_epoch(r, c->end_ts) : json_null());
		jb_set(b, x, "last_ns", jb_epoch(r, c->end_ts));
		jb_push(b, conns, x);
	}
	jb_set(b, o, "by_process", procs);
	jb_set(b, o, "connections", conns);
	return o;
}

static json_t *json_io_buckets(struct jb *b, const struct report *r)
{
	const struct io_buckets *bk = &r->a.iob;
	json_t *list = json_array();

	for (size_t i = 0; i < bk->n; i++) {
		const struct io_bucket *k = &bk->v[i];
		json_t *x = json_object();

		jb_set(b, x, "time_bucket", jb_u64(k->sec));
		jb_set(b, x, "pid", json_integer(k->pid));
		jb_set(b, x, "comm", jstrn(k->comm, sizeof(k->comm)));
		jb_set(b, x, "block_read_bytes", jb_u64(k->blk_read));
		jb_set(b, x, "block_write_bytes", jb_u64(k->blk_write));
		jb_set(b, x, "net_tx_bytes", jb_u64(k->net_tx));
		jb_set(b, x, "net_rx_bytes", jb_u64(k->net_rx));
		jb_push(b, list, x);
	}
	return list;
}

bool report_io_json(const struct report *r, json_t *doc)
{
	struct jb b = { true };

	jb_set(&b, doc, "block_io", json_block(&b, r));
	jb_set(&b, doc, "network", json_network(&b, r));
	jb_set(&b, doc, "io_buckets", json_io_buckets(&b, r));
	jb_set(&b, doc, "io_buckets_omitted", jb_u64(r->a.iob.misses));
	return b.ok;
}

/* ---- text --------------------------------------------------------------------- */

static const char *fmt_bytes(char buf[16], uint64_t v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	snprintf(buf, 16, u ? "%.1f %s" : "%.0f %s", d, units[u]);
	return buf;
}

static void block_text(FILE *f, const struct report *r)
{
	const struct blockio_analysis *a = &r->a.blk;
	char b1[16], b2[16], d1[KS_DUR_BUF], d2[KS_DUR_BUF], d3[KS_DUR_BUF], dev[32];

	if (!has_probe(r, "block_rq_complete")) {
		fputs("\nBLOCK I/O  not recorded", f);
		fprintf(f, "%s%s\n", r->io_missing ? ": " : "",
			r->io_missing ? r->io_missing : " (--no-block, or a trace from before)");
		return;
	}
	fprintf(f, "\nBLOCK I/O  %llu requests, %s; %s by kernel threads (write-back, journal: "
		"theirs, not the process that dirtied the pages)\n",
		(unsigned long long)a->requests, fmt_bytes(b1, a->bytes),
		fmt_bytes(b2, a->kthread_bytes));
	if (!a->ndevs)
		return;
	fprintf(f, "%-8s %-10s %8s %8s %11s %11s %10s %10s %10s\n", "dev", "name", "reads",
		"writes", "read", "written", "p50", "p99", "max");
	for (size_t i = 0; i < a->ndevs; i++) {
		const struct blk_dev *d = &a->devs[i];

		snprintf(dev, sizeof(dev), "%u:%u", d->dev >> 20, d->dev & 0xfffff);
		fprintf(f, "%-8s %-10s %8llu %8llu %11s %11s %10s %10s %10s\n", dev, d->name,
			(unsigned long long)d->reads, (unsigned long long)d->writes,
			fmt_bytes(b1, d->read_bytes), fmt_bytes(b2, d->write_bytes),
			ks_fmt_dur(d1, ks_hist_percentile(d->lat, 50)),
			ks_fmt_dur(d2, ks_hist_percentile(d->lat, 99)),
			ks_fmt_dur(d3, d->lat->count ? d->lat->max : 0));
	}
	fprintf(f, "\n%-8s %-16s %3s %11s %11s %10s\n", "pid", "comm", "kt", "read", "written",
		"io time");
	for (size_t i = 0; i < a->nprocs && i < PROCS_SHOWN; i++) {
		const struct blk_proc *p = &a->procs[i];

		fprintf(f, "%-8u %-16.16s %3s %11s %11s %10s\n", p->pid, p->comm,
			p->kthread ? "yes" : "", fmt_bytes(b1, p->read_bytes),
			fmt_bytes(b2, p->write_bytes), ks_fmt_dur(d1, p->time_ns));
	}
	fprintf(f, "\nSLOWEST BLOCK REQUESTS (biosnoop)\n%-12s %-16s %-8s %-8s %2s %12s %8s "
		"%10s %10s\n", "TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES", "QUE",
		"LAT");
	for (size_t i = 0; i < a->nslow; i++) {
		const struct ks_block *q = &a->slow[i];

		fprintf(f, "%-12.6f %-16.16s %-8u %-8s %2s %12llu %8u %10s %10s\n",
			q->ts > r->start_ns ? (double)(q->ts - r->start_ns) / 1e9 : 0.0, q->comm,
			q->pid, dev_name(a, q->dev), blockio_op_name(q->op),
			(unsigned long long)q->sector, q->bytes, ks_fmt_dur(d1, q->queue_ns),
			ks_fmt_dur(d2, q->queue_ns + q->service_ns));
	}
	for (size_t i = 0; i < a->ndevs; i++) {
		fprintf(f, "\nBLOCK LATENCY %s (biolatency: start to completion)\n", a->devs[i].name);
		ks_log2_print(f, a->devs[i].log2us, KS_LOG2_SLOTS, "usecs");
	}
}

static void net_text(FILE *f, const struct report *r)
{
	const struct net_analysis *a = &r->a.net;
	char b1[16], b2[16], lb[NET_ADDR_BUF], rb[NET_ADDR_BUF], pb[16], d1[KS_DUR_BUF];

	if (!has_probe(r, "sock_send_length")) {
		fputs("\nNETWORK  network bytes not recorded", f);
		fprintf(f, "%s%s\n", r->io_missing ? ": " : "",
			r->io_missing ? r->io_missing : " (--no-net, or a trace from before)");
		if (!a->nconns)
			return;
	} else {
		fprintf(f, "\nNETWORK  %zu connections, %s sent, %s received, %llu TCP "
			"retransmits\n", a->nconns, fmt_bytes(b1, a->tx), fmt_bytes(b2, a->rx),
			(unsigned long long)a->retransmits);
	}
	if (!a->nprocs)
		return;
	fprintf(f, "%-8s %-16s %11s %11s %8s %6s\n", "pid", "comm", "sent", "received",
		"retrans", "conns");
	for (size_t i = 0; i < a->nprocs && i < PROCS_SHOWN; i++) {
		const struct net_proc *p = &a->procs[i];

		fprintf(f, "%-8u %-16.16s %11s %11s %8llu %6llu\n", p->pid, p->comm,
			fmt_bytes(b1, p->tx), fmt_bytes(b2, p->rx),
			(unsigned long long)p->retransmits, (unsigned long long)p->conns);
	}
	fprintf(f, "\nCONNECTIONS%s\n%-8s %-12s %-4s %-28s %-28s %10s %10s %7s %10s\n",
		a->nconns > CONNS_SHOWN ? " (the first 40)" : "", "pid", "comm", "prot", "local",
		"remote", "sent", "received", "retrans", "life");
	for (size_t i = 0; i < a->nconns && i < CONNS_SHOWN; i++) {
		const struct net_conn *c = &a->conns[i];

		fprintf(f, "%-8u %-12.12s %-4s %-28s %-28s %10s %10s %7llu %10s%s\n", c->pid,
			c->comm, net_proto_name(c->proto, pb),
			net_endpoint(lb, c->family, c->laddr, c->lport),
			net_endpoint(rb, c->family, c->raddr, c->rport), fmt_bytes(b1, c->tx),
			fmt_bytes(b2, c->rx), (unsigned long long)c->retransmits,
			ks_fmt_dur(d1, c->end_ts - c->start_ts), c->closed ? "" : " open");
	}
}

void report_io_text(FILE *f, const struct report *r)
{
	if (r->io_lost > 0)
		fprintf(f, "\n!! %lld block and network records lost: the figures below are "
			"lower bounds\n", r->io_lost);
	block_text(f, r);
	net_text(f, r);
}
