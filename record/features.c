/* The feature probe the loader and `ksight doctor` share: each BPF feature ksight
 * may use, tried for real (a tiny program loaded and attached, a map created),
 * and the plan (probe kind, traced set, transport, page faults) computed from them. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/perf_event.h>

#include "record/cgroups.h"
#include "record/features.h"
#include "util/log.h"

#define ENOTSUPP_KERNEL 524 /* the kernel-internal ENOTSUPP some bpf() paths return */
#define BIT(f) (1u << (f))

static const struct {
	const char *name, *check;
} names[FEAT_MAX] = {
	[FEAT_BTF] = { "btf", "btf" },
	[FEAT_TP_BTF] = { "tp_btf", "prog.tp_btf" },
	[FEAT_RAW_TP] = { "raw_tp", "prog.raw_tp" },
	[FEAT_TRACEFS] = { "tracefs", "tracefs" },
	[FEAT_TRACEPOINT] = { "tracepoint", "prog.tracepoint" },
	[FEAT_RINGBUF] = { "ringbuf", "map.ringbuf" },
	[FEAT_PERFBUF] = { "perfbuf", "map.perfbuf" },
	[FEAT_TASK_STORAGE] = { "task_storage", "map.task_storage" },
	[FEAT_HASH] = { "hash", "map.hash" },
	[FEAT_PAGE_FAULT] = { "page_fault", "tracepoint.page_fault_user" },
	[FEAT_PERF_EVENT] = { "perf_event", "prog.perf_event" },
	[FEAT_HW_CYCLES] = { "hw_cycles", "pmu" },
	[FEAT_KPROBE] = { "kprobe", "prog.kprobe" },
	[FEAT_FENTRY] = { "fentry", "prog.fentry" },
	[FEAT_CGROUP2] = { "cgroup2", "cgroup.v2" },
};

static const char *const attach_names[] = { "auto", "tp_btf", "raw_tp", "tracepoint" };
static const char *const set_names[] = { "auto", "task_storage", "hash" };
static const char *const transport_names[] = { "auto", "ringbuf", "perfbuf" };

const char *probe_attach_name(enum probe_attach a) { return attach_names[a]; }
const char *probe_set_name(enum probe_set s) { return set_names[s]; }
const char *probe_transport_name(enum probe_transport t) { return transport_names[t]; }
const char *feature_name(enum feature f) { return names[f].name; }
const char *feature_check_name(enum feature f) { return names[f].check; }

static void __attribute__((format(printf, 3, 4))) say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

const char *features_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == ENOTSUPP_KERNEL)
		return "ENOTSUPP: the kernel does not support it";
	return strerror(err);
}

/* --- the plan ----------------------------------------------------------------- */

int features_check_request(const struct probe_request *rq, char *why, size_t len)
{
	if (rq->set == SET_TASK_STORAGE && rq->attach != ATTACH_AUTO && rq->attach != ATTACH_TP_BTF) {
		say(why, len, "--traced-set task_storage needs --probe-kind tp_btf (only BTF "
		    "tracepoints see task pointers); %s probes use --traced-set hash",
		    attach_names[rq->attach]);
		return -EINVAL;
	}
	return 0;
}

static bool kind_works(uint32_t have, enum probe_attach a)
{
	switch (a) {
	case ATTACH_TP_BTF:
		return have & BIT(FEAT_TP_BTF);
	case ATTACH_RAW_TP:
		return have & BIT(FEAT_RAW_TP);
	case ATTACH_TRACEPOINT:
		return (have & BIT(FEAT_TRACEPOINT)) && (have & BIT(FEAT_TRACEFS));
	default:
		return false;
	}
}

static bool kind_denied(uint32_t denied, enum probe_attach a)
{
	switch (a) {
	case ATTACH_TP_BTF:
		return denied & BIT(FEAT_TP_BTF);
	case ATTACH_RAW_TP:
		return denied & BIT(FEAT_RAW_TP);
	case ATTACH_TRACEPOINT:
		return denied & (BIT(FEAT_TRACEPOINT) | BIT(FEAT_TRACEFS));
	default:
		return false;
	}
}

int features_plan_from(uint32_t have, uint32_t denied, const struct probe_request *rq,
		       struct probes_mode *out, char *why, size_t len)
{
	static const enum probe_attach order[] = { ATTACH_TP_BTF, ATTACH_RAW_TP, ATTACH_TRACEPOINT };
	bool all_denied = true;
	struct probes_mode m = { 0 };
	int err;

