/* The loader: skeleton open -> set rodata and ring size -> load -> attach. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "record/cli.h"
#include "record/probes.h"
#include "sched.skel.h"
#include "syscalls.skel.h"

struct probes {
	struct syscalls_bpf *skel;
	struct sched_bpf *sched;
	char desc[256];
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!ks_debug_enabled || level == LIBBPF_DEBUG)
		return 0;
	fputs("ksight: debug: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

/* The scheduler family shares the first skeleton's traced set, ring and counters. */
static int open_sched(struct probes *p, const struct probes_opts *o, const char **why)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = o->btf_path);
	int err;

	*why = "open the scheduler probes";
	p->sched = sched_bpf__open_opts(&oo);
	if (!p->sched)
		return -errno;
	p->sched->rodata->self_tgid = getpid();
	p->sched->rodata->trace_all = o->trace_all;
	p->sched->rodata->wakeup_bytes = o->ring_bytes / 4;
	err = bpf_map__reuse_fd(p->sched->maps.traced, bpf_map__fd(p->skel->maps.traced));
	err = err ?: bpf_map__reuse_fd(p->sched->maps.events, bpf_map__fd(p->skel->maps.events));
	err = err ?: bpf_map__reuse_fd(p->sched->maps.drops, bpf_map__fd(p->skel->maps.drops));
	if (err)
		return err;
	*why = "load the scheduler probes";
	err = sched_bpf__load(p->sched);
	if (err)
		return err;
	*why = "attach the scheduler probes";
	return sched_bpf__attach(p->sched);
}

int probes_open(const struct probes_opts *o, struct probes **out, const char **why)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = o->btf_path);
	struct probes *p;
	int err;

	libbpf_set_print(libbpf_log);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*why = "open the BPF object";
	p->skel = syscalls_bpf__open_opts(&oo);
	if (!p->skel) {
		err = -errno;
		goto fail;
	}
	p->skel->rodata->self_tgid = getpid();
	p->skel->rodata->trace_all = o->trace_all;
	p->skel->rodata->wakeup_bytes = o->ring_bytes / 4;
	*why = "size the ring buffer";
	err = bpf_map__set_max_entries(p->skel->maps.events, o->ring_bytes);
	if (err)
		goto fail;
	*why = "load the BPF programs";
	err = syscalls_bpf__load(p->skel);
	if (err)
		goto fail;
	*why = "attach the BPF programs";
	err = syscalls_bpf__attach(p->skel);
	if (err)
		goto fail;
	snprintf(p->desc, sizeof(p->desc),
		 "tp_btf/sys_enter,tp_btf/sys_exit,tp_btf/sched_process_fork,"
		 "tp_btf/sched_process_exec,tp_btf/sched_process_exit");
	if (o->sched) {
		err = open_sched(p, o, why);
		if (err)
			goto fail;
		strncat(p->desc, ",tp_btf/sched_switch,tp_btf/sched_wakeup,"
			"tp_btf/sched_wakeup_new,tp_btf/page_fault_user",
			sizeof(p->desc) - strlen(p->desc) - 1);
	}
	*out = p;
	return 0;
fail:
	probes_close(p);
	return err < 0 ? err : -EINVAL;
}

int probes_trace_task(struct probes *p, int pidfd)
{
	struct { uint64_t enter_ts; uint32_t nr, pad; } v = { 0 };

	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.traced), &pidfd, &v, BPF_NOEXIST))
		return -errno;
	return 0;
}

int probes_ring_fd(struct probes *p)
{
	return bpf_map__fd(p->skel->maps.events);
}

void probes_shared_fds(struct probes *p, int *traced_fd, int *ring_fd, int *drops_fd)
{
	*traced_fd = bpf_map__fd(p->skel->maps.traced);
	*ring_fd = bpf_map__fd(p->skel->maps.events);
	*drops_fd = bpf_map__fd(p->skel->maps.drops);
}

int probes_read_drops(struct probes *p, uint64_t drops[KS_DROP_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t k = 0; k < KS_DROP_MAX; k++) {
		drops[k] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.drops), &k, v))
			continue;
		for (int c = 0; c < ncpu; c++)
			drops[k] += v[c];
	}
	free(v);
	return 0;
}

const char *probes_describe(struct probes *p)
{
	return p->desc;
}

void probes_close(struct probes *p)
{
	if (!p)
		return;
	sched_bpf__destroy(p->sched);
	syscalls_bpf__destroy(p->skel);
	free(p);
}
