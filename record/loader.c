/* The one BPF loader: every skeleton (syscalls, sched, files) is opened, given
 * its rodata knobs, made to share the first one's maps, loaded and attached here. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "util/clock.h"
#include "util/log.h"
#include "record/loader.h"

/* Maps every family declares from bpf/common.bpf.h, by name in each object. */
static const char *const shared_maps[] = { "traced", "traced_tids", "events", "pb", "drops",
					     "ignored" };

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!ks_debug_enabled || level == LIBBPF_DEBUG)
		return 0;
	fputs("ksight: debug: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

void loader_init(struct loader *l, const char *btf_path)
{
	memset(l, 0, sizeof(*l));
	l->btf_path = btf_path;
	libbpf_set_print(libbpf_log);
}

void loader_fini(struct loader *l)
{
	free(l->custom_buf);
	l->custom_buf = NULL;
	l->custom_len = 0;
	l->first = NULL;
}

/* The family's name in messages. */
static const char *family(const struct bpf_object_skeleton *s)
{
	static const char *const names[][2] = {
		{ "syscalls_bpf", "BPF programs" },
		{ "sched_bpf", "scheduler probes" },
		{ "files_bpf", "file probes" },
		{ "io_bpf", "block I/O and network probes" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s->name, names[i][0]))
			return names[i][1];
	return s->name;
}

/* The step in words, in the calling thread's buffer: families may load in
 * several threads at once through one loader (valid until the thread's next
 * step). */
static const char *say(struct loader *l, const char *verb, const struct bpf_object_skeleton *s)
{
	static __thread char why[sizeof(l->why)];

	snprintf(why, sizeof(why), "%s the %s", verb, family(s));
	return why;
}

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
static int check_custom(struct loader *l, const char *path, const struct bpf_object_skeleton *s)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = s->name);
	struct bpf_object *obj = bpf_object__open_mem(l->custom_buf, l->custom_len, &oo);
	char src[64];
	int err = 0;

	if (!obj) {
		snprintf(l->why, sizeof(l->why), "open %s as a BPF object", path);
		return -errno;
	}
	/* "syscalls_bpf" is built from bpf/syscalls.bpf.c */
	snprintf(src, sizeof(src), "bpf/%.*s.bpf.c", (int)strcspn(s->name, "_"), s->name);
	for (int i = 0; i < s->prog_cnt && !err; i++)
		if (!bpf_object__find_program_by_name(obj, s->progs[i].name)) {
			snprintf(l->why, sizeof(l->why),
				 "use %s: it has no program '%s' (build it from %s)",
				 path, s->progs[i].name, src);
			err = -ENOENT;
		}
	for (int i = 0; i < s->map_cnt && !err; i++)
		if (!bpf_object__find_map_by_name(obj, s->maps[i].name)) {
			snprintf(l->why, sizeof(l->why), "use %s: it has no map '%s' (build it from %s)",
				 path, s->maps[i].name, src);
			err = -ENOENT;
		}
	bpf_object__close(obj);
	return err;
}

int loader_open(struct loader *l, struct bpf_object_skeleton *s, const char *custom_path,
		const char **why)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = l->btf_path);
	int err;

	*why = say(l, "open", s);
	if (custom_path) {
		if (!l->custom_buf) {
			err = read_file(custom_path, &l->custom_buf, &l->custom_len);
			if (err) {
				snprintf(l->why, sizeof(l->why), "read %s", custom_path);
				*why = l->why;
				return err;
			}
		}
		/* the skeleton keeps its names and layout; only the bytes change */
		s->data = l->custom_buf;
		s->data_sz = l->custom_len;
		err = check_custom(l, custom_path, s);
		if (err) {
			*why = l->why;
			return err;
		}
		*why = say(l, "open", s);
	}
	err = bpf_object__open_skeleton(s, &oo);
	return err < 0 ? err : err ? -EINVAL : 0;
}