	err = features_check_request(rq, why, len);
	if (err)
		return err;
	if (!(have & BIT(FEAT_BTF))) {
		say(why, len, "no BTF for this kernel");
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < 3 && !m.attach; i++) {
		if (rq->attach != ATTACH_AUTO && rq->attach != order[i])
			continue;
		/* task storage needs the BTF task pointers of tp_btf */
		if (rq->set == SET_TASK_STORAGE && order[i] != ATTACH_TP_BTF)
			continue;
		if (kind_works(have, order[i]))
			m.attach = order[i];
		else
			all_denied = all_denied && kind_denied(denied, order[i]);
	}
	if (!m.attach && all_denied) {
		say(why, len, "no privilege to load BPF programs");
		return -EPERM;
	}
	if (!m.attach && rq->attach != ATTACH_AUTO) {
		say(why, len, "--probe-kind %s: %s programs do not work on this kernel%s",
		    attach_names[rq->attach], attach_names[rq->attach],
		    rq->attach == ATTACH_TRACEPOINT && !(have & BIT(FEAT_TRACEFS)) ?
		    " (no tracefs)" : "");
		return -EOPNOTSUPP;
	}
	if (!m.attach) {
		say(why, len, rq->set == SET_TASK_STORAGE ?
		    "--traced-set task_storage: tp_btf programs do not work on this kernel" :
		    "no probe kind works: tp_btf, raw_tp and tracepoint programs all fail");
		return -EOPNOTSUPP;
	}

	/* a map refused for lack of privilege: privilege, not the kernel, is missing */
	if ((denied & (BIT(FEAT_TASK_STORAGE) | BIT(FEAT_HASH) | BIT(FEAT_RINGBUF) |
		       BIT(FEAT_PERFBUF))) && !((have & BIT(FEAT_HASH)) &&
		       (have & (BIT(FEAT_RINGBUF) | BIT(FEAT_PERFBUF))))) {
		say(why, len, "no privilege to create BPF maps");
		return -EPERM;
	}
	m.set = rq->set ? rq->set : m.attach == ATTACH_TP_BTF && (have & BIT(FEAT_TASK_STORAGE)) ?
		SET_TASK_STORAGE : SET_HASH;
	if (m.set == SET_TASK_STORAGE && !(have & BIT(FEAT_TASK_STORAGE))) {
		say(why, len, "--traced-set task_storage: this kernel has no task storage maps");
		return -EOPNOTSUPP;
	}
	if (m.set == SET_HASH && !(have & BIT(FEAT_HASH))) {
		say(why, len, "no hash map for the traced set%s",
		    rq->set ? "" : " (and no task storage it could use instead)");
		return -EOPNOTSUPP;
	}

	m.transport = rq->transport ? rq->transport :
		      have & BIT(FEAT_RINGBUF) ? TRANSPORT_RINGBUF : TRANSPORT_PERFBUF;
	if (m.transport == TRANSPORT_RINGBUF && !(have & BIT(FEAT_RINGBUF))) {
		say(why, len, "--transport ringbuf: this kernel has no BPF ring buffer");
		return -EOPNOTSUPP;
	}
	if (m.transport == TRANSPORT_PERFBUF && !(have & BIT(FEAT_PERFBUF))) {
		say(why, len, rq->transport ? "--transport perfbuf: the perf buffer does not work here" :
		    "no event transport: neither the ring buffer nor the perf buffer works");
		return -EOPNOTSUPP;
	}
	m.page_faults = rq->sched && (have & BIT(FEAT_PAGE_FAULT));
	*out = m;
	return 0;
}

static void probe_into(struct features *ft, enum feature f, uint32_t *have, uint32_t *denied)
{
	const struct feature_result *r = features_get(ft, f);

	if (r->ok)
		*have |= BIT(f);
	else if (r->err == -EPERM || r->err == -EACCES)
		*denied |= BIT(f);
}

