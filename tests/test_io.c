/* Unit tests of the block I/O and network analyses (replay/blockio.c,
 * replay/network.c, replay/iobuckets.c): hand-made rows with figures worked out
 * by hand, connections split on socket reuse and UDP endpoint changes, the
 * window and --pid selections, percentiles against a sorted array, and the
 * block and net schemas through the real segment codec. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "format/event.h"
#include "format/segment.h"
#include "replay/blockio.h"
#include "replay/iobuckets.h"
#include "replay/network.h"
#include "replay/sched.h"

#define SEC 1000000000ull

static struct sched_analysis clock0; /* epoch offset 0: seconds of monotonic time */

static struct ks_block blk(uint64_t ts, uint32_t pid, uint32_t op, uint32_t bytes,
			   uint64_t q, uint64_t s, uint32_t flags)
{
	struct ks_block r = { .ts = ts, .pid = pid, .tid = pid, .op = op, .bytes = bytes,
			      .queue_ns = q, .service_ns = s, .flags = flags,
			      .dev = 254u << 20 | 0 };

	snprintf(r.comm, sizeof(r.comm), flags & KS_BLK_KTHREAD ? "kworker/u8:1" : "w%u", pid);
	return r;
}

static void test_block_figures(void **state)
{
	struct blockio_analysis b;
	struct io_buckets bk;
	struct ks_block rows[] = {
		blk(1 * SEC, 10, BLK_OP_WRITE, 4096, 100, 900, 0),
		blk(1 * SEC + 5, 10, BLK_OP_WRITE, 8192, 0, 2000, 0),
		blk(2 * SEC, 10, BLK_OP_READ, 512, 10, 90, 0),
		blk(2 * SEC + 1, 99, BLK_OP_WRITE, 65536, 0, 5000, KS_BLK_KTHREAD),
		blk(2 * SEC + 2, 10, BLK_OP_FLUSH, 0, 0, 300, 0),
	};

	(void)state;
	blockio_init(&b, 0, UINT64_MAX, false, 0);
	io_buckets_init(&bk, &clock0);
	assert_int_equal(blockio_rows(&b, rows, 5, &bk), 0);
	assert_int_equal(blockio_finish(&b, "{\"254:0\":\"vda\"}"), 0);
	assert_int_equal(b.ndevs, 1);
	assert_string_equal(b.devs[0].name, "vda");
	assert_int_equal(b.devs[0].writes, 3);
	assert_int_equal(b.devs[0].reads, 1);
	assert_int_equal(b.devs[0].others, 1);
	assert_int_equal(b.devs[0].write_bytes, 4096 + 8192 + 65536);
	assert_int_equal(b.devs[0].lat->max, 5000);
	assert_int_equal(b.kthread_bytes, 65536);
	/* by bytes: the kernel thread first, as itself */
	assert_int_equal(b.nprocs, 2);
	assert_int_equal(b.procs[0].pid, 99);
	assert_true(b.procs[0].kthread);
	assert_int_equal(b.procs[1].write_bytes, 4096 + 8192);
	assert_int_equal(b.procs[1].read_bytes, 512);
	assert_int_equal(b.procs[1].time_ns, 1000 + 2000 + 100 + 300);
	/* slow list by time */
	assert_int_equal(b.nslow, 5);
	for (size_t i = 1; i < b.nslow; i++)
		assert_true(b.slow[i - 1].ts <= b.slow[i].ts);
	assert_int_equal(io_buckets_sort(&bk), 0);
	assert_int_equal(bk.n, 3); /* (1, 10), (2, 10), (2, 99); the flush adds none */
	assert_int_equal(bk.v[0].sec, 1);
	assert_int_equal(bk.v[0].blk_write, 4096 + 8192);
	assert_int_equal(bk.v[1].blk_read, 512);
	assert_int_equal(bk.v[2].pid, 99);
	assert_int_equal(io_bucket_find(&bk, 2, 99)->blk_write, 65536);
	assert_null(io_bucket_find(&bk, 1, 99));
	blockio_free(&b);
	io_buckets_free(&bk);
}

