/* Recorder side of the block I/O and network families: hook selection by the
 * kernel's BTF (btf_trace_<tracepoint> typedefs), load on the syscall family's
 * maps, per-hook attach that degrades instead of failing, and the conversion of
 * their ring records into block and net rows. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpf/events.h"
#include "format/event.h"
#include "util/log.h"
#include "record/io.h"
#include "record/loader.h"
#include "io.skel.h"

#define MAX_LINKS 16

struct io_probes {
	struct io_bpf *skel;
	bool block, net; /* the families attached */
	struct bpf_link *links[MAX_LINKS];
	size_t nlinks;
	char desc[512];
	char missing[512];
};

/* A hook: the program's base name and its tracepoint. */
struct hook {
	const char *prog; /* tp_btf name; the raw_tp one adds "_raw" */
	const char *tp;
	bool on;          /* the kernel has it and it is wanted */
};

static void add_text(char *buf, size_t len, const char *sep, const char *s)
{
	size_t n = strlen(buf);

	if (n + 1 < len)
		snprintf(buf + n, len - n, "%s%s", n ? sep : "", s);
}

/* Whether the kernel has tracepoint tp (its btf_trace_ typedef); true without
 * BTF (a first attempt that assumes every hook, or a BTF that cannot be read). */
static bool has_tp(const struct btf *btf, const char *tp)
{
	char name[128];

	if (!btf)
		return true;
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF) >= 0;
}

/* Autoloads the programs of obj of the chosen kind whose hooks are on. */
static int select_progs(struct bpf_object *obj, const struct hook *h, size_t n, bool raw)
{
	struct bpf_program *prog;
	int err;

	bpf_object__for_each_program(prog, obj) {
		const char *name = bpf_program__name(prog);
		size_t len = strlen(name);
		bool is_raw = len > 4 && !strcmp(name + len - 4, "_raw");
		bool on = false;

		for (size_t i = 0; i < n && is_raw == raw; i++)
			if (!strncmp(name, h[i].prog, len - (is_raw ? 4 : 0)) &&
			    strlen(h[i].prog) == len - (is_raw ? 4 : 0))
				on = h[i].on;
		err = bpf_program__set_autoload(prog, on);
		if (err)
			return err;
	}
	return 0;
}

/* Attaches every loaded program of obj on its own: a hook that fails is named in
 * missing, the others stay. Returns the number attached. */
static int attach_each(struct io_probes *io, struct bpf_object *obj, const char *kind)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, obj) {
		struct bpf_link *l;
		char what[160];

		if (!bpf_program__autoload(prog) || io->nlinks == MAX_LINKS)
			continue;
		snprintf(what, sizeof(what), "%s/%s", kind,
			 strchr(bpf_program__section_name(prog), '/') + 1);
		l = bpf_program__attach(prog);
		if (!l) {
			ks_debug("cannot attach %s: %s", what, strerror(errno));
			add_text(io->missing, sizeof(io->missing), "; ", what);
			continue;
		}
		io->links[io->nlinks++] = l;
		add_text(io->desc, sizeof(io->desc), ",", what);
		n++;
	}
	return n;
}

/* Loads and attaches the families o asks for, with the hooks btf says the kernel
 * has. Returns 0 when done (loaded, or what failed said in io->missing), or 1
 * when a first attempt without btf did not load (nothing said: try again with it). */
static int start(struct io_probes *io, struct loader *ld, const struct btf *btf,
		 const struct probes_mode *m, const struct io_probes_opts *o)
{
	struct hook h[] = {
		{ "ks_blk_start", "block_io_start", o->block && has_tp(btf, "block_io_start") },
		{ "ks_blk_insert", "block_rq_insert", false },
		{ "ks_blk_issue", "block_rq_issue", o->block && has_tp(btf, "block_rq_issue") },
		{ "ks_blk_complete", "block_rq_complete", o->block && has_tp(btf, "block_rq_complete") },
		{ "ks_blk_done", "block_io_done", o->block && has_tp(btf, "block_io_done") },
		{ "ks_net_send", "sock_send_length", o->net && has_tp(btf, "sock_send_length") },
		{ "ks_net_recv", "sock_recv_length", o->net && has_tp(btf, "sock_recv_length") },
		{ "ks_net_state", "inet_sock_set_state", o->net && has_tp(btf, "inet_sock_set_state") },
		{ "ks_net_retrans", "tcp_retransmit_skb", o->net && has_tp(btf, "tcp_retransmit_skb") },
	};
	const size_t nh = sizeof(h) / sizeof(h[0]);
	bool raw = m->attach != ATTACH_TP_BTF, any = false;
	const char *why = "open the I/O probes";
	int err;

	/* before 6.5 the submitter is known where the request is inserted */
	h[1].on = o->block && !h[0].on && has_tp(btf, "block_rq_insert");
	if (o->block && ((!h[0].on && !h[1].on) || !h[3].on)) {
		for (size_t i = 0; i < 5; i++)
			h[i].on = false;
		add_text(io->missing, sizeof(io->missing), "; ",
			 "block I/O (the kernel has no block_io_start/block_rq_insert and "
			 "block_rq_complete tracepoints)");
	}
	if (o->net && (!h[5].on || !h[6].on))
		add_text(io->missing, sizeof(io->missing), "; ", "network bytes not recorded on "
			 "this kernel (no sock_send_length/sock_recv_length: 6.3+)");
	if (o->net && !h[7].on)
		add_text(io->missing, sizeof(io->missing), "; ", "TCP connection states "
			 "(no inet_sock_set_state)");
	if (o->net && !h[8].on)
		add_text(io->missing, sizeof(io->missing), "; ", "TCP retransmits "
			 "(no tcp_retransmit_skb)");
	for (size_t i = 0; i < nh; i++)
		any |= h[i].on;
	if (!any)
		return 0;
	io->skel = calloc(1, sizeof(*io->skel));
	err = io->skel ? io_bpf__create_skeleton(io->skel) : -ENOMEM;
	err = err ?: loader_open(ld, io->skel->skeleton, NULL, &why);
	err = err ?: select_progs(io->skel->obj, h, nh, raw);
	err = err ?: loader_load(ld, io->skel->skeleton, NULL, &why);
	if (!err && attach_each(io, io->skel->obj, raw ? "raw_tp" : "tp_btf") > 0) {
		io->block = h[3].on;
		io->net = h[5].on || h[6].on || h[7].on || h[8].on;
		return 0;
	}
	if (err)
		ks_debug("cannot %s: %s", why, strerror(-err));
	if (io->skel && io->skel->obj)
		loader_forget(ld, io->skel->obj);
	io_bpf__destroy(io->skel);
	io->skel = NULL;
	io->missing[0] = '\0';
	if (err && !btf)
		return 1;
	add_text(io->missing, sizeof(io->missing), "; ", "block I/O and network (their probes "
		 "did not load)");
	return 0;
}