int features_plan(struct features *ft, const struct probe_request *rq, struct probes_mode *out,
		  char *why, size_t len)
{
	uint32_t have = 0, denied = 0;
	int err;

	err = features_check_request(rq, why, len);
	if (err)
		return err;
	/* only what can change the plan: tracefs is mounted, and the perf buffer
	 * tried, only when they may be used */
	probe_into(ft, FEAT_BTF, &have, &denied);
	if (rq->attach == ATTACH_AUTO || rq->attach == ATTACH_TP_BTF)
		probe_into(ft, FEAT_TP_BTF, &have, &denied);
	if (rq->attach == ATTACH_AUTO || rq->attach == ATTACH_RAW_TP)
		probe_into(ft, FEAT_RAW_TP, &have, &denied);
	if (rq->attach == ATTACH_TRACEPOINT ||
	    (rq->attach == ATTACH_AUTO && !(have & (BIT(FEAT_TP_BTF) | BIT(FEAT_RAW_TP))))) {
		probe_into(ft, FEAT_TRACEFS, &have, &denied);
		probe_into(ft, FEAT_TRACEPOINT, &have, &denied);
	}
	probe_into(ft, FEAT_TASK_STORAGE, &have, &denied);
	probe_into(ft, FEAT_HASH, &have, &denied);
	probe_into(ft, FEAT_RINGBUF, &have, &denied);
	if (rq->transport == TRANSPORT_PERFBUF || !(have & BIT(FEAT_RINGBUF)))
		probe_into(ft, FEAT_PERFBUF, &have, &denied);
	if (rq->sched)
		probe_into(ft, FEAT_PAGE_FAULT, &have, &denied);
	return features_plan_from(have, denied, rq, out, why, len);
}

/* --- set-up -------------------------------------------------------------------- */

int features_init(struct features *ft, const struct features_opts *o, char *why, size_t len)
{
	const char *env = getenv("KSIGHT_FEATURES_MASK");
	char *copy, *tok, *save = NULL;
	int err = 0;

	memset(ft, 0, sizeof(*ft));
	if (o)
		ft->o = *o;
	if (!env || !*env)
		return 0;
	copy = strdup(env);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", ", &save); tok && !err; tok = strtok_r(NULL, ", ", &save)) {
		int f;

		if (!strcmp(tok, "all")) {
			ft->mask = BIT(FEAT_MAX) - 1;
			continue;
		}
		for (f = 0; f < FEAT_MAX && strcmp(tok, names[f].name); f++)
			;
		if (f == FEAT_MAX) {
			say(why, len, "KSIGHT_FEATURES_MASK: '%s' is not a feature (btf, tp_btf, "
			    "raw_tp, tracefs, tracepoint, ringbuf, perfbuf, task_storage, hash, "
			    "page_fault, perf_event, hw_cycles, kprobe, fentry or all)", tok);
			err = -EINVAL;
		}
		ft->mask |= BIT(f);
	}
	free(copy);
	return err;
}

void features_free(struct features *ft)
{
	btf__free(ft->vmlinux);
	ft->vmlinux = NULL;
}

static struct feature_result *__attribute__((format(printf, 4, 5)))
set(struct features *ft, enum feature f, int err, const char *fmt, ...)
{
	struct feature_result *r = &ft->r[f];
	va_list ap;

	r->probed = true;
	r->ok = !err;
	r->err = err;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	ks_debug("feature %s: %s: %s", names[f].name, r->ok ? "yes" : "no", r->detail);
	return r;
}

static void hint(struct feature_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hint(struct feature_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->hint, sizeof(r->hint), fmt, ap);
	va_end(ap);
}

void features_set_failed(struct features *ft, enum feature f, int err, const char *why)
{
	set(ft, f, err ? err : -EINVAL, "the real probes failed: %s", why);
}

/* --- BPF building blocks --------------------------------------------------------- */

static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 }, /* r0 = 0 */
	{ .code = BPF_JMP | BPF_EXIT },						 /* exit */
};

/* Loads `r0 = 0; exit` as the given type; on failure, loads again with the
 * verifier log on and puts errno and the log's last line in why. */
static int load_tiny(enum bpf_prog_type type, enum bpf_attach_type eat, __u32 btf_id,
		     char *why, size_t len)
{
	char log[4096] = "", *last;
	int fd, err;
	size_t n;

	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = eat, .attach_btf_id = btf_id);
	fd = bpf_prog_load(type, "ks_feature", "GPL", ret0, 2, &o);
	if (fd >= 0)
		return fd;
	err = fd;
	/* again, only for the verifier's words (empty when refused before it runs) */
	o.log_buf = log;
	o.log_size = sizeof(log);
	o.log_level = 1;
	fd = bpf_prog_load(type, "ks_feature", "GPL", ret0, 2, &o);
	if (fd >= 0)
		close(fd);
	n = strlen(log);
	while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
		log[--n] = '\0';
	last = strrchr(log, '\n');
	last = last ? last + 1 : log;
	say(why, len, "load refused: %s%s%s%s",
	    features_strerror(err), *last ? " (verifier: " : "", last,
	    *last ? ")" : "");
	return err;
}

