/* The loader: skeleton open -> the plan of record/features.h (probe kind,
 * traced set, transport, page faults) -> set rodata and map sizes -> load ->
 * attach; the scheduler family reuses the syscall family's maps. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "util/log.h"
#include "record/features.h"
#include "record/probes.h"
#include "sched.skel.h"
#include "syscalls.skel.h"

struct probes {
	struct syscalls_bpf *skel;
	struct sched_bpf *sched;
	void *custom_buf; /* --ebpf-program's bytes, alive as long as the object */
	size_t custom_len;
	struct probes_mode mode;
	char desc[512];
	char why[512];
};

/* Maps shared by the families, by name in both objects. */
static const char *const shared_maps[] = { "traced", "traced_tids", "events", "pb", "drops" };

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!ks_debug_enabled || level == LIBBPF_DEBUG)
		return 0;
	fputs("ksight: debug: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

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

		err = bpf_program__set_autoload(prog, prog_attach(prog) == m->attach &&
						(!fault || m->page_faults));
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

#define SET_RODATA(skel, m)                                                    \
	do {                                                                   \
		(skel)->rodata->self_tgid = getpid();                          \
		(skel)->rodata->trace_all = o->trace_all;                      \
		(skel)->rodata->use_hash = (m)->set == SET_HASH;               \
		(skel)->rodata->use_perfbuf = (m)->transport == TRANSPORT_PERFBUF; \
		(skel)->rodata->wakeup_bytes = o->ring_bytes / 4;              \
	} while (0)

static int read_file(const char *path, void **buf, size_t *len)
{
	struct stat sb;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size <= 0 || sb.st_size > (64 << 20)) {
		err = -EINVAL;
		goto out;
	}
	*buf = malloc(sb.st_size);
	if (!*buf) {
		err = -ENOMEM;
		goto out;
	}
	n = read(fd, *buf, sb.st_size);
	if (n != sb.st_size) {
		free(*buf);
		*buf = NULL;
		err = n < 0 ? -errno : -EIO;
		goto out;
	}
	*len = n;
out:
	close(fd);
	return err;
}

/* --ebpf-program: the object must have every program and map of the embedded
 * one; the first missing one is named. */
static int check_custom(struct probes *p, const char *path, void *buf, size_t len,
			const struct bpf_object_skeleton *s)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = s->name);
	struct bpf_object *obj = bpf_object__open_mem(buf, len, &oo);
	int err = 0;

	if (!obj) {
		snprintf(p->why, sizeof(p->why), "open %s as a BPF object", path);
		return -errno;
	}
	for (int i = 0; i < s->prog_cnt && !err; i++)
		if (!bpf_object__find_program_by_name(obj, s->progs[i].name)) {
			snprintf(p->why, sizeof(p->why),
				 "use %s: it has no program '%s' (build it from bpf/syscalls.bpf.c)",
				 path, s->progs[i].name);
			err = -ENOENT;
		}
	for (int i = 0; i < s->map_cnt && !err; i++)
		if (!bpf_object__find_map_by_name(obj, s->maps[i].name)) {
			snprintf(p->why, sizeof(p->why),
				 "use %s: it has no map '%s' (build it from bpf/syscalls.bpf.c)",
				 path, s->maps[i].name);
			err = -ENOENT;
		}
	bpf_object__close(obj);
	return err;
}

