/* Network analysis (see network.h). A socket's kernel address names a
 * connection while it lives: a TCP close ends it, and a later event on the same
 * address (the memory reused) or a UDP socket whose endpoints changed starts a
 * new one. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "replay/network.h"
#include "replay/procs.h"
#include "util/grow.h"

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

void net_init(struct net_analysis *n, uint64_t lo, uint64_t range, bool has_pid, uint32_t pid)
{
	memset(n, 0, sizeof(*n));
	n->lo = lo;
	n->range = range;
	n->has_pid = has_pid;
	n->pid = pid;
}

static struct net_proc *proc_get(struct net_analysis *a, const struct ks_net *r)
{
	uint64_t *at = ks_hmap_get(&a->procmap, r->pid);
	struct net_proc *p;

	if (at)
		return &a->procs[*at];
	if (KS_GROW(&a->procs, &a->capprocs, a->nprocs + 1) ||
	    ks_hmap_put(&a->procmap, r->pid, a->nprocs))
		return NULL;
	p = &a->procs[a->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = r->pid;
	memcpy(p->comm, r->comm, sizeof(p->comm));
	return p;
}

static void set_endpoints(struct net_conn *c, const struct ks_net *r)
{
	memcpy(c->laddr, &r->laddr_hi, 8);
	memcpy(c->laddr + 8, &r->laddr_lo, 8);
	memcpy(c->raddr, &r->raddr_hi, 8);
	memcpy(c->raddr + 8, &r->raddr_lo, 8);
	c->lport = r->lport;
	c->rport = r->rport;
}

static bool same_endpoints(const struct net_conn *c, const struct ks_net *r)
{
	return c->lport == r->lport && c->rport == r->rport &&
	       !memcmp(c->raddr, &r->raddr_hi, 8) && !memcmp(c->raddr + 8, &r->raddr_lo, 8);
}

/* The connection r belongs to, opened when r starts one; NULL past the cap
 * (counted) or on ENOMEM (*err). */
static struct net_conn *conn_get(struct net_analysis *a, const struct ks_net *r, bool *is_new,
				 int *err)
{
	uint64_t *at = ks_hmap_get(&a->live, r->sk);
	struct net_conn *c = at ? &a->conns[*at] : NULL;
	bool starts = r->what == KS_NET_STATE && r->state == TCP_SYN_SENT;

	*is_new = false;
	if (c && (starts || c->proto != r->proto ||
		  (r->proto == IPPROTO_UDP && !same_endpoints(c, r)))) {
		ks_hmap_remove(&a->live, at);
		c = NULL;
	}
	if (c)
		return c;
	if (a->nconns >= NET_CONNS_MAX) {
		a->conn_misses++;
		return NULL;
	}
	if (KS_GROW(&a->conns, &a->capconns, a->nconns + 1) ||
	    ks_hmap_put(&a->live, r->sk, a->nconns)) {
		*err = -ENOMEM;
		return NULL;
	}
	c = &a->conns[a->nconns++];
	memset(c, 0, sizeof(*c));
	c->sk = r->sk;
	c->pid = r->pid;
	memcpy(c->comm, r->comm, sizeof(c->comm));
	c->proto = r->proto;
	c->family = r->family;
	c->start_ts = r->ts;
	set_endpoints(c, r);
	*is_new = true;
	return c;
}

int net_rows(struct net_analysis *a, const struct ks_net *rows, size_t n, struct io_buckets *bk)
{
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ks_net *r = &rows[i];
		struct net_conn *c;
		struct net_proc *p;
		struct io_bucket *k = NULL;
		bool is_new;

		a->rows++;
		if (r->ts < a->lo || r->ts - a->lo > a->range)
			continue;
		if (!replay_pid_wanted(a->has_pid, a->pid, a->pids, r->pid))
			continue;
		p = proc_get(a, r);
		if (!p)
			return -ENOMEM;
		c = conn_get(a, r, &is_new, &err);
		if (err)
			return err;
		if (is_new)
			p->conns++;
		if (r->what == KS_NET_SEND || r->what == KS_NET_RECV) {
			k = io_bucket_get(bk, r->ts, r->pid, r->comm, &err);
			if (err)
				return err;
		}
		switch (r->what) {
		case KS_NET_SEND:
			a->tx += r->bytes;
			p->tx += r->bytes;
			if (c)
				c->tx += r->bytes;
			if (k)
				k->net_tx += r->bytes;
			break;
		case KS_NET_RECV:
			a->rx += r->bytes;
			p->rx += r->bytes;
			if (c)
				c->rx += r->bytes;
			if (k)
				k->net_rx += r->bytes;
			break;
		case KS_NET_RETRANS:
			a->retransmits++;
			p->retransmits++;
			if (c)
				c->retransmits++;
			break;
		}
		if (!c)
			continue;
		/* connect() sees no source port yet: take the endpoints once complete */
		if (r->lport && r->rport)
			set_endpoints(c, r);
		if (r->ts < c->start_ts)
			c->start_ts = r->ts; /* an accepted connection's establishment */
		if (r->ts > c->end_ts)
			c->end_ts = r->ts;
		if (r->what == KS_NET_STATE && r->state == TCP_CLOSE) {
			c->closed = true;
			ks_hmap_del(&a->live, r->sk);
		}
	}
	return 0;
}

static int by_bytes(const void *x, const void *y)
{
	const struct net_proc *a = x, *b = y;

	if (a->tx + a->rx != b->tx + b->rx)
		return a->tx + a->rx > b->tx + b->rx ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static int by_start(const void *x, const void *y)
{
	const struct net_conn *a = x, *b = y;

	if (a->start_ts != b->start_ts)
		return a->start_ts < b->start_ts ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

int net_finish(struct net_analysis *a)
{
	ks_qsort(a->procs, a->nprocs, sizeof(*a->procs), by_bytes);
	ks_hmap_clear(&a->procmap);
	ks_qsort(a->conns, a->nconns, sizeof(*a->conns), by_start);
	ks_hmap_clear(&a->live);
	return 0;
}

const char *net_endpoint(char buf[NET_ADDR_BUF], uint32_t family, const uint8_t addr[16],
			 uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (family == AF_INET6 && inet_ntop(AF_INET6, addr, a, sizeof(a)))
		snprintf(buf, NET_ADDR_BUF, "[%s]:%u", a, port);
	else if (inet_ntop(AF_INET, addr, a, sizeof(a)))
		snprintf(buf, NET_ADDR_BUF, "%s:%u", a, port);
	else
		snprintf(buf, NET_ADDR_BUF, "?:%u", port);
	return buf;
}

const char *net_proto_name(uint32_t proto, char buf[16])
{
	if (proto == IPPROTO_TCP)
		return "tcp";
	if (proto == IPPROTO_UDP)
		return "udp";
	snprintf(buf, 16, "ip%u", proto);
	return buf;
}

void net_free(struct net_analysis *a)
{
	free(a->conns);
	free(a->procs);
	ks_hmap_free(&a->live);
	ks_hmap_free(&a->procmap);
	memset(a, 0, sizeof(*a));
}