static int perf_open(struct perf_event_attr *a, pid_t pid, int cpu)
{
	int fd = syscall(SYS_perf_event_open, a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Attaches prog to a perf event opened from attr on CPU 0, system-wide (as the
 * recorder does). Returns 0 or a negative errno with the step in why. */
static int attach_perf(struct perf_event_attr *a, int prog, char *why, size_t len)
{
	int pfd, err = 0;

	pfd = perf_open(a, -1, 0);
	if (pfd < 0) {
		say(why, len, "perf_event_open: %s", features_strerror(pfd));
		return pfd;
	}
	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog)) {
		err = -errno;
		say(why, len, "loads, but attaching to the perf event fails: %s",
		    features_strerror(err));
	}
	close(pfd);
	return err;
}

static int kernel_btf_id(struct features *ft, const char *name, int kind, char *why, size_t len)
{
	int id;

	if (!ft->vmlinux_tried) {
		ft->vmlinux_tried = true;
		ft->vmlinux = btf__load_vmlinux_btf();
		ft->vmlinux_err = ft->vmlinux ? 0 : errno ? -errno : -ENOENT;
	}
	if (!ft->vmlinux) {
		say(why, len, "no kernel BTF to name the attach point (%s)",
		    features_strerror(ft->vmlinux_err));
		return ft->vmlinux_err;
	}
	id = btf__find_by_name_kind(ft->vmlinux, name, kind);
	if (id < 0) {
		say(why, len, "%s is not in the kernel's BTF", name);
		return -ENOENT;
	}
	return id;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &h, data))
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

/* --- tracefs ---------------------------------------------------------------------- */

static const char *tracefs_mounted(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	struct statfs s;

	for (size_t i = 0; i < 2; i++)
		if (!statfs(roots[i], &s) && s.f_type == TRACEFS_MAGIC)
			return roots[i];
	return NULL;
}

static bool kernel_has_fs(const char *fs)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/filesystems", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strrchr(line, '\t');

		name = name ? name + 1 : line;
		name[strcspn(name, "\n")] = '\0';
		found = !strcmp(name, fs);
	}
	fclose(f);
	return found;
}

static void probe_tracefs(struct features *ft)
{
	const char *root = tracefs_mounted();
	bool in_kernel;
	struct feature_result *r;
	char events[PATH_MAX];

	if (!root && ft->o.mount_tracefs && kernel_has_fs("tracefs")) {
		/* libbpf needs tracefs for classic tracepoints: mount it if nobody has */
		if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
			ks_debug("cannot mount tracefs on /sys/kernel/tracing: %s", strerror(errno));
		else
			ks_debug("mounted tracefs on /sys/kernel/tracing");
		root = tracefs_mounted();
	}
	if (root) {
		say(ft->tracefs, sizeof(ft->tracefs), "%s", root);
		say(events, sizeof(events), "%s/events", root);
		r = set(ft, FEAT_TRACEFS, access(events, R_OK | X_OK) ? -EACCES : 0, "mounted at %s%s",
			root, access(events, R_OK | X_OK) ? ", but its events/ cannot be read" : "");
		if (!r->ok)
			hint(r, "run as root, or make it readable to ksight's group (chgrp -R tracing "
			     "%s; chmod -R g+rX %s); tp_btf and raw_tp do not need it", root, root);
		return;
	}
	in_kernel = kernel_has_fs("tracefs");
	if (in_kernel && have_cap(CAP_SYS_ADMIN)) {
		set(ft, FEAT_TRACEFS, 0, "not mounted; the kernel has tracefs and record mounts it "
		    "at /sys/kernel/tracing when it uses classic tracepoints");
		return;
	}
	r = set(ft, FEAT_TRACEFS, in_kernel ? -EPERM : -ENOENT, in_kernel ?
		"not mounted at /sys/kernel/tracing, and only root can mount it (the kernel has "
		"tracefs)" : "not mounted, and the kernel has no tracefs");
	hint(r, "only the tracepoint probe needs it (tp_btf and raw_tp do not)%s",
	     in_kernel ? ": mount -t tracefs nodev /sys/kernel/tracing" : "");
}

const char *features_tracefs(struct features *ft)
{
	features_get(ft, FEAT_TRACEFS);
	return ft->tracefs;
}

static int read_tracepoint_id(const char *root, const char *event, char *why, size_t len)
{
	char path[PATH_MAX], buf[32];
	ssize_t n;
	int fd;

	say(path, sizeof(path), "%s/events/%s/id", root, event);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		say(why, len, "%s: %s", path, strerror(errno));
		return err;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		say(why, len, "%s: unreadable", path);
		return -EINVAL;
	}
	buf[n] = '\0';
	return atoi(buf);
}

