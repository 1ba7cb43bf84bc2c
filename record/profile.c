/* record: the CPU profile's loader (perf events on every CPU, the off-CPU switch
 * hooks), its ring records turned into sample rows, and the stack table. */
#include <endian.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/events.h"
#include "format/stack.h"
#include "record/loader.h"
#include "record/procmaps.h"
#include "record/profile.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/hmap.h"
#include "util/log.h"
#include "offcpu.skel.h"
#include "profile.skel.h"

struct profile {
	struct consumer *c;
	struct loader *ld;
	struct profile_bpf *on;
	struct offcpu_bpf *off;
	struct bpf_link **links;
	size_t nlinks;
	int *pfds;
	unsigned hz;
	const char *event;
	int stackmap_fd;
	struct pmaps *pm;
	struct profile_kallsyms *kj; /* the kernel's symbols, being read meanwhile */
	struct ksyms *ks;
	int ks_err;
	/* the stack table: encoded frames by hash (multimap -> index in st[]) */
	struct ks_hmap stacks;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	struct { size_t off, len; } *st;
	size_t nst, capst;
	struct ks_hmap offcache; /* pid, kernel id, user id -> stack id */
	struct ks_hmap known_mm; /* tgid -> the mm written into maps_known */
	int maps_known_fd;
	struct ks_hmap khit;     /* kernel addresses in stacks */
	struct ks_hmap uhit;     /* module << 40 | offset in stacks */
	struct profile_stats stats;
	char what[128], missing[512];
};

/* ---- loading ------------------------------------------------------------------ */

