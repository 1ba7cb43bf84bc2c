/* The probes: the plan of record/features.h (probe kind, traced set, transport,
 * page faults), then open -> configure -> load -> attach each family through the
 * one loader (record/loader.c); the scheduler family reuses the syscall family's
 * maps. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "util/log.h"
#include "record/features.h"
#include "record/loader.h"
#include "record/probes.h"
#include "record/sysargs.h"
#include "sched.skel.h"
#include "syscalls.skel.h"

struct probes {
	struct loader ld;
	struct syscalls_bpf *skel;
	struct sched_bpf *sched;
	struct probes_mode mode;
	struct bpf_link **ticks; /* the batches' tick, one per CPU */
	int *tick_fds;
	int nticks;
	bool batch, cache;
	char desc[512];
	char why[512]; /* the plan's refusal */
};

/* The program's hook kind from its name: ks_x (tp_btf), ks_x_raw, ks_x_tp. */
static enum probe_attach prog_attach(const struct bpf_program *prog)
{
	const char *n = bpf_program__name(prog);
	size_t len = strlen(n);

	if (len > 4 && !strcmp(n + len - 4, "_raw"))
		return ATTACH_RAW_TP;
	if (len > 3 && !strcmp(n + len - 3, "_tp"))
		return ATTACH_TRACEPOINT;
	return ATTACH_TP_BTF;
}

/* A map type the kernel lacks becomes a tiny hash: it is referenced only from
 * code the verifier prunes under the chosen rodata. */
static int neuter_map(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	int err;

	if (!m)
		return -ENOENT;
	if (bpf_map__fd(m) >= 0)
		return 0; /* reused from the syscall family: already neutered there */
	err = bpf_map__set_type(m, BPF_MAP_TYPE_HASH);
	err = err ?: bpf_map__set_map_flags(m, 0);
	err = err ?: bpf_map__set_key_size(m, 4);
	err = err ?: bpf_map__set_value_size(m, 4);
	err = err ?: bpf_map__set_max_entries(m, 1);
	return err;
}

/* Everything before load that both families share. The planned kind's
 * programs load (the page-fault one only when the plan has page faults); the
 * map the plan does not use is neutered, as on a kernel that lacks it. */
static int configure(struct bpf_object *obj, const struct probes_opts *o,
		     const struct probes_mode *m)
{
	struct bpf_program *prog;
	struct bpf_map *map;
	int err = 0;

	bpf_object__for_each_program(prog, obj) {
		bool fault = !strncmp(bpf_program__name(prog), "ks_page_fault", 13);
		bool tick = !strcmp(bpf_program__name(prog), "ks_batch_tick"); /* any kind */

		err = bpf_program__set_autoload(prog, tick || (prog_attach(prog) == m->attach &&
							       (!fault || m->page_faults)));
		if (err)
			return err;
	}
	map = bpf_object__find_map_by_name(obj, "events");
	if (m->transport == TRANSPORT_RINGBUF && map)
		err = bpf_map__set_max_entries(map, o->ring_bytes);
	else if (m->transport == TRANSPORT_PERFBUF)
		err = neuter_map(obj, "events");
	if (!err && m->set == SET_HASH)
		err = neuter_map(obj, "traced");
	return err;
}

/* Which syscall arguments the probe records; none with --no-args, or when a
 * custom object has no room for the table. */
static void set_arg_spec(struct syscalls_bpf *skel, const struct probes_opts *o)
{
	size_t sz = 0;

	if (o->no_args || !bpf_map__initial_value(skel->maps.rodata, &sz) ||
	    sz < offsetof(typeof(*skel->rodata), arg_spec) + sizeof(skel->rodata->arg_spec))
		return;
	sysargs_fill_spec((uint32_t *)skel->rodata->arg_spec, KS_ARG_NRS);
}

/* The syscall family's hot path (bpf/batch.bpf.h): per-CPU batches wherever
 * there is a per-CPU array, the in-flight cache with BTF tracepoints and task
 * storage (not --cgroup, whose membership is tested at each event). An object
 * without the knobs (an older --ebpf-program) runs without them. */
static void set_hot_path(struct probes *p, const struct probes_opts *o)
{
	bool batch = !o->no_batch;
	bool cache = !o->no_cache && p->mode.attach == ATTACH_TP_BTF &&
		     p->mode.set == SET_TASK_STORAGE && !o->cg_count;

	p->batch = batch && !loader_set_rodata(p->skel->obj, "use_batch", &batch, sizeof(batch));
	p->cache = cache && !loader_set_rodata(p->skel->obj, "fast_ctx", &cache, sizeof(cache));
	ks_debug("hot path: %s, %s", p->batch ? "per-CPU batches" : "one record at a time",
		 p->cache ? "in-flight cache" : "task state looked up at each event");
}