/* --- each feature ------------------------------------------------------------------ */

static void probe_btf(struct features *ft)
{
	struct btf_choice ch;
	char why[4096], *fix;
	struct feature_result *r;
	int err;

	if (ft->o.btf_known) {
		set(ft, FEAT_BTF, 0, "%s", ft->o.btf_known);
		return;
	}
	err = btf_discover(ft->o.btf ? ft->o.btf : &(struct btf_opts){ .no_network = true },
			   &ch, why, sizeof(why));
	if (!err) {
		set(ft, FEAT_BTF, 0, "%s BTF at %s", ch.source, ch.path);
		return;
	}
	/* why ends with "; fix: ...": that part is the hint */
	fix = strstr(why, "; fix: ");
	if (fix)
		*fix = '\0';
	r = set(ft, FEAT_BTF, err, "%s", why);
	hint(r, "%s", fix ? fix + strlen("; fix: ") : "");
}

/* A tiny program attached through bpf_raw_tracepoint_open: tp_btf (btf_id set) or
 * raw_tp on tp. */
static int attach_raw(enum bpf_prog_type type, enum bpf_attach_type eat, int btf_id,
		      const char *tp, char *why, size_t len)
{
	int prog, link;

	prog = load_tiny(type, eat, btf_id, why, len);
	if (prog < 0)
		return prog;
	link = bpf_raw_tracepoint_open(tp, prog);
	if (link < 0)
		say(why, len, "loads, but attaching to %s fails: %s", tp ? tp : "sys_enter",
		    features_strerror(link));
	else
		close(link);
	close(prog);
	return link < 0 ? link : 0;
}

static void probe_tp_btf(struct features *ft)
{
	char why[512];
	struct feature_result *r;
	int id, err;

	if (ft->o.tp_btf_by_loader) {
		set(ft, FEAT_TP_BTF, 0, "tried by loading the probes");
		return;
	}
	id = kernel_btf_id(ft, "btf_trace_sys_enter", BTF_KIND_TYPEDEF, why, sizeof(why));
	err = id < 0 ? id : attach_raw(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, id, NULL, why,
				       sizeof(why));
	r = set(ft, FEAT_TP_BTF, err, "%s", err ? why : "BTF tracepoint loads and attaches to sys_enter");
	if (err)
		hint(r, "ksight falls back to raw_tp; a kernel with CONFIG_DEBUG_INFO_BTF=y has it");
}

static void probe_raw_tp(struct features *ft)
{
	char why[512];
	struct feature_result *r;
	int err;

	err = attach_raw(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0, "sys_enter", why, sizeof(why));
	r = set(ft, FEAT_RAW_TP, err, "%s", err ? why : "raw tracepoint loads and attaches to sys_enter");
	if (err)
		hint(r, "ksight falls back to classic tracepoints; a kernel with "
		     "CONFIG_BPF_EVENTS=y has raw tracepoints");
}