static void test_block_selection_and_percentiles(void **state)
{
	struct blockio_analysis b;
	struct io_buckets bk;
	enum { N = 1000 };
	struct ks_block *rows = calloc(N, sizeof(*rows));

	(void)state;
	assert_non_null(rows);
	for (int i = 0; i < N; i++)
		rows[i] = blk(SEC + i, i % 2 ? 7 : 8, BLK_OP_READ, 4096, 0, 1000 + i * 37,
			      i % 10 == 0 ? KS_BLK_KTHREAD : 0);
	/* --pid 7 in the window [SEC + 100, SEC + 199]: odd i from 101 to 199 */
	blockio_init(&b, SEC + 100, 99, true, 7);
	io_buckets_init(&bk, &clock0);
	assert_int_equal(blockio_rows(&b, rows, N, &bk), 0);
	blockio_finish(&b, NULL);
	assert_int_equal(b.requests, 50);
	assert_int_equal(b.nprocs, 1);
	assert_int_equal(b.procs[0].pid, 7);
	assert_string_equal(b.devs[0].name, "254:0");
	/* nearest rank over 1000 + 37 i, i = 101, 103, ..., 199 */
	uint64_t p50 = ks_hist_percentile(b.devs[0].lat, 50), want = 1000 + 37 * (101 + 2 * 24);

	assert_true(p50 >= want - want / 256 && p50 <= want + want / 256);
	assert_int_equal(b.devs[0].lat->max, 1000 + 37 * 199);
	blockio_free(&b);
	io_buckets_free(&bk);
	free(rows);
}

static struct ks_net net(uint64_t ts, uint64_t sk, uint32_t what, uint32_t pid, uint64_t bytes,
			 uint32_t proto, uint16_t lport, uint16_t rport)
{
	struct ks_net r = { .ts = ts, .sk = sk, .what = what, .pid = pid, .tid = pid,
			    .bytes = bytes, .family = AF_INET, .proto = proto,
			    .lport = lport, .rport = rport };
	uint32_t lo = htonl(INADDR_LOOPBACK);

	memcpy(&r.laddr_hi, &lo, 4);
	memcpy(&r.raddr_hi, &lo, 4);
	snprintf(r.comm, sizeof(r.comm), "p%u", pid);
	return r;
}

static struct ks_net tcp_state(uint64_t ts, uint64_t sk, uint32_t pid, uint32_t st,
			   uint16_t lport, uint16_t rport)
{
	struct ks_net r = net(ts, sk, KS_NET_STATE, pid, 0, IPPROTO_TCP, lport, rport);

	r.state = st;
	return r;
}

static void test_net_connections(void **state_)
{
	struct net_analysis a;
	struct io_buckets bk;
	char buf[NET_ADDR_BUF];
	struct ks_net rows[] = {
		/* client: connect (no source port yet), establish, send, close */
		tcp_state(1 * SEC, 0xa, 1, 2 /* SYN_SENT */, 0, 80),
		tcp_state(1 * SEC + 10, 0xa, 1, 1, 5000, 80),
		net(1 * SEC + 20, 0xa, KS_NET_SEND, 1, 1000, IPPROTO_TCP, 5000, 80),
		net(1 * SEC + 30, 0xa, KS_NET_RETRANS, 1, 0, IPPROTO_TCP, 5000, 80),
		net(2 * SEC, 0xa, KS_NET_RECV, 1, 300, IPPROTO_TCP, 5000, 80),
		tcp_state(2 * SEC + 5, 0xa, 1, 7 /* CLOSE */, 5000, 80),
		/* the same socket memory, a new connection */
		tcp_state(3 * SEC, 0xa, 1, 2, 0, 81),
		net(3 * SEC + 1, 0xa, KS_NET_SEND, 1, 7, IPPROTO_TCP, 5001, 81),
		/* accepted: first event is its earlier establishment */
		tcp_state(1 * SEC + 12, 0xb, 2, 1, 80, 5000),
		net(1 * SEC + 25, 0xb, KS_NET_RECV, 2, 1000, IPPROTO_TCP, 80, 5000),
		/* UDP: endpoints change on one socket: two flows */
		net(4 * SEC, 0xc, KS_NET_SEND, 3, 10, IPPROTO_UDP, 6000, 53),
		net(4 * SEC + 1, 0xc, KS_NET_SEND, 3, 20, IPPROTO_UDP, 6000, 53),
		net(4 * SEC + 2, 0xc, KS_NET_SEND, 3, 40, IPPROTO_UDP, 6000, 54),
	};

	(void)state_;
	net_init(&a, 0, UINT64_MAX, false, 0);
	io_buckets_init(&bk, &clock0);
	assert_int_equal(net_rows(&a, rows, sizeof(rows) / sizeof(rows[0]), &bk), 0);
	net_finish(&a);
	assert_int_equal(a.nconns, 5);
	/* by start: client#1 (1 s), accepted (1 s + 12), client#2, udp 53, udp 54 */
	assert_int_equal(a.conns[0].sk, 0xa);
	assert_int_equal(a.conns[0].lport, 5000);
	assert_int_equal(a.conns[0].tx, 1000);
	assert_int_equal(a.conns[0].rx, 300);
	assert_int_equal(a.conns[0].retransmits, 1);
	assert_true(a.conns[0].closed);
	assert_int_equal(a.conns[0].end_ts - a.conns[0].start_ts, SEC + 5);
	assert_int_equal(a.conns[1].sk, 0xb);
	assert_int_equal(a.conns[1].rx, 1000);
	assert_int_equal(a.conns[1].start_ts, SEC + 12);
	assert_false(a.conns[1].closed);
	assert_int_equal(a.conns[2].tx, 7);
	assert_int_equal(a.conns[2].rport, 81);
	assert_int_equal(a.conns[3].tx, 30);
	assert_int_equal(a.conns[4].tx, 40);
	assert_string_equal(net_endpoint(buf, AF_INET, a.conns[0].laddr, a.conns[0].lport),
			    "127.0.0.1:5000");
	assert_int_equal(a.tx, 1000 + 7 + 70);
	assert_int_equal(a.rx, 1300);
	assert_int_equal(a.retransmits, 1);
	assert_int_equal(a.nprocs, 3);
	assert_int_equal(a.procs[0].pid, 1); /* 1307 bytes */
	assert_int_equal(a.procs[0].conns, 2);
	io_buckets_sort(&bk);
	uint64_t tx1 = 0;

	for (size_t i = 0; i < bk.n; i++)
		if (bk.v[i].pid == 1)
			tx1 += bk.v[i].net_tx;
	assert_int_equal(tx1, 1007);
	net_free(&a);
	io_buckets_free(&bk);
}