static struct syscalls_bpf *open_syscalls(struct probes *p, const struct probes_opts *o,
					  const struct bpf_object_open_opts *oo, int *err)
{
	struct syscalls_bpf *s;

	if (!o->custom_obj) {
		s = syscalls_bpf__open_opts(oo);
		*err = s ? 0 : -errno;
		return s;
	}
	if (!p->custom_buf) {
		*err = read_file(o->custom_obj, &p->custom_buf, &p->custom_len);
		if (*err) {
			snprintf(p->why, sizeof(p->why), "read %s", o->custom_obj);
			return NULL;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = syscalls_bpf__create_skeleton(s);
	if (*err)
		goto fail;
	s->skeleton->data = p->custom_buf;
	s->skeleton->data_sz = p->custom_len;
	*err = check_custom(p, o->custom_obj, p->custom_buf, p->custom_len, s->skeleton);
	if (*err)
		goto fail;
	*err = bpf_object__open_skeleton(s->skeleton, oo);
	if (!*err)
		return s;
fail:
	syscalls_bpf__destroy(s);
	return NULL;
}

/* The scheduler family shares the syscall family's maps. */
static int open_sched(struct probes *p, const struct probes_opts *o, const char **why)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = o->btf_path);
	const struct probes_mode *m = &p->mode;
	int err;

	*why = "open the scheduler probes";
	p->sched = sched_bpf__open_opts(&oo);
	if (!p->sched)
		return -errno;
	SET_RODATA(p->sched, m);
	for (size_t i = 0; i < sizeof(shared_maps) / sizeof(shared_maps[0]); i++) {
		struct bpf_map *mine = bpf_object__find_map_by_name(p->sched->obj, shared_maps[i]);
		struct bpf_map *theirs = bpf_object__find_map_by_name(p->skel->obj, shared_maps[i]);

		err = mine && theirs ? bpf_map__reuse_fd(mine, bpf_map__fd(theirs)) : -ENOENT;
		if (err)
			return err;
	}
	err = configure(p->sched->obj, o, m);
	if (err)
		return err;
	*why = "load the scheduler probes";
	err = sched_bpf__load(p->sched);
	if (err)
		return err;
	*why = "attach the scheduler probes";
	return sched_bpf__attach(p->sched);
}

/* One attempt with one mode; leaves p clean on failure. */
static int try_mode(struct probes *p, const struct probes_opts *o, const char **why)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = o->btf_path);
	const struct probes_mode *m = &p->mode;
	int err;

	*why = "open the BPF object";
	p->skel = open_syscalls(p, o, &oo, &err);
	if (!p->skel) {
		if (p->why[0])
			*why = p->why;
		return err ? err : -EINVAL;
	}
	SET_RODATA(p->skel, m);
	*why = "configure the BPF object";
	err = configure(p->skel->obj, o, m);
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
	if (o->sched) {
		err = open_sched(p, o, why);
		if (err)
			goto fail;
	}
	return 0;
fail:
	sched_bpf__destroy(p->sched);
	syscalls_bpf__destroy(p->skel);
	p->sched = NULL;
	p->skel = NULL;
	return err;
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
	static char why_copy[sizeof(((struct probes *)0)->why)];
	struct features ft;
	struct probes *p;
	int err, load_err = 0;

	libbpf_set_print(libbpf_log);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
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
	if (*why == p->why) {
		/* the message lives in p: keep it for the caller in a static copy */
		memcpy(why_copy, p->why, sizeof(why_copy));
		*why = why_copy;
	}
	features_free(&ft);
	probes_close(p);
	return err < 0 ? err : -EINVAL;
}

int probes_trace_task(struct probes *p, pid_t tgid, pid_t tid, int pidfd)
{
	struct { uint64_t enter_ts; uint32_t nr, faults, tgid, ppid; } v = {
		.tgid = tgid, .ppid = getpid(),
	};
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

void probes_shared_fds(struct probes *p, int *traced_fd, int *ring_fd, int *drops_fd)
{
	*traced_fd = bpf_map__fd(p->skel->maps.traced);
	*ring_fd = bpf_map__fd(p->skel->maps.events);
	*drops_fd = bpf_map__fd(p->skel->maps.drops);
}

int probes_map_fd(struct probes *p, const char *name)
{
	int fd = bpf_object__find_map_fd_by_name(p->skel->obj, name);

	return fd < 0 ? -ENOENT : fd;
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
	free(p->custom_buf);
	free(p);
}