static void probe_tracepoint(struct features *ft)
{
	static const char *const events[] = { "raw_syscalls/sys_enter", "syscalls/sys_enter_openat" };
	const char *root, *event = NULL;
	struct feature_result *r;
	struct perf_event_attr a;
	char why[512] = "";
	int id = -ENOENT, prog, err;

	if (!features_have(ft, FEAT_TRACEFS)) {
		r = set(ft, FEAT_TRACEPOINT, ft->r[FEAT_TRACEFS].err ?: -ENOENT,
			"needs tracefs for its tracepoint ids (see tracefs)");
		hint(r, "ksight does not need it when tp_btf or raw_tp work");
		return;
	}
	root = ft->tracefs;
	prog = load_tiny(BPF_PROG_TYPE_TRACEPOINT, 0, 0, why, sizeof(why));
	if (prog < 0) {
		r = set(ft, FEAT_TRACEPOINT, prog, "%s", why);
		hint(r, "use a kernel with CONFIG_BPF_EVENTS=y");
		return;
	}
	if (!*root) {
		/* doctor does not mount tracefs; record will */
		set(ft, FEAT_TRACEPOINT, 0, "tracepoint program loads (attaching needs tracefs, "
		    "which record mounts)");
		close(prog);
		return;
	}
	/* the second is tried only when the first does not exist */
	for (size_t i = 0; i < 2 && id == -ENOENT; i++) {
		event = events[i];
		id = read_tracepoint_id(root, event, why, sizeof(why));
	}
	if (id < 0) {
		r = set(ft, FEAT_TRACEPOINT, id, "%s", why);
		hint(r, "%s; tp_btf and raw_tp do not need it", id == -EACCES || id == -EPERM ?
		     "tracefs is not readable by ksight (see tracefs)" : "no syscall tracepoint in tracefs");
		close(prog);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = id;
	a.sample_period = 1;
	a.wakeup_events = 1;
	err = attach_perf(&a, prog, why, sizeof(why));
	if (err)
		set(ft, FEAT_TRACEPOINT, err, "%s: %s", event, why);
	else
		set(ft, FEAT_TRACEPOINT, 0, "tracepoint program loads and attaches to %s", event);
	close(prog);
}

static void probe_ringbuf(struct features *ft)
{
	long page = sysconf(_SC_PAGESIZE);
	struct feature_result *r;
	void *m;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "ks_feature_rb", 0, 0, (__u32)page * 16, NULL);
	if (fd < 0) {
		r = set(ft, FEAT_RINGBUF, fd, "create refused: %s", features_strerror(fd));
		hint(r, "ksight falls back to the perf buffer (the ring buffer needs Linux 5.8+)");
		return;
	}
	/* the consumer maps the ring: check that too */
	m = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int err = -errno;

		r = set(ft, FEAT_RINGBUF, err, "created, but cannot be mapped: %s",
			features_strerror(err));
		hint(r, "ksight falls back to the perf buffer");
	} else {
		set(ft, FEAT_RINGBUF, 0, "ring buffer creates and maps");
		munmap(m, page);
	}
	close(fd);
}

/* The perf buffer: a perf event array and a BPF-output event on CPU 0. */
static void probe_perfbuf(struct features *ft)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE, .size = sizeof(a), .config = PERF_COUNT_SW_BPF_OUTPUT,
		.sample_type = PERF_SAMPLE_RAW, .sample_period = 1, .wakeup_events = 1,
	};
	struct feature_result *r;
	int fd, pfd;

	fd = bpf_map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, "ks_feature_pb", 4, 4, 1, NULL);
	if (fd < 0) {
		r = set(ft, FEAT_PERFBUF, fd, "perf event array: create refused: %s",
			features_strerror(fd));
		hint(r, "the fallback transport when there is no ring buffer");
		return;
	}
	pfd = perf_open(&a, -1, 0);
	if (pfd < 0) {
		r = set(ft, FEAT_PERFBUF, pfd, "perf event array creates, but the BPF-output "
			"perf event does not open: %s", features_strerror(pfd));
		hint(r, "the fallback transport when there is no ring buffer");
	} else {
		set(ft, FEAT_PERFBUF, 0, "perf event array creates and a BPF-output event opens");
		close(pfd);
	}
	close(fd);
}

/* Task storage needs BTF for its key and value: a two-int BTF made here. */
static void probe_task_storage(struct features *ft)
{
	struct btf *btf = btf__new_empty();
	struct feature_result *r;
	int key, val, err, fd;

	if (!btf) {
		set(ft, FEAT_TASK_STORAGE, -errno, "cannot build BTF: %s", strerror(errno));
		return;
	}
	key = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	val = btf__add_int(btf, "long long", 8, BTF_INT_SIGNED);
	err = key < 0 ? key : val < 0 ? val : btf__load_into_kernel(btf);
	if (err) {
		r = set(ft, FEAT_TASK_STORAGE, err, "loading its BTF is refused: %s",
			features_strerror(err));
		hint(r, "ksight falls back to a hash map keyed by thread id");
		goto out;
	}
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC, .btf_fd = btf__fd(btf),
		    .btf_key_type_id = key, .btf_value_type_id = val);
	fd = bpf_map_create(BPF_MAP_TYPE_TASK_STORAGE, "ks_feature_ts", 4, 8, 0, &o);
	if (fd < 0) {
		r = set(ft, FEAT_TASK_STORAGE, fd, "create refused: %s", features_strerror(fd));
		hint(r, "ksight falls back to a hash map keyed by thread id (Linux < 5.11)");
	} else {
		set(ft, FEAT_TASK_STORAGE, 0, "task storage map creates");
		close(fd);
	}
out:
	btf__free(btf);
}

static void probe_hash(struct features *ft)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ks_feature_h", 4, 8, 64, NULL);

	if (fd < 0) {
		set(ft, FEAT_HASH, fd, "create refused: %s", features_strerror(fd));
		return;
	}
	set(ft, FEAT_HASH, 0, "hash map creates (per-thread state fallback)");
	close(fd);
}

