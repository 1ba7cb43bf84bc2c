/* The one BPF loader every skeleton goes through (the syscall, scheduler and
 * files families): open with the chosen BTF, or with --ebpf-program's bytes in
 * place of the embedded object; set the loader knobs of bpf/common.bpf.h in
 * rodata; reuse the maps the first loaded skeleton made; load; attach. Which
 * probe kind, traced set and transport to use is decided before, by the caller. */
#ifndef KSIGHT_LOADER_H
#define KSIGHT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;
struct bpf_object_skeleton;

/* The knobs every family reads from rodata (bpf/common.bpf.h). */
struct loader_knobs {
	bool trace_all;        /* -a: every task but the recorder's */
	bool trace_cgroup;     /* --cgroup: tasks in cg_ids (or below) */
	uint32_t cg_count;
	uint64_t cg_ids[8];    /* KS_CGROUP_MAX (bpf/events.h) */
	uint32_t cg_levels[8]; /* depth of each below the cgroup v2 root */
	bool use_hash;         /* traced set in traced_tids, not task storage */
	bool use_perfbuf;      /* perf buffer instead of the ring buffer */
	uint64_t wakeup_bytes; /* wake the consumer past this backlog */
};

struct loader {
	const char *btf_path;        /* BTF for CO-RE relocations; NULL: the system's */
	struct loader_knobs knobs;   /* for every skeleton unless one is given */
	struct bpf_object *first;    /* whose shared maps later skeletons reuse */
	void *custom_buf;            /* --ebpf-program's bytes, alive with the object */
	size_t custom_len;
	char why[512];               /* --ebpf-program's failure, in words */
};

/* Starts l (zeroed by the caller or not) with a BTF path (may be NULL) and
 * routes libbpf's messages to --debug. */
void loader_init(struct loader *l, const char *btf_path);
/* Frees what l holds (not the objects it loaded). */
void loader_fini(struct loader *l);

/* Opens skeleton s (made by its X_bpf__create_skeleton) with l's BTF. With
 * custom_path (--ebpf-program) that object's bytes are opened instead; it must
 * have every program and map of the embedded one (-ENOENT, the first missing one
 * named in l->why). Returns 0 or a negative errno; *why names the step. */
int loader_open(struct loader *l, struct bpf_object_skeleton *s, const char *custom_path,
		const char **why);

/* Families other than the first (which makes the shared maps) may be opened,
 * loaded and attached in several threads at once: l is only read then, and the
 * libbpf objects are independent (record/btfcache.c shares the kernel's BTF).
 *
 * Sets the knobs (k, or l's when NULL) in the opened object's rodata, makes it
 * reuse the shared maps of the first skeleton loaded through l (it becomes the
 * first when there is none) and loads it. Returns 0 or a negative errno; *why
 * names the step that failed. */
int loader_load(struct loader *l, struct bpf_object_skeleton *s, const struct loader_knobs *k,
		const char **why);
/* Attaches the loaded skeleton's programs. Returns 0 or a negative errno. */
int loader_attach(struct loader *l, struct bpf_object_skeleton *s, const char **why);

/* Sets the rodata variable name (size bytes) of an opened object, before load.
 * Returns 0, -ENOENT (no such variable) or -EINVAL (another size). */
int loader_set_rodata(struct bpf_object *obj, const char *name, const void *val, size_t size);

/* Starts reading and parsing the kernel's BTF (/sys/kernel/btf/vmlinux, 8-12 ms)
 * in a thread, for the first load to find it done (record/btfcache.c). */
void loader_prefetch_kernel_btf(void);

/* obj is about to be closed: no later skeleton reuses its maps. */
void loader_forget(struct loader *l, struct bpf_object *obj);

#endif