/* The kernel's BTF, to see which hooks it has: read only when a first load that
 * assumed every hook failed (parsing it costs 20-30 ms). */
static struct btf *kernel_btf(const struct loader *ld)
{
	struct btf *btf = ld->btf_path ? btf__parse(ld->btf_path, NULL) : btf__load_vmlinux_btf();

	if (!btf)
		ks_debug("cannot read the kernel's BTF for the I/O hooks: %s", strerror(errno));
	return btf;
}

int io_probes_start(struct probes *p, const struct io_probes_opts *o, struct io_probes **out)
{
	struct io_probes *io = calloc(1, sizeof(*io));
	struct loader *ld = probes_loader(p);
	struct probes_mode m;
	struct btf *btf;

	if (!io)
		return -ENOMEM;
	probes_get_mode(p, &m);
	if (start(io, ld, NULL, &m, o)) {
		btf = kernel_btf(ld);
		/* without BTF (unreadable) it fails as the first attempt did */
		if (start(io, ld, btf, &m, o))
			add_text(io->missing, sizeof(io->missing), "; ", "block I/O and network "
				 "(their probes did not load)");
		btf__free(btf);
	}
	if (io->missing[0])
		ks_debug("not recorded: %s", io->missing);
	*out = io;
	return 0;
}

const char *io_probes_describe(const struct io_probes *io)
{
	return io ? io->desc : "";
}

const char *io_probes_missing(const struct io_probes *io)
{
	return io ? io->missing : "";
}

static int on_block(void *ctx, const void *data, size_t size)
{
	const struct ks_ev_block *e = data;
	struct ks_block r = { 0 };

	if (size < sizeof(*e))
		return 0;
	r.ts = e->ts;
	r.queue_ns = e->queue_ns;
	r.service_ns = e->service_ns;
	r.sector = e->sector;
	r.dev = e->dev;
	r.op = e->op;
	r.bytes = e->bytes;
	r.flags = e->type >> 16;
	r.pid = e->pid;
	r.tid = e->tid;
	memcpy(r.comm, e->comm, sizeof(r.comm));
	return consumer_add_row(ctx, KS_KIND_BLOCK, &r);
}

static int on_net(void *ctx, const void *data, size_t size)
{
	const struct ks_ev_net *e = data;
	struct ks_net r = { 0 };

	if (size < sizeof(*e))
		return 0;
	r.ts = e->ts;
	r.sk = e->sk;
	r.bytes = e->bytes;
	memcpy(&r.laddr_hi, e->saddr, 8);
	memcpy(&r.laddr_lo, e->saddr + 8, 8);
	memcpy(&r.raddr_hi, e->daddr, 8);
	memcpy(&r.raddr_lo, e->daddr + 8, 8);
	r.what = e->type >> 16;
	r.pid = e->pid;
	r.tid = e->tid;
	r.family = e->family;
	r.proto = e->proto;
	r.state = e->state;
	r.oldstate = e->oldstate;
	r.lport = e->sport;
	r.rport = e->dport;
	memcpy(r.comm, e->comm, sizeof(r.comm));
	return consumer_add_row(ctx, KS_KIND_NET, &r);
}

int io_probes_attach(struct io_probes *io, struct consumer *c)
{
	int err = 0;

	if (io && io->block)
		err = consumer_set_handler(c, KS_EV_BLOCK, on_block, c);
	if (!err && io && io->net)
		err = consumer_set_handler(c, KS_EV_NET, on_net, c);
	return err;
}

void io_probes_free(struct io_probes *io)
{
	if (!io)
		return;
	for (size_t i = 0; i < io->nlinks; i++)
		bpf_link__destroy(io->links[i]);
	io_bpf__destroy(io->skel);
	free(io);
}

int io_block_devices_json(char **out)
{
	FILE *f = fopen("/proc/partitions", "re");
	json_t *o = json_object();
	char line[256], name[128], key[32];
	unsigned maj, min;
	unsigned long long blocks;
	int err = 0;

	*out = NULL;
	if (!f || !o) {
		err = f ? -ENOMEM : -errno;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %u %u %llu %127s", &maj, &min, &blocks, name) != 4)
			continue;
		snprintf(key, sizeof(key), "%u:%u", maj, min);
		if (json_object_set_new(o, key, json_string(name))) {
			err = -ENOMEM;
			goto out;
		}
	}
	*out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!*out)
		err = -ENOMEM;
out:
	if (f)
		fclose(f);
	json_decref(o);
	return err;
}