/* x86's exceptions:page_fault_user: in a mounted tracefs, else a raw tracepoint
 * attached to it, else in the kernel's BTF (parsing it costs the most). */
static void probe_page_fault(struct features *ft)
{
	const char *root = tracefs_mounted();
	struct feature_result *r;
	char why[512], path[PATH_MAX];
	struct stat sb;
	int err;

	if (root) {
		say(path, sizeof(path), "%s/events/exceptions/page_fault_user", root);
		err = stat(path, &sb) ? -errno : 0;
		say(why, sizeof(why), "%s %s", path, err ? "is missing" : "exists");
	} else {
		err = attach_raw(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0, "page_fault_user", why,
				 sizeof(why));
		if (!err)
			say(why, sizeof(why), "a raw tracepoint attaches to it");
		else if (kernel_btf_id(ft, "btf_trace_page_fault_user", BTF_KIND_TYPEDEF, why,
				       sizeof(why)) >= 0)
			err = 0, say(why, sizeof(why), "btf_trace_page_fault_user is in the kernel's BTF");
	}
	if (!err) {
		set(ft, FEAT_PAGE_FAULT, 0, "exceptions:page_fault_user exists (%s)", why);
		return;
	}
	r = set(ft, FEAT_PAGE_FAULT, err, "no exceptions:page_fault_user tracepoint (%s)", why);
	hint(r, "optional: page faults are not recorded on this kernel (the tracepoint is x86's)");
}

static void probe_perf_event(struct features *ft)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_SOFTWARE, .size = sizeof(a), .config = PERF_COUNT_SW_CPU_CLOCK,
		.freq = 1, .sample_freq = 49, .disabled = 1,
	};
	struct feature_result *r;
	char why[512];
	int prog, err;

	prog = load_tiny(BPF_PROG_TYPE_PERF_EVENT, 0, 0, why, sizeof(why));
	err = prog < 0 ? prog : attach_perf(&a, prog, why, sizeof(why));
	if (prog >= 0)
		close(prog);
	if (err) {
		r = set(ft, FEAT_PERF_EVENT, err, "software cpu-clock: %s", why);
		hint(r, "not used yet: no ksight profiler samples the CPU");
		return;
	}
	set(ft, FEAT_PERF_EVENT, 0, "perf-event programs load and attach to the software cpu-clock "
	    "(no ksight profiler uses them yet)");
}

static void probe_hw_cycles(struct features *ft)
{
	struct perf_event_attr a = {
		.type = PERF_TYPE_HARDWARE, .size = sizeof(a), .config = PERF_COUNT_HW_CPU_CYCLES,
		.disabled = 1, .exclude_kernel = 1, .exclude_hv = 1,
	};
	struct feature_result *r;
	int fd = perf_open(&a, 0, -1);

	if (fd >= 0) {
		set(ft, FEAT_HW_CYCLES, 0, "hardware cycles counter opens (no ksight profiler uses "
		    "it yet)");
		close(fd);
		return;
	}
	r = set(ft, FEAT_HW_CYCLES, fd, "no hardware cycles counter: %s%s", features_strerror(fd),
		fd == -ENOENT || fd == -EOPNOTSUPP ? " (no hardware PMU, as on most VMs)" : "");
	hint(r, "optional: the software cpu-clock is the one a profiler would sample instead");
}