static int perf_open(unsigned type, unsigned long long config, unsigned hz, int cpu)
{
	struct perf_event_attr a = {
		.size = sizeof(a), .type = type, .config = config,
		.freq = 1, .sample_freq = hz,
	};

	return syscall(__NR_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* A perf event on every CPU: cycles where there is a PMU, else the cpu-clock. */
static int attach_oncpu(struct profile *pf, unsigned hz, const char **why)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	unsigned type = PERF_TYPE_HARDWARE;
	unsigned long long config = PERF_COUNT_HW_CPU_CYCLES;
	int fd, err = 0;

	if (ncpu <= 0)
		ncpu = 1;
	pf->pfds = calloc(ncpu, sizeof(int));
	pf->links = calloc(ncpu, sizeof(*pf->links));
	if (!pf->pfds || !pf->links)
		return -ENOMEM;
	pf->event = "cycles";
	for (long cpu = 0; cpu < ncpu; cpu++) {
		fd = perf_open(type, config, hz, cpu);
		if (fd < 0 && type == PERF_TYPE_HARDWARE &&
		    (errno == ENOENT || errno == EOPNOTSUPP || errno == ENODEV || errno == EINVAL)) {
			ks_debug("profile: no hardware cycles event (%s): using the cpu-clock",
				 strerror(errno));
			type = PERF_TYPE_SOFTWARE;
			config = PERF_COUNT_SW_CPU_CLOCK;
			pf->event = "cpu-clock";
			fd = perf_open(type, config, hz, cpu);
		}
		if (fd < 0) {
			if (errno == ENODEV) /* an offline CPU */
				continue;
			*why = "open a perf event on every CPU";
			return -errno;
		}
		pf->pfds[pf->nlinks] = fd;
		pf->links[pf->nlinks] = bpf_program__attach_perf_event(pf->on->progs.ks_profile, fd);
		if (!pf->links[pf->nlinks]) {
			err = -errno;
			close(fd);
			*why = "attach the sampling program to the perf events";
			return err;
		}
		pf->nlinks++;
	}
	return pf->nlinks ? 0 : -ENODEV;
}

/* Both programs go through the probes' loader: same BTF, knobs and shared maps
 * (traced set, transport, drop counters). */
static int load_oncpu(struct profile *pf, const struct profile_opts *o, struct probes *p,
		      const char **why)
{
	struct loader *ld = probes_loader(p);
	int err;

	*why = "open the sampling program";
	pf->on = calloc(1, sizeof(*pf->on));
	if (!pf->on)
		return -ENOMEM;
	err = profile_bpf__create_skeleton(pf->on);
	err = err ?: loader_open(ld, pf->on->skeleton, NULL, why);
	err = err ?: loader_load(ld, pf->on->skeleton, NULL, why);
	if (!err)
		pf->maps_known_fd = bpf_map__fd(pf->on->maps.maps_known);
	return err ?: attach_oncpu(pf, o->hz, why);
}

static int load_offcpu(struct profile *pf, struct probes *p, const char **why)
{
	struct loader *ld = probes_loader(p);
	struct loader_knobs k = ld->knobs;
	struct probes_mode m;
	int err;

	probes_get_mode(p, &m);
	*why = "open the off-CPU probes";
	pf->off = calloc(1, sizeof(*pf->off));
	if (!pf->off)
		return -ENOMEM;
	err = offcpu_bpf__create_skeleton(pf->off);
	err = err ?: loader_open(ld, pf->off->skeleton, NULL, why);
	if (err)
		return err;
	/* the BTF hook where the other probes use it, else the raw one (hash set) */
	bpf_program__set_autoload(pf->off->progs.ks_offcpu_switch, m.attach == ATTACH_TP_BTF);
	bpf_program__set_autoload(pf->off->progs.ks_offcpu_switch_raw, m.attach != ATTACH_TP_BTF);
	if (m.attach != ATTACH_TP_BTF)
		k.use_hash = true;
	err = loader_load(ld, pf->off->skeleton, &k, why);
	err = err ?: loader_attach(ld, pf->off->skeleton, why);
	if (err)
		return err;
	pf->stackmap_fd = bpf_map__fd(pf->off->maps.stackmap);
	return 0;
}

static void detach_oncpu(struct profile *pf)
{
	for (size_t i = 0; i < pf->nlinks; i++) {
		bpf_link__destroy(pf->links[i]);
		close(pf->pfds[i]);
	}
	pf->nlinks = 0;
	pf->maps_known_fd = -1;
	if (pf->on && pf->on->obj && pf->ld)
		loader_forget(pf->ld, pf->on->obj);
	profile_bpf__destroy(pf->on);
	pf->on = NULL;
}

/* ---- the stack table ---------------------------------------------------------- */

static int note_hits(struct profile *pf, const struct ks_frame *f, unsigned n)
{
	int err = 0;

	for (unsigned i = 0; i < n && !err; i++) {
		if (f[i].module == KS_KERNEL_MODULE)
			err = ks_hmap_upsert(&pf->khit, f[i].off, 0, NULL) ? 0 : -ENOMEM;
		else if (f[i].module != PM_UNKNOWN_MODULE && f[i].off < (1ull << 40))
			err = ks_hmap_upsert(&pf->uhit, (uint64_t)f[i].module << 40 | f[i].off, 0,
					     NULL) ? 0 : -ENOMEM;
	}
	return err;
}

/* Writes the modules met (or given their file) since the last call into the
 * stack table; a later row of a module replaces an earlier one. */
static int announce_modules(struct profile *pf)
{
	struct pm_module *m;

	while ((m = pmaps_next_dirty(pf->pm))) {
		struct ks_stack_row r;
		size_t pl = strlen(m->path), bl = strlen(m->build_id), sl = m->nseg * 24, n;
		int err;

		memset(&r, 0, offsetof(struct ks_stack_row, data));
		r.ts = ks_mono_ns();
		r.id = m->id;
		r.what = KS_STACK_MODULE;
		if (pl + 2 + bl + sl > KS_STACK_DATA_MAX)
			pl = KS_STACK_DATA_MAX - 2 - bl - sl;
		/* path NUL build-id NUL, then (offset, address, size) of each segment,
		 * u64 little-endian */
		memcpy(r.data, m->path, pl);
		r.data[pl] = 0;
		memcpy(r.data + pl + 1, m->build_id, bl);
		r.data[pl + 1 + bl] = 0;
		n = pl + 2 + bl;
		for (unsigned i = 0; i < m->nseg; i++) {
			uint64_t v[3] = { htole64(m->seg[i].off), htole64(m->seg[i].vaddr),
					  htole64(m->seg[i].size) };

			memcpy(r.data + n, v, sizeof(v));
			n += sizeof(v);
		}
		r.data_len = n;
		err = consumer_add_row(pf->c, KS_KIND_STACK, &r);
		if (err)
			return err;
		pf->stats.modules++;
	}
	return 0;
}

/* The id of the stack of frames f (nk kernel, nu user), added to the table when new. */
static int stack_id(struct profile *pf, const struct ks_frame *f, unsigned nk, unsigned nu,
		    uint64_t *id, uint32_t *flags)
{
	uint8_t buf[KS_STACK_DATA_MAX];
	struct ks_stack_row r;
	uint64_t h;
	int len, err;

	/* a stack too big for a row loses its outermost frames, and says so */
	while ((len = ks_frames_encode(f, nk, nu, buf, sizeof(buf))) == -ENOSPC && nk + nu) {
		if (nu)
			nu--;
		else
			nk--;
		*flags |= nu ? KS_STK_UTRUNC : KS_STK_KTRUNC;
	}
	if (len < 0)
		return len;
	h = ks_hash_bytes(buf, len);
	for (uint64_t *v = ks_hmap_get(&pf->stacks, h); v; v = ks_hmap_next(&pf->stacks, h, v))
		if (pf->st[*v].len == (size_t)len && !memcmp(pf->arena + pf->st[*v].off, buf, len)) {
			*id = *v + 1;
			return 0;
		}
	err = KS_GROW(&pf->st, &pf->capst, pf->nst + 1);
	err = err ?: ks_grow((void **)&pf->arena, &pf->arena_cap, pf->arena_len + len, 1);
	err = err ?: ks_hmap_add(&pf->stacks, h, pf->nst);
	err = err ?: note_hits(pf, f, nk + nu);
	err = err ?: announce_modules(pf);
	if (err)
		return err;
	memcpy(pf->arena + pf->arena_len, buf, len);
	pf->st[pf->nst].off = pf->arena_len;
	pf->st[pf->nst].len = len;
	pf->arena_len += len;
	*id = ++pf->nst;
	memset(&r, 0, offsetof(struct ks_stack_row, data));
	r.ts = ks_mono_ns();
	r.id = *id;
	r.what = KS_STACK_FRAMES;
	r.data_len = len;
	memcpy(r.data, buf, len);
	pf->stats.stacks++;
	return consumer_add_row(pf->c, KS_KIND_STACK, &r);
}

static void place_user(struct profile *pf, uint32_t pid, uint64_t a, struct ks_frame *f,
		       bool *unresolved)
{
	f->_pad = 0;
	if (pmaps_place(pf->pm, pid, a, &f->module, &f->off)) {
		f->module = PM_UNKNOWN_MODULE;
		f->off = a;
		*unresolved = true;
	}
}

/* Kernel addresses as they are; user ones placed in their module (or left as
 * the raw address in PM_UNKNOWN_MODULE, *unresolved set). A return address
 * points after its call: the call itself (one byte back) is what is placed. */
static void to_frames(struct profile *pf, uint32_t pid, const uint64_t *ips, unsigned nk,
		      unsigned nu, struct ks_frame *f, bool *unresolved)
{
	for (unsigned i = 0; i < nk; i++)
		f[i] = (struct ks_frame){ .module = KS_KERNEL_MODULE, .off = ips[i] };
	for (unsigned i = nk; i < nk + nu; i++)
		place_user(pf, pid, ips[i] - (i > nk ? 1 : 0), &f[i], unresolved);
}

/* User frames the kernel gave as build-id + offset where it could. */
static int to_frames_build_id(struct profile *pf, uint32_t pid,
			      const struct ks_ev_build_id_frame *u, unsigned nk, unsigned nu,
			      struct ks_frame *f, bool *unresolved)
{
	for (unsigned i = 0; i < nu; i++) {
		uint64_t back = i ? 1 : 0;
		struct ks_frame *fr = &f[nk + i];
		int err;

		if (u[i].status == 2) { /* BPF_STACK_BUILD_ID_IP: the address */
			place_user(pf, pid, u[i].off_or_ip - back, fr, unresolved);
			continue;
		}
		/* a broken frame-pointer chain (code built without them) yields junk */
		if (u[i].status != 1 || u[i].off_or_ip - back >= 1ull << 40) {
			*fr = (struct ks_frame){ .module = PM_UNKNOWN_MODULE, .off = u[i].off_or_ip };
			*unresolved = true;
			continue;
		}
		fr->_pad = 0;
		fr->off = u[i].off_or_ip - back;
		err = pmaps_module_by_build_id(pf->pm, u[i].build_id, &fr->module);
		if (err)
			return err;
	}
	return 0;
}

/* Holds pid's maps for address space mm, and tells the sampling program so:
 * from then on it takes the process's user frames as plain addresses. */
static int note_maps(struct profile *pf, uint32_t pid, uint64_t mm)
{
	uint64_t *have = ks_hmap_get(&pf->known_mm, pid);
	int err;

	if (!mm || (have && *have == mm))
		return 0;
	err = pmaps_sync(pf->pm, pid, mm);
	if (err)
		return err == -ENOENT ? 0 : err;
	if (pf->maps_known_fd >= 0)
		bpf_map_update_elem(pf->maps_known_fd, &pid, &mm, BPF_ANY);
	return ks_hmap_put(&pf->known_mm, pid, mm);
}

static int on_sample(void *ctx, const void *data, size_t size)
{
	const struct ks_ev_sample *e = data;
	struct profile *pf = ctx;
	struct ks_frame f[KS_FRAMES_MAX];
	struct ks_cpu_sample row;
	bool unresolved = false;
	int err;

	bool bid = (e->type >> 16) & KS_EVS_BUILD_ID;
	size_t usize = bid ? sizeof(struct ks_ev_build_id_frame) : sizeof(uint64_t);

	if (size < sizeof(*e) || e->nk > KS_STACK_DEPTH || e->nu > KS_STACK_DEPTH ||
	    size < sizeof(*e) + e->nk * sizeof(uint64_t) + e->nu * usize)
		return 0;
	err = note_maps(pf, e->pid, e->mm);
	if (err)
		return err;
	to_frames(pf, e->pid, (const uint64_t *)(e + 1), e->nk, bid ? 0 : e->nu, f, &unresolved);
	if (bid) {
		struct ks_ev_build_id_frame u[KS_STACK_DEPTH];

		/* after nk addresses: 8-byte aligned, copied for the alignment of the struct */
		memcpy(u, (const uint64_t *)(e + 1) + e->nk, e->nu * sizeof(*u));
		err = to_frames_build_id(pf, e->pid, u, e->nk, e->nu, f, &unresolved);
		if (err)
			return err;
	}
	row = (struct ks_cpu_sample){
		.ts = e->ts, .pid = e->pid, .tid = e->tid, .cpu = e->cpu,
		.flags = ((e->type >> 16) & ~KS_EVS_BUILD_ID) | (unresolved ? KS_STK_UNRESOLVED : 0),
	};
	err = stack_id(pf, f, e->nk, e->nu, &row.stack, &row.flags);
	if (err)
		return err;
	pf->stats.samples++;
	pf->stats.ktrunc += !!(row.flags & KS_STK_KTRUNC);
	pf->stats.utrunc += !!(row.flags & KS_STK_UTRUNC);
	pf->stats.missing += !!(row.flags & (KS_STK_KMISSING | KS_STK_UMISSING));
	pf->stats.unresolved += unresolved;
	return consumer_add_row(pf->c, KS_KIND_CPU_SAMPLE, &row);
}

/* The addresses of stack map entry id, innermost first: the count. */
static unsigned read_stackmap(struct profile *pf, int32_t id, uint64_t *ips)
{
	unsigned n = 0;

	if (id < 0 || bpf_map_lookup_elem(pf->stackmap_fd, &id, ips))
		return 0;
	while (n < KS_STACK_DEPTH && ips[n])
		n++;
	return n;
}

static int on_offcpu(void *ctx, const void *data, size_t size)
{
	const struct ks_ev_offcpu *e = data;
	struct profile *pf = ctx;
	struct ks_offcpu row;
	uint64_t key, *cached;
	uint32_t flags;
	int err;

	if (size < sizeof(*e))
		return 0;
	flags = e->type >> 16;
	row = (struct ks_offcpu){ .ts = e->ts, .dur = e->dur, .pid = e->pid, .tid = e->tid,
				  .cpu = e->cpu, .flags = flags };
	key = (uint64_t)e->pid << 32 | (uint64_t)((e->kstack + 1) & 0xffff) << 16 |
	      ((e->ustack + 1) & 0xffff);
	if (e->kstack >= 0xffff || e->ustack >= 0xffff)
		key = 0;
	cached = key ? ks_hmap_get(&pf->offcache, key) : NULL;
	if (cached) {
		row.stack = *cached >> 8;
		row.flags |= *cached & 0xff;
	} else {
		uint64_t ips[2 * KS_STACK_DEPTH];
		struct ks_frame f[KS_FRAMES_MAX];
		bool unresolved = false;
		unsigned nk = read_stackmap(pf, e->kstack, ips);
		unsigned nu = read_stackmap(pf, e->ustack, ips + nk);
		uint32_t more = (nk == KS_STACK_DEPTH ? KS_STK_KTRUNC : 0) |
				(nu == KS_STACK_DEPTH ? KS_STK_UTRUNC : 0);

		to_frames(pf, e->pid, ips, nk, nu, f, &unresolved);
		more |= unresolved ? KS_STK_UNRESOLVED : 0;
		if (!nk)
			more |= KS_STK_KMISSING;
		if (!nu)
			more |= KS_STK_UMISSING;
		err = stack_id(pf, f, nk, nu, &row.stack, &more);
		if (err)
			return err;
		row.flags |= more;
		if (key && !ks_hmap_upsert(&pf->offcache, key, row.stack << 8 | more, NULL))
			return -ENOMEM;
	}
	pf->stats.offcpu++;
	return consumer_add_row(pf->c, KS_KIND_OFFCPU, &row);
}

void profile_proc(struct profile *pf, const struct ks_proc *p)
{
	uint32_t pid = p->pid;

	if (!pf || p->pid != p->tid)
		return;
	if (p->what == KS_PROC_EXIT) {
		if (ks_hmap_del(&pf->known_mm, pid) && pf->maps_known_fd >= 0)
			bpf_map_delete_elem(pf->maps_known_fd, &pid);
		pmaps_drop(pf->pm, pid);
		return;
	}
	if (p->what != KS_PROC_EXEC)
		return;
	pmaps_forget(pf->pm, pid);
	ks_hmap_clear(&pf->offcache); /* its stack ids now mean other frames */
}

/* ---- life cycle --------------------------------------------------------------- */

struct profile_kallsyms {
	pthread_t thread;
	pid_t tid;   /* set by the thread */
	bool urgent; /* someone waits for it: back to the normal priority */
	FILE *f; /* opened with the privilege to see addresses; the thread's */
	struct ksyms *ks;
	int err;
};

/* The kallsyms snapshot, at the lowest priority: it takes what the start-up and
 * the command leave of the CPUs. */
static void *load_kallsyms(void *arg)
{
	struct profile_kallsyms *kj = arg;

	pid_t tid = (pid_t)syscall(SYS_gettid);

	__atomic_store_n(&kj->tid, tid, __ATOMIC_SEQ_CST);
	setpriority(PRIO_PROCESS, (id_t)tid, 19); /* this thread only */
	if (__atomic_load_n(&kj->urgent, __ATOMIC_SEQ_CST))
		setpriority(PRIO_PROCESS, (id_t)tid, 0);
	kj->err = ksyms_load(kj->f, &kj->ks);
	return NULL;
}

/* Waits for the thread, back at the normal priority: now it is in the way. */
static void wait_kallsyms(struct profile_kallsyms *kj)
{
	pid_t tid;

	__atomic_store_n(&kj->urgent, true, __ATOMIC_SEQ_CST);
	tid = __atomic_load_n(&kj->tid, __ATOMIC_SEQ_CST);
	if (tid > 0)
		setpriority(PRIO_PROCESS, (id_t)tid, 0); /* EPERM without CAP_SYS_NICE */
	pthread_join(kj->thread, NULL);
}

struct profile_kallsyms *profile_kallsyms_start(void)
{
	struct profile_kallsyms *kj = calloc(1, sizeof(*kj));

	if (!kj)
		return NULL;
	kj->err = -ENOENT;
	kj->f = fopen("/proc/kallsyms", "re");
	if (!kj->f) {
		free(kj);
		return NULL;
	}
	if (pthread_create(&kj->thread, NULL, load_kallsyms, kj)) {
		fclose(kj->f);
		free(kj);
		return NULL;
	}
	return kj;
}

void profile_kallsyms_free(struct profile_kallsyms *kj)
{
	if (!kj)
		return;
	wait_kallsyms(kj);
	ksyms_free(kj->ks);
	free(kj);
}

/* The snapshot, once read: its table becomes the profile's. */
static void join_kallsyms(struct profile *pf)
{
	struct profile_kallsyms *kj = pf->kj;

	if (!kj)
		return;
	wait_kallsyms(kj);
	pf->ks = kj->ks;
	pf->ks_err = kj->err;
	free(kj);
	pf->kj = NULL;
}

int profile_start(const struct profile_opts *o, struct probes *p, struct consumer *c,
		  struct profile **out, const char **what, const char **missing)
{
	struct profile *pf = calloc(1, sizeof(*pf));
	const char *why = "";
	size_t n = 0;
	int err, err_on = 0, err_off = 0;

	if (!pf) {
		profile_kallsyms_free(o->kallsyms);
		return -ENOMEM;
	}
	pf->c = c;
	pf->ld = probes_loader(p);
	pf->stackmap_fd = -1;
	pf->maps_known_fd = -1;
	pf->ks_err = -ENOENT;
	pf->kj = o->kallsyms ? o->kallsyms : profile_kallsyms_start();
	err = pmaps_new(&pf->pm);
	if (err)
		goto fail;
	if (o->hz) {
		err_on = load_oncpu(pf, o, p, &why);
		if (err_on) {
			n += snprintf(pf->missing + n, sizeof(pf->missing) - n,
				      "on-CPU samples: cannot %s: %s", why, strerror(-err_on));
			detach_oncpu(pf);
		} else {
			pf->hz = o->hz;
			snprintf(pf->what, sizeof(pf->what), "%s %u Hz", pf->event, pf->hz);
		}
	}
	if (o->offcpu) {
		err_off = load_offcpu(pf, p, &why);
		if (err_off) {
			if (n < sizeof(pf->missing))
				n += snprintf(pf->missing + n, sizeof(pf->missing) - n,
					      "%soff-CPU stacks: cannot %s: %s", n ? "; " : "", why,
					      strerror(-err_off));
			if (pf->off->obj)
				loader_forget(pf->ld, pf->off->obj);
			offcpu_bpf__destroy(pf->off);
			pf->off = NULL;
		} else {
			size_t w = strlen(pf->what);

			snprintf(pf->what + w, sizeof(pf->what) - w, "%soff-CPU", w ? ", " : "");
		}
	}
	if (!pf->on && !pf->off) {
		err = err_on ? err_on : err_off ? err_off : -EINVAL;
		*missing = pf->missing;
		goto fail_keep_msg;
	}
	err = pf->on ? consumer_set_handler(c, KS_EV_SAMPLE, on_sample, pf) : 0;
	err = err ?: pf->off ? consumer_set_handler(c, KS_EV_OFFCPU, on_offcpu, pf) : 0;
	if (err)
		goto fail;
	*what = pf->what;
	*missing = pf->missing;
	*out = pf;
	return 0;
fail:
	*missing = strerror(-err);
fail_keep_msg:
	if (*missing == pf->missing) {
		static char copy[sizeof(pf->missing)];

		memcpy(copy, pf->missing, sizeof(copy));
		*missing = copy;
	}
	profile_free(pf);
	return err;
}

static int add_symbol(struct profile *pf, uint32_t module, uint64_t off, const char *name)
{
	struct ks_stack_row r;
	size_t len = strlen(name);

	memset(&r, 0, offsetof(struct ks_stack_row, data));
	r.ts = ks_mono_ns();
	r.id = module;
	r.off = off;
	r.what = KS_STACK_SYMBOL;
	r.data_len = len < KS_STACK_DATA_MAX ? len : KS_STACK_DATA_MAX;
	memcpy(r.data, name, r.data_len);
	pf->stats.symbols++;
	return consumer_add_row(pf->c, KS_KIND_STACK, &r);
}

int profile_archive(struct profile *pf, profile_resolve_fn resolve, void *ctx)
{
	struct ksyms *ks = NULL;
	char name[1024];
	uint64_t t0 = ks_mono_ns(), t1;
	int err = 0;

	if (!pf)
		return 0;
	join_kallsyms(pf);
	ks = pf->ks;
	if (!ks)
		ks_debug("profile: no kernel symbols: %s", strerror(-pf->ks_err));
	ks_hmap_each(&pf->khit, i) {
		const char *s = ks ? ksyms_find(ks, pf->khit.slot[i].key) : NULL;

		if (!s) {
			pf->stats.unnamed++;
			continue;
		}
		err = add_symbol(pf, KS_KERNEL_MODULE, pf->khit.slot[i].key, s);
		if (err)
			break;
	}
	t1 = ks_mono_ns();
	ks_hmap_each(&pf->uhit, i) {
		uint64_t k = pf->uhit.slot[i].key, off = k & ((1ull << 40) - 1);
		struct pm_module *m = pmaps_module(pf->pm, k >> 40);
		char path[64];

		if (err)
			break;
		if (!m || (m->fd < 0 && !m->build_id[0])) {
			pf->stats.unnamed++;
			continue;
		}
		/* no file (only the kernel's build-id): a debug file found by build-id */
		snprintf(path, sizeof(path), m->fd >= 0 ? "/proc/self/fd/%d" : "", m->fd);
		if (resolve(ctx, path, m->build_id, off, name, sizeof(name))) {
			pf->stats.unnamed++;
			continue;
		}
		err = add_symbol(pf, m->id, off, name);
	}
	ks_debug("profile: kernel symbols named in %.1f ms, user ones in %.1f ms",
		 (t1 - t0) / 1e6, (ks_mono_ns() - t1) / 1e6);
	return err;
}

void profile_get_stats(const struct profile *pf, struct profile_stats *st)
{
	if (pf)
		*st = pf->stats;
	else
		memset(st, 0, sizeof(*st));
}

unsigned profile_hz(const struct profile *pf, const char **event)
{
	*event = pf && pf->on ? pf->event : "";
	return pf && pf->on ? pf->hz : 0;
}

void profile_free(struct profile *pf)
{
	if (!pf)
		return;
	detach_oncpu(pf);
	if (pf->off && pf->off->obj)
		loader_forget(pf->ld, pf->off->obj);
	offcpu_bpf__destroy(pf->off);
	join_kallsyms(pf);
	ksyms_free(pf->ks);
	pmaps_free(pf->pm);
	ks_hmap_free(&pf->stacks);
	ks_hmap_free(&pf->offcache);
	ks_hmap_free(&pf->known_mm);
	ks_hmap_free(&pf->khit);
	ks_hmap_free(&pf->uhit);
	free(pf->arena);
	free(pf->st);
	free(pf->links);
	free(pf->pfds);
	free(pf);
}