/* The batches' tick: a software clock event on every CPU running ks_batch_tick.
 * Without it (no perf events here) a batch waits for its CPU's next switch. */
static void attach_ticks(struct probes *p)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	struct bpf_program *prog = bpf_object__find_program_by_name(p->skel->obj, "ks_batch_tick");

	if (!p->batch || !prog || bpf_program__fd(prog) < 0 || ncpu <= 0)
		return;
	p->ticks = calloc(ncpu, sizeof(*p->ticks));
	p->tick_fds = calloc(ncpu, sizeof(*p->tick_fds));
	if (!p->ticks || !p->tick_fds)
		return;
	for (long cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr a = {
			.size = sizeof(a), .type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK, .freq = 1, .sample_freq = KS_BATCH_TICK_HZ,
		};
		int fd = syscall(__NR_perf_event_open, &a, -1, (int)cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			if (errno != ENODEV) /* ENODEV: an offline CPU */
				ks_debug("batches: no tick on CPU %ld (%s): a batch waits for a "
					 "switch there", cpu, strerror(errno));
			continue;
		}
		p->ticks[p->nticks] = bpf_program__attach_perf_event(prog, fd);
		if (!p->ticks[p->nticks]) {
			ks_debug("batches: cannot attach the tick on CPU %ld: %s", cpu,
				 strerror(errno));
			close(fd);
			continue;
		}
		p->tick_fds[p->nticks++] = fd;
	}
}

static void detach_ticks(struct probes *p)
{
	for (int i = 0; i < p->nticks; i++) {
		bpf_link__destroy(p->ticks[i]);
		close(p->tick_fds[i]);
	}
	free(p->ticks);
	free(p->tick_fds);
	p->ticks = NULL;
	p->tick_fds = NULL;
	p->nticks = 0;
}

/* Where the batch length sits in each CPU's slot (struct cpu_slot of
 * bpf/batch.bpf.h, from the object's BTF), or -1 when the object has no such
 * field (then every CPU is visited). */
static long slot_len_offset(struct bpf_object *obj)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_member *m;
	const struct btf_type *t;
	int id;

	id = btf ? btf__find_by_name_kind(btf, "cpu_slot", BTF_KIND_STRUCT) : -1;
	if (id < 0 || !(t = btf__type_by_id(btf, id)))
		return -1;
	m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), "len") &&
		    !btf_member_bitfield_size(t, i) && btf_member_bit_offset(t, i) % 8 == 0)
			return btf_member_bit_offset(t, i) / 8;
	return -1;
}

/* Which CPUs hold records in their batch: want[cpu] set, from one read of the
 * per-CPU slots. Returns 0, or a negative errno when they cannot be read (then
 * every CPU is visited). */
static int batches_waiting(struct probes *p, bool *want, int ncpu)
{
	struct bpf_map *m = bpf_object__find_map_by_name(p->skel->obj, "cpu_slots");
	long off = slot_len_offset(p->skel->obj);
	size_t stride;
	uint32_t key = 0, len;
	uint8_t *v;

	if (!m || off < 0 || off + sizeof(len) > bpf_map__value_size(m))
		return -ENOENT;
	stride = (bpf_map__value_size(m) + 7) / 8 * 8;
	v = malloc(stride * ncpu);
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(m), &key, v)) {
		free(v);
		return -errno;
	}
	for (int c = 0; c < ncpu; c++) {
		memcpy(&len, v + c * stride + off, sizeof(len));
		want[c] = len > 0;
	}
	free(v);
	return 0;
}

/* 10 ms waits on the CPUs that cannot be visited: a tick (10 Hz) has then sent
 * every record of before the end (a traced task still running there fills the
 * batch again, so it need not be empty) */
#define TICK_WAITS 15

/* Each move onto a CPU is a switch there (the switch program sends its batch);
 * on the CPU this thread already runs on, it was switched in after the last
 * traced task ran there, which sent that batch. No sleep is needed at the end,
 * and a CPU whose batch is empty is not visited: a move onto a busy CPU waits
 * for it (milliseconds at the end of a busy recording). A CPU this process may
 * not run on (outside its cpuset) is waited for: its tick sends the batch. */