static void probe_kprobe(struct features *ft)
{
	static const char type_path[] = "/sys/bus/event_source/devices/kprobe/type";
	struct perf_event_attr a;
	struct feature_result *r;
	char why[512], buf[32];
	int prog, fd, err;
	ssize_t n;

	prog = load_tiny(BPF_PROG_TYPE_KPROBE, 0, 0, why, sizeof(why));
	if (prog < 0) {
		r = set(ft, FEAT_KPROBE, prog, "%s", why);
		goto hint;
	}
	fd = open(type_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		r = set(ft, FEAT_KPROBE, err, "program loads, but cannot attach: no kprobe PMU "
			"(%s: %s)", type_path, strerror(-err));
		close(prog);
		goto hint;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	memset(&a, 0, sizeof(a));
	a.type = atoi(buf);
	a.size = sizeof(a);
	a.config1 = (__u64)(unsigned long)"do_sys_openat2"; /* kprobe_func */
	a.sample_period = 1;
	err = attach_perf(&a, prog, why, sizeof(why));
	close(prog);
	if (!err) {
		set(ft, FEAT_KPROBE, 0, "kprobe program loads and attaches to do_sys_openat2");
		return;
	}
	r = set(ft, FEAT_KPROBE, err, "kprobe on do_sys_openat2: %s", why);
hint:
	hint(r, "ksight does not need kprobes (it uses tracepoints); a kernel built with "
	     "CONFIG_KPROBES=y would provide them");
}

static void probe_fentry(struct features *ft)
{
	static const char *const funcs[] = { "do_sys_openat2", "do_sys_open", "vfs_read" };
	const char *func = NULL;
	struct feature_result *r;
	char why[512];
	int id = -ENOENT, prog, link;

	for (size_t i = 0; i < 3 && id < 0; i++) {
		func = funcs[i];
		id = kernel_btf_id(ft, func, BTF_KIND_FUNC, why, sizeof(why));
	}
	if (id < 0) {
		r = set(ft, FEAT_FENTRY, id, "%s", why);
		goto hint;
	}
	prog = load_tiny(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, id, why, sizeof(why));
	if (prog < 0) {
		r = set(ft, FEAT_FENTRY, prog, "fentry on %s: %s", func, why);
		goto hint;
	}
	link = bpf_raw_tracepoint_open(NULL, prog);
	close(prog);
	if (link >= 0) {
		set(ft, FEAT_FENTRY, 0, "fentry program loads and attaches to %s", func);
		close(link);
		return;
	}
	r = set(ft, FEAT_FENTRY, link, "fentry on %s loads, but attaching fails: %s", func,
		features_strerror(link));
hint:
	hint(r, "ksight does not need fentry/fexit (it uses tracepoints)");
}

/* record --cgroup: the v2 hierarchy mounted somewhere (record/cgroups.c finds it
 * the same way) and bpf_get_current_ancestor_cgroup_id in a raw tracepoint. */
static void probe_cgroup2(struct features *ft)
{
	static const struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_current_ancestor_cgroup_id },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct feature_result *r;
	struct cgroups *cg;
	char why[4096 + 256];
	int fd, err;

	err = cgroups_open(&cg, why, sizeof(why));
	if (err) {
		r = set(ft, FEAT_CGROUP2, err, "%s", why);
		hint(r, "record --cgroup needs it; -a and commands are recorded without cgroup names");
		return;
	}
	fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "ks_feature", "GPL", prog, 4, NULL);
	if (fd < 0) {
		r = set(ft, FEAT_CGROUP2, fd, "cgroup v2 at %s, but a program calling "
			"bpf_get_current_ancestor_cgroup_id is refused: %s", cgroups_mount(cg),
			features_strerror(fd));
		hint(r, "record --cgroup needs Linux >= 5.7 (or the privilege to load BPF)");
	} else {
		set(ft, FEAT_CGROUP2, 0, "cgroup v2 at %s; cgroup ancestry is readable in BPF "
		    "(record --cgroup works)", cgroups_mount(cg));
		close(fd);
	}
	cgroups_free(cg);
}

static void (*const probes[FEAT_MAX])(struct features *) = {
	[FEAT_BTF] = probe_btf,
	[FEAT_TP_BTF] = probe_tp_btf,
	[FEAT_RAW_TP] = probe_raw_tp,
	[FEAT_TRACEFS] = probe_tracefs,
	[FEAT_TRACEPOINT] = probe_tracepoint,
	[FEAT_RINGBUF] = probe_ringbuf,
	[FEAT_PERFBUF] = probe_perfbuf,
	[FEAT_TASK_STORAGE] = probe_task_storage,
	[FEAT_HASH] = probe_hash,
	[FEAT_PAGE_FAULT] = probe_page_fault,
	[FEAT_PERF_EVENT] = probe_perf_event,
	[FEAT_HW_CYCLES] = probe_hw_cycles,
	[FEAT_KPROBE] = probe_kprobe,
	[FEAT_FENTRY] = probe_fentry,
	[FEAT_CGROUP2] = probe_cgroup2,
};

const struct feature_result *features_get(struct features *ft, enum feature f)
{
	struct feature_result *r = &ft->r[f];

	if (r->probed)
		return r;
	if (ft->mask & BIT(f)) {
		set(ft, f, -EOPNOTSUPP, "masked by KSIGHT_FEATURES_MASK");
		r->masked = true;
		hint(r, "unset KSIGHT_FEATURES_MASK to use it");
		return r;
	}
	probes[f](ft);
	return r;
}

bool features_have(struct features *ft, enum feature f)
{
	return features_get(ft, f)->ok;
}