/* The .rodata map of obj, with its BTF section. */
static struct bpf_map *rodata_map(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t len = strlen(n);

		if (bpf_map__is_internal(m) && len >= 7 && !strcmp(n + len - 7, ".rodata"))
			return m;
	}
	return NULL;
}

int loader_set_rodata(struct bpf_object *obj, const char *name, const void *val, size_t size)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *m = rodata_map(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	size_t data_sz;
	uint8_t *data;
	int id;

	if (!btf || !m)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	/* the skeleton maps it writable until load */
	data = (uint8_t *)bpf_map__initial_value(m, &data_sz);
	if (id < 0 || !data)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name))
			continue;
		if (vs->size != size || vs->offset + size > data_sz)
			return -EINVAL;
		memcpy(data + vs->offset, val, size);
		return 0;
	}
	return -ENOENT;
}

/* The knobs of bpf/common.bpf.h, in each family's rodata. */
static int set_knobs(struct bpf_object *obj, const struct loader_knobs *k)
{
	uint32_t self = (uint32_t)getpid();
	int err;

	err = loader_set_rodata(obj, "self_tgid", &self, sizeof(self));
	err = err ?: loader_set_rodata(obj, "trace_all", &k->trace_all, sizeof(k->trace_all));
	err = err ?: loader_set_rodata(obj, "use_hash", &k->use_hash, sizeof(k->use_hash));
	err = err ?: loader_set_rodata(obj, "use_perfbuf", &k->use_perfbuf, sizeof(k->use_perfbuf));
	err = err ?: loader_set_rodata(obj, "wakeup_bytes", &k->wakeup_bytes,
				       sizeof(k->wakeup_bytes));
	if (k->trace_cgroup) { /* set only when used: older custom objects lack them */
		err = err ?: loader_set_rodata(obj, "trace_cgroup", &k->trace_cgroup,
					       sizeof(k->trace_cgroup));
		err = err ?: loader_set_rodata(obj, "cg_count", &k->cg_count, sizeof(k->cg_count));
		err = err ?: loader_set_rodata(obj, "cg_ids", k->cg_ids, sizeof(k->cg_ids));
		err = err ?: loader_set_rodata(obj, "cg_levels", k->cg_levels,
					       sizeof(k->cg_levels));
	}
	return err;
}

static int reuse_shared(struct loader *l, struct bpf_object *obj)
{
	for (size_t i = 0; i < sizeof(shared_maps) / sizeof(shared_maps[0]); i++) {
		struct bpf_map *mine = bpf_object__find_map_by_name(obj, shared_maps[i]);
		int fd = bpf_object__find_map_fd_by_name(l->first, shared_maps[i]);
		int err = mine && fd >= 0 ? bpf_map__reuse_fd(mine, fd) : -ENOENT;

		if (err)
			return err;
	}
	return 0;
}

int loader_load(struct loader *l, struct bpf_object_skeleton *s, const struct loader_knobs *k,
		const char **why)
{
	struct bpf_object *obj = *s->obj;
	uint64_t t0;
	int err;

	*why = say(l, "set the knobs of", s);
	err = set_knobs(obj, k ? k : &l->knobs);
	if (err)
		return err;
	if (l->first && l->first != obj) {
		*why = say(l, "share the maps with", s);
		err = reuse_shared(l, obj);
		if (err)
			return err;
	}
	*why = say(l, "load", s);
	t0 = ks_mono_ns();
	err = bpf_object__load_skeleton(s);
	if (err)
		return err < 0 ? err : -EINVAL;
	ks_debug("loaded the %s in %.1f ms", family(s), (ks_mono_ns() - t0) / 1e6);
	if (!l->first)
		l->first = obj;
	return 0;
}

int loader_attach(struct loader *l, struct bpf_object_skeleton *s, const char **why)
{
	int err;

	*why = say(l, "attach", s);
	err = bpf_object__attach_skeleton(s);
	return err < 0 ? err : err ? -EINVAL : 0;
}

void loader_forget(struct loader *l, struct bpf_object *obj)
{
	if (l->first == obj)
		l->first = NULL;
}