int probes_flush_batches(struct probes *p)
{
	int ncpu = libbpf_num_possible_cpus();
	cpu_set_t old, one;
	int err = 0, unvisited = 0;
	bool *want;

	if (!p->batch)
		return 0;
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	want = calloc(2 * (size_t)ncpu, sizeof(*want)); /* and a second reading */
	if (!want)
		return -ENOMEM;
	if ((err = batches_waiting(p, want, ncpu))) {
		ks_debug("end flush: cannot see which batches hold records (%s): every CPU "
			 "is visited", strerror(-err));
		memset(want, 1, ncpu * sizeof(*want));
		err = 0;
	}
	if (sched_getaffinity(0, sizeof(old), &old)) {
		free(want);
		return -errno;
	}
	for (int cpu = 0, n = 0; cpu < ncpu && cpu < CPU_SETSIZE; cpu++) {
		if (!want[cpu])
			continue;
		ks_debug("end flush: CPU %d holds a batch (%d visited)", cpu, ++n);
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		/* EINVAL: offline, or outside this process's cpuset */
		if (!sched_setaffinity(0, sizeof(one), &one))
			want[cpu] = false;
		else
			unvisited++;
	}
	if (sched_setaffinity(0, sizeof(old), &old))
		err = -errno;
	/* a CPU this process cannot run on sends its batch at its next tick */
	if (unvisited)
		ks_debug("end flush: %d CPUs this process cannot run on: waiting for their "
			 "tick", unvisited);
	for (int i = 0; unvisited && i < TICK_WAITS; i++) {
		bool *now = want + ncpu;

		usleep(10 * 1000);
		if (batches_waiting(p, now, ncpu))
			break;
		unvisited = 0;
		for (int cpu = 0; cpu < ncpu; cpu++)
			unvisited += want[cpu] = want[cpu] && now[cpu];
	}
	if (unvisited)
		ks_debug("end flush: %d CPUs this process cannot run on hold a batch after a "
			 "tick: records of after the end, or no tick there", unvisited);
	free(want);
	return err;
}

/* The skeleton of the syscall family, or of its --ebpf-program override. */
static int open_syscalls(struct probes *p, const struct probes_opts *o, const char **why)
{
	int err;

	*why = "open the BPF object";
	p->skel = calloc(1, sizeof(*p->skel));
	if (!p->skel)
		return -ENOMEM;
	err = syscalls_bpf__create_skeleton(p->skel);
	return err ?: loader_open(&p->ld, p->skel->skeleton, o->custom_obj, why);
}

/* The scheduler family shares the syscall family's maps (the loader's first). */
static int open_sched(struct probes *p, const struct probes_opts *o, const char **why)
{
	int err;

	*why = "open the scheduler probes";
	p->sched = calloc(1, sizeof(*p->sched));
	if (!p->sched)
		return -ENOMEM;
	err = sched_bpf__create_skeleton(p->sched);
	err = err ?: loader_open(&p->ld, p->sched->skeleton, NULL, why);
	err = err ?: configure(p->sched->obj, o, &p->mode);
	err = err ?: loader_load(&p->ld, p->sched->skeleton, NULL, why);
	return err ?: loader_attach(&p->ld, p->sched->skeleton, why);
}

/* One attempt with one mode; leaves p clean on failure. */
static int try_mode(struct probes *p, const struct probes_opts *o, const char **why)
{
	const struct probes_mode *m = &p->mode;
	int err;

	p->ld.knobs = (struct loader_knobs){
		.trace_all = o->trace_all,
		.use_hash = m->set == SET_HASH,
		.use_perfbuf = m->transport == TRANSPORT_PERFBUF,
		.wakeup_bytes = o->ring_bytes / 4,
		.trace_cgroup = o->cg_count > 0,
		.cg_count = o->cg_count,
	};
	for (uint32_t i = 0; i < o->cg_count && i < KS_CGROUP_MAX; i++) {
		p->ld.knobs.cg_ids[i] = o->cg_ids[i];
		p->ld.knobs.cg_levels[i] = o->cg_levels[i];
	}
	err = open_syscalls(p, o, why);
	if (err)
		goto fail;
	set_arg_spec(p->skel, o);
	set_hot_path(p, o);
	*why = "configure the BPF object";
	err = configure(p->skel->obj, o, m);
	err = err ?: loader_load(&p->ld, p->skel->skeleton, NULL, why);
	err = err ?: loader_attach(&p->ld, p->skel->skeleton, why);
	if (!err && o->sched)
		err = open_sched(p, o, why);
	if (!err) {
		attach_ticks(p);
		return 0;
	}
fail:
	if (p->skel)
		loader_forget(&p->ld, p->skel->obj);
	sched_bpf__destroy(p->sched);
	syscalls_bpf__destroy(p->skel);
	p->sched = NULL;
	p->skel = NULL;
	return err < 0 ? err : -EINVAL;
}

