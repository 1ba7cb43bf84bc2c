/* Network figures from a trace's net rows: bytes and retransmits per process and
 * per connection (TCP by its life from connect/accept to close, UDP by socket
 * and endpoints), IPv4 and IPv6. Memory grows with processes and connections
 * (capped at NET_CONNS_MAX; the rest counted), never with the number of events. */
#ifndef KSIGHT_REPLAY_NETWORK_H
#define KSIGHT_REPLAY_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "replay/iobuckets.h"
#include "util/hmap.h"

#define NET_CONNS_MAX 100000
#define NET_ADDR_BUF 56 /* "[ipv6]:port" */

struct net_conn {
	uint64_t sk;
	uint32_t pid;
	char comm[KS_COMM_MAX];
	uint32_t proto, family;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	uint64_t tx, rx, retransmits;
	uint64_t start_ts, end_ts; /* end_ts: its close, else its last event */
	bool closed;               /* a TCP close was seen */
};

struct net_proc {
	uint32_t pid;
	char comm[KS_COMM_MAX];
	uint64_t tx, rx, retransmits, conns;
};

struct net_analysis {
	bool has_pid;
	const struct ks_hmap *pids; /* only these processes (report --cgroup); NULL: all */
	uint32_t pid;
	uint64_t lo, range;
	struct net_conn *conns;  /* in order of first sight; by start after finish */
	size_t nconns, capconns;
	struct ks_hmap live;     /* sk -> index of its open connection */
	uint64_t conn_misses;    /* events of connections over NET_CONNS_MAX */
	struct net_proc *procs;  /* sorted by bytes by net_finish */
	size_t nprocs, capprocs;
	struct ks_hmap procmap;
	uint64_t tx, rx, retransmits;
	uint64_t rows;
};

void net_init(struct net_analysis *n, uint64_t lo, uint64_t range, bool has_pid, uint32_t pid);
/* Adds n net rows (and their bytes to bk). Returns 0 or -ENOMEM. */
int net_rows(struct net_analysis *a, const struct ks_net *rows, size_t n, struct io_buckets *bk);
/* Sorts processes by bytes and connections by start. Returns 0. */
int net_finish(struct net_analysis *a);
/* Writes "addr:port" ("[addr]:port" for IPv6) into buf. */
const char *net_endpoint(char buf[NET_ADDR_BUF], uint32_t family, const uint8_t addr[16],
			 uint16_t port);
/* "tcp", "udp" or "ip<N>". */
const char *net_proto_name(uint32_t proto, char buf[16]);
void net_free(struct net_analysis *a);

#endif