static void test_net_endpoint_v6(void **state)
{
	uint8_t a[16] = { 0 };
	char buf[NET_ADDR_BUF];

	(void)state;
	a[15] = 1;
	assert_string_equal(net_endpoint(buf, AF_INET6, a, 443), "[::1]:443");
	inet_pton(AF_INET6, "2001:db8::ffff:1", a);
	assert_string_equal(net_endpoint(buf, AF_INET6, a, 65535), "[2001:db8::ffff:1]:65535");
}

static void test_schemas_round_trip(void **state)
{
	struct ks_seg_encoder *enc;
	struct ks_seg_decoder *dec;
	struct ks_seg_header hdr;
	const uint8_t *seg;
	const void *rows;
	size_t len;
	struct ks_block b[2] = { blk(SEC, 1, 1, 4096, 5, 6, 0), blk(SEC + 9, 2, 0, 512, 7, 8, 1) };
	struct ks_net n[2] = { net(SEC, 0xffff888012345678ull, KS_NET_SEND, 3, 99, IPPROTO_TCP,
				   1, 2),
			       tcp_state(SEC + 1, 0xffff888012345678ull, 3, 7, 1, 2) };

	(void)state;
	assert_int_equal(ks_seg_encoder_new(0, &enc), 0);
	assert_int_equal(ks_seg_decoder_new(&dec), 0);
	n[1].laddr_lo = 0x0102030405060708ull;
	assert_int_equal(ks_seg_encode(enc, KS_KIND_BLOCK, b, 2, &seg, &len), 0);
	assert_int_equal(ks_seg_decode(dec, seg, len, &hdr, &rows), 0);
	assert_int_equal(hdr.count, 2);
	assert_memory_equal(rows, b, sizeof(b));
	assert_int_equal(ks_seg_encode(enc, KS_KIND_NET, n, 2, &seg, &len), 0);
	assert_int_equal(ks_seg_decode(dec, seg, len, &hdr, &rows), 0);
	assert_memory_equal(rows, n, sizeof(n));
	ks_seg_encoder_free(enc);
	ks_seg_decoder_free(dec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_figures),
		cmocka_unit_test(test_block_selection_and_percentiles),
		cmocka_unit_test(test_net_connections),
		cmocka_unit_test(test_net_endpoint_v6),
		cmocka_unit_test(test_schemas_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