static void describe(struct probes *p, const struct probes_opts *o)
{
	static const char *const sys[] = { "sys_enter", "sys_exit", "sched_process_fork",
					   "sched_process_exec", "sched_process_exit" };
	static const char *const sch[] = { "sched_switch", "sched_wakeup", "sched_wakeup_new",
					   "page_fault_user" };
	const char *kind = probe_attach_name(p->mode.attach);
	size_t n = 0;

	for (size_t i = 0; i < 5; i++)
		n += snprintf(p->desc + n, sizeof(p->desc) - n, "%s%s/%s", n ? "," : "", kind, sys[i]);
	for (size_t i = 0; o->sched && i < 3u + p->mode.page_faults && n < sizeof(p->desc); i++)
		n += snprintf(p->desc + n, sizeof(p->desc) - n, ",%s/%s", kind, sch[i]);
}

/* The feature a probe kind stands on, for when its real programs fail. */
static enum feature kind_feature(enum probe_attach a)
{
	return a == ATTACH_TP_BTF ? FEAT_TP_BTF : a == ATTACH_RAW_TP ? FEAT_RAW_TP : FEAT_TRACEPOINT;
}

int probes_open(const struct probes_opts *o, struct probes **out, const char **why)
{
	const struct probe_request rq = {
		.attach = o->attach, .set = o->set, .transport = o->transport, .sched = o->sched,
	};
	static char why_copy[512];
	struct features ft;
	struct probes *p;
	int err, load_err = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	loader_init(&p->ld, o->btf_path);
	*why = p->why;
	err = features_init(&ft, &(struct features_opts){
		.btf_known = o->btf_path ? o->btf_path : "system BTF", .mount_tracefs = true,
		.tp_btf_by_loader = true },
		p->why, sizeof(p->why));
	while (!err) {
		err = features_plan(&ft, &rq, &p->mode, p->why, sizeof(p->why));
		if (err) {
			*why = p->why;
			/* a kind failed for real: its error says more than the plan's */
			if (load_err && err == -EOPNOTSUPP)
				err = load_err, *why = why_copy;
			break;
		}
		ks_debug("plan: %s probes, %s traced set, %s transport, page faults %s",
			 probe_attach_name(p->mode.attach), probe_set_name(p->mode.set),
			 probe_transport_name(p->mode.transport),
			 p->mode.page_faults ? "recorded" : "not recorded");
		if (o->sched && !p->mode.page_faults)
			ks_debug("page faults are not recorded on this kernel: %s",
				 features_get(&ft, FEAT_PAGE_FAULT)->detail);
		err = try_mode(p, o, why);
		if (!err) {
			describe(p, o);
			features_free(&ft);
			*out = p;
			return 0;
		}
		ks_debug("%s probes: cannot %s: %s", probe_attach_name(p->mode.attach), *why,
			 strerror(-err));
		/* a custom object that does not match will not match in another mode */
		if (err == -ENOENT && o->custom_obj)
			break;
		snprintf(why_copy, sizeof(why_copy), "%s", *why);
		load_err = err;
		features_set_failed(&ft, kind_feature(p->mode.attach), err, why_copy);
		err = 0;
	}
	if (*why == p->why || *why == p->ld.why) {
		/* the message lives in p: keep it for the caller in a static copy */
		snprintf(why_copy, sizeof(why_copy), "%s", *why);
		*why = why_copy;
	}
	features_free(&ft);
	probes_close(p);
	return err < 0 ? err : -EINVAL;
}

int probes_trace_task(struct probes *p, pid_t tgid, pid_t tid, int pidfd)
{
	/* struct task_ctx of bpf/common.bpf.h, whole: the map reads that many bytes */
	struct {
		uint64_t enter_ts;
		uint32_t nr, faults, tgid, ppid;
		uint64_t args[6];
		uint32_t joined, pad;
	} v = { .tgid = tgid, .ppid = getpid() };
	uint32_t key = tid;

	if (p->mode.set == SET_TASK_STORAGE) {
		if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.traced), &pidfd, &v, BPF_NOEXIST))
			return -errno;
	} else if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.traced_tids), &key, &v, BPF_NOEXIST)) {
		return -errno;
	}
	return 0;
}

int probes_event_fd(struct probes *p)
{
	return p->mode.transport == TRANSPORT_PERFBUF ? bpf_map__fd(p->skel->maps.pb) :
							bpf_map__fd(p->skel->maps.events);
}

void probes_get_mode(struct probes *p, struct probes_mode *m)
{
	*m = p->mode;
}

struct loader *probes_loader(struct probes *p)
{
	return &p->ld;
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
	detach_ticks(p);
	sched_bpf__destroy(p->sched);
	syscalls_bpf__destroy(p->skel);
	loader_fini(&p->ld);
	free(p);
}
