/* `ksight doctor`: can this machine record, and if not, why? Every answer about
 * BPF comes from really loading (and attaching) a tiny program or creating a map
 * of each kind ksight may use, not from version numbers. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <zlib.h>

#include "record/btf.h"
#include "cli/cli.h"

#define MAX_CHECKS 40
#define ENOTSUPP_KERNEL 524	/* the kernel-internal ENOTSUPP some bpf() paths return */

static const char usage_text[] =
	"usage: ksight doctor [--json] [options]\n"
	"\n"
	"Checks whether this machine can record: kernel and its configuration, BTF,\n"
	"capabilities, sysctls, tracefs, and, by really loading a tiny program or map of\n"
	"each kind ksight may use, which BPF features work. Exits 0 when recording can\n"
	"work, 1 when it cannot.\n"
	"\n"
	"options:\n"
	"      --json                one JSON document: {\"checks\": [...], \"can_record\": ...}\n"
	"      --btf-cache-dir DIR   where cached BTF files are (default " BTF_DEFAULT_CACHE_DIR ")\n"
	"      --btfhub-mirror URL   where BTF archives are downloaded from\n"
	"      --disable-btfhub-download  as for record: say the download is off\n"
	"      --download-btf        when no BTF is found, download it into the cache now\n"
	"                            (doctor otherwise never touches the network)\n"
	"      --debug               explain each step\n"
	"  -h, --help                this text\n"
	"\n"
	"examples:\n"
	"  sudo ksight doctor\n"
	"  ksight doctor --json | jq '.checks[] | select(.ok | not)'\n"
	"  sudo ksight doctor --download-btf --btf-cache-dir /opt/ksight/btf   # prime a cache\n";

static const char caps_hint[] =
	"run as root (sudo) or grant the capabilities: sudo setcap cap_bpf,cap_perfmon=ep ksight";

struct check {
	char name[64];
	bool ok;
	char detail[640];
	char hint[384];
};

struct doctor {
	struct check checks[MAX_CHECKS];
	int n;
	struct btf *vmlinux;	/* the running kernel's BTF, for attach_btf_id */
	int vmlinux_err;
	bool cap_bpf, cap_perfmon, cap_sys_admin, cap_syslog;
	bool btf, tp_btf, raw_tp, ringbuf, task_storage, hash;
	char btf_desc[PATH_MAX + 32];
};

static void __attribute__((format(printf, 3, 4))) say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Adds a check; its detail is the printf-style rest. Returns it so callers can
 * fill the hint. */
static struct check * __attribute__((format(printf, 4, 5)))
add(struct doctor *d, const char *name, bool ok, const char *fmt, ...)
{
	static struct check overflow;
	struct check *c = d->n < MAX_CHECKS ? &d->checks[d->n++] : &overflow;
	va_list ap;

	memset(c, 0, sizeof(*c));
	say(c->name, sizeof(c->name), "%s", name);
	c->ok = ok;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	ks_debug("doctor: %s %s: %s", ok ? "ok" : "FAIL", c->name, c->detail);
	return c;
}

static const char *errstr(int err)
{
	if (err < 0)
		err = -err;
	if (err == ENOTSUPP_KERNEL)
		return "ENOTSUPP: the kernel does not support it";
	return strerror(err);
}

/* --- kernel, configuration ------------------------------------------------- */

static void check_kernel(struct doctor *d)
{
	int major = 0, minor = 0;
	struct utsname u;
	struct check *c;
	bool ok;

	uname(&u);
	sscanf(u.release, "%d.%d", &major, &minor);
	ok = major > 5 || (major == 5 && minor >= 8);
	c = add(d, "kernel", ok, "Linux %s on %s", u.release, u.machine);
	if (!ok)
		say(c->hint, sizeof(c->hint), "ksight needs Linux 5.8 or later (BPF ring buffer, "
		    "CAP_BPF); upgrade the kernel");
}

struct config_opt {
	const char *name;
	const char *hint;	/* when it is not set */
};

static const struct config_opt config_opts[] = {
	{ "CONFIG_BPF", "required: BPF is compiled out; use a kernel built with it" },
	{ "CONFIG_BPF_SYSCALL", "required: no bpf(2) syscall; use a kernel built with it" },
	{ "CONFIG_BPF_JIT", "optional: programs run interpreted, so recording costs more" },
	{ "CONFIG_DEBUG_INFO_BTF", "no system BTF: tp_btf cannot attach and CO-RE needs a "
	  "cached or downloaded BTF (see the btf check)" },
	{ "CONFIG_KPROBES", "optional: ksight uses tracepoints, not kprobes" },
	{ "CONFIG_FTRACE_SYSCALLS", "optional: no syscalls/sys_enter_* tracepoints; ksight "
	  "uses raw_syscalls and BTF tracepoints" },
	{ "CONFIG_BPF_EVENTS", "required: BPF cannot attach to tracepoints or perf events; "
	  "use a kernel built with it" },
};

/* /boot/config-$(uname -r), else /proc/config.gz (gzread reads both). */
static void check_config(struct doctor *d)
{
	const size_t nopts = sizeof(config_opts) / sizeof(config_opts[0]);
	char values[sizeof(config_opts) / sizeof(config_opts[0])][32];
	char path[PATH_MAX], line[512];
	struct utsname u;
	int lines = 0;
	gzFile f;

	memset(values, 0, sizeof(values));
	uname(&u);
	say(path, sizeof(path), "/boot/config-%s", u.release);
	f = gzopen(path, "rb");
	if (!f) {
		say(path, sizeof(path), "/proc/config.gz");
		f = gzopen(path, "rb");
	}
	if (!f)
		goto none;
	while (gzgets(f, line, sizeof(line))) {
		line[strcspn(line, "\n")] = '\0';
		lines += !!strstr(line, "CONFIG_");
		for (size_t i = 0; i < nopts; i++) {
			size_t n = strlen(config_opts[i].name);

			if (!strncmp(line, config_opts[i].name, n) && line[n] == '=')
				say(values[i], sizeof(values[i]), "%s", line + n + 1);
			else if (!strncmp(line, "# ", 2) && !strncmp(line + 2, config_opts[i].name, n) &&
				 !strcmp(line + 2 + n, " is not set"))
				say(values[i], sizeof(values[i]), "n");
		}
	}
	gzclose(f);
	if (!lines)
		goto none;
	add(d, "config", true, "read from %s", path);
	for (size_t i = 0; i < nopts; i++) {
		bool set = !strcmp(values[i], "y") || !strcmp(values[i], "m");
		char name[64];
		struct check *c;

		say(name, sizeof(name), "config.%s", config_opts[i].name);
		if (set)
			c = add(d, name, true, "%s=%s", config_opts[i].name, values[i]);
		else if (values[i][0])
			c = add(d, name, false, "%s is not set", config_opts[i].name);
		else
			c = add(d, name, false, "%s is absent from the configuration",
				config_opts[i].name);
		if (!set)
			say(c->hint, sizeof(c->hint), "%s", config_opts[i].hint);
	}
	return;
none:
	{
		struct check *c = add(d, "config", true, "no readable /boot/config-%s nor "
				      "/proc/config.gz: the kernel configuration is unknown", u.release);

		say(c->hint, sizeof(c->hint), "not needed: the load checks below are what counts "
		    "(modprobe configs provides /proc/config.gz on some kernels)");
	}
}

/* --- BTF --------------------------------------------------------------------- */

static void check_btf(struct doctor *d, const struct btf_opts *bo)
{
	struct btf_choice ch;
	char why[4096], *fix;
	struct check *c;
	int err;

	err = btf_discover(bo, &ch, why, sizeof(why));
	d->btf = !err;
	if (!err) {
		say(d->btf_desc, sizeof(d->btf_desc), "%s (%s)", ch.source, ch.path);
		add(d, "btf", true, "%s BTF at %s", ch.source, ch.path);
		return;
	}
	/* why ends with "; fix: ...": that part is the hint */
	fix = strstr(why, "; fix: ");
	if (fix)
		*fix = '\0';
	c = add(d, "btf", false, "%s", why);
	say(c->hint, sizeof(c->hint), "%s", fix ? fix + strlen("; fix: ") : "");
}

/* --- privileges ------------------------------------------------------------ */

static void check_caps(struct doctor *d)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	struct check *c;
	bool ok;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &h, data)) {
		c = add(d, "capabilities", false, "capget: %s", strerror(errno));
		say(c->hint, sizeof(c->hint), "%s", caps_hint);
		return;
	}
#define HAS(cap) (!!(data[(cap) / 32].effective & (1u << ((cap) % 32))))
	d->cap_bpf = HAS(CAP_BPF);
	d->cap_perfmon = HAS(CAP_PERFMON);
	d->cap_sys_admin = HAS(CAP_SYS_ADMIN);
	d->cap_syslog = HAS(CAP_SYSLOG);
#undef HAS
	ok = d->cap_sys_admin || (d->cap_bpf && d->cap_perfmon);
	c = add(d, "capabilities", ok, "effective: CAP_BPF %s, CAP_PERFMON %s, CAP_SYS_ADMIN %s (uid %u)",
		d->cap_bpf ? "yes" : "no", d->cap_perfmon ? "yes" : "no",
		d->cap_sys_admin ? "yes" : "no", (unsigned)geteuid());
	if (!ok)
		say(c->hint, sizeof(c->hint), "tracing programs need CAP_BPF and CAP_PERFMON (or "
		    "CAP_SYS_ADMIN): %s", caps_hint);
}

static int read_sysctl(const char *name, long *v)
{
	char path[128], buf[64];
	ssize_t n;
	int fd;

	say(path, sizeof(path), "/proc/sys/kernel/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = '\0';
	*v = strtol(buf, NULL, 10);
	return 0;
}

static void check_sysctls(struct doctor *d)
{
	bool bpf_cap = d->cap_bpf || d->cap_sys_admin;
	bool perf_cap = d->cap_perfmon || d->cap_sys_admin;
	struct check *c;
	long v;
	int err;

	err = read_sysctl("unprivileged_bpf_disabled", &v);
	if (err) {
		add(d, "sysctl.kernel.unprivileged_bpf_disabled", false, "cannot read: %s", errstr(err));
	} else {
		c = add(d, "sysctl.kernel.unprivileged_bpf_disabled", v == 0 || bpf_cap, "%ld (%s)%s", v,
			v == 0 ? "bpf(2) open to all users" :
			v == 1 ? "bpf(2) needs CAP_BPF, until reboot" : "bpf(2) needs CAP_BPF",
			v != 0 && bpf_cap ? "; irrelevant with CAP_BPF" : "");
		if (!c->ok)
			say(c->hint, sizeof(c->hint), "tracing programs need CAP_BPF and CAP_PERFMON "
			    "whatever this value, so setting it to 0 does not help: %s", caps_hint);
	}

	err = read_sysctl("perf_event_paranoid", &v);
	if (err) {
		add(d, "sysctl.kernel.perf_event_paranoid", false, "cannot read: %s", errstr(err));
	} else {
		c = add(d, "sysctl.kernel.perf_event_paranoid", v <= 0 || perf_cap, "%ld%s", v,
			v > 0 && perf_cap ? " (irrelevant with CAP_PERFMON)" :
			v > 0 ? " (system-wide perf events need CAP_PERFMON)" : "");
		if (!c->ok)
			say(c->hint, sizeof(c->hint), "give ksight CAP_PERFMON (see capabilities), or "
			    "sysctl kernel.perf_event_paranoid=0 for CPU sampling");
	}

	err = read_sysctl("kptr_restrict", &v);
	if (err) {
		add(d, "sysctl.kernel.kptr_restrict", false, "cannot read: %s", errstr(err));
	} else {
		bool visible = v == 0 || (v == 1 && d->cap_syslog);

		c = add(d, "sysctl.kernel.kptr_restrict", visible, "%ld (kernel addresses %s)", v,
			visible ? "visible" : "hidden from ksight");
		if (!c->ok)
			say(c->hint, sizeof(c->hint), "harmless for ksight's own probes (they use no "
			    "kernel addresses); only a --ebpf-program with __ksym externs needs "
			    "sysctl kernel.kptr_restrict=0");
	}
}

/* --- tracefs ----------------------------------------------------------------- */

static const char *tracefs_root(void)
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

static void check_tracefs(struct doctor *d)
{
	const char *root = tracefs_root();
	char events[PATH_MAX];
	struct check *c;

	if (root) {
		say(events, sizeof(events), "%s/events", root);
		c = add(d, "tracefs", access(events, R_OK | X_OK) == 0, "mounted at %s%s", root,
			access(events, R_OK | X_OK) ? ", but its events/ cannot be read" : "");
		if (!c->ok)
			say(c->hint, sizeof(c->hint), "run as root, or make it readable to ksight's "
			    "group (chgrp -R tracing %s; chmod -R g+rX %s); tp_btf and raw_tp do not "
			    "need it", root, root);
		return;
	}
	if (kernel_has_fs("tracefs")) {
		c = add(d, "tracefs", false, "not mounted at /sys/kernel/tracing; %s (the kernel "
			"has tracefs)", d->cap_sys_admin ? "it can be mounted" : "root can mount it");
	} else {
		c = add(d, "tracefs", false, "not mounted, and the kernel has no tracefs");
	}
	say(c->hint, sizeof(c->hint), "only the tracepoint probe needs it (tp_btf and raw_tp do "
	    "not)%s", kernel_has_fs("tracefs") ? ": mount -t tracefs nodev /sys/kernel/tracing" : "");
}

/* --- BPF programs and maps, really loaded ------------------------------------ */

static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },	/* r0 = 0 */
	{ .code = BPF_JMP | BPF_EXIT },							/* exit */
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
	fd = bpf_prog_load(type, "ks_doctor", "GPL", ret0, 2, &o);
	if (fd >= 0)
		return fd;
	err = fd;
	/* again, only for the verifier's words (empty when refused before it runs) */
	o.log_buf = log;
	o.log_size = sizeof(log);
	o.log_level = 1;
	fd = bpf_prog_load(type, "ks_doctor", "GPL", ret0, 2, &o);
	if (fd >= 0)
		close(fd);
	n = strlen(log);
	while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
		log[--n] = '\0';
	last = strrchr(log, '\n');
	last = last ? last + 1 : log;
	say(why, len, "load refused: %s%s%s%s", errstr(err), *last ? " (verifier: " : "", last,
	    *last ? ")" : "");
	return err;
}

static int perf_open(struct perf_event_attr *a, pid_t pid, int cpu)
{
	int fd = syscall(SYS_perf_event_open, a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* EPERM means missing capabilities only when some are missing; with all of
 * them it is the kernel's policy (lockdown, an LSM) or its build refusing. */
static void hint_for(const struct doctor *d, struct check *c, int err, const char *other)
{
	bool all_caps = (d->cap_bpf || d->cap_sys_admin) && (d->cap_perfmon || d->cap_sys_admin);

	if ((err == -EPERM || err == -EACCES) && !all_caps)
		say(c->hint, sizeof(c->hint), "%s", caps_hint);
	else if (err == -EPERM || err == -EACCES)
		say(c->hint, sizeof(c->hint), "refused although ksight has the capabilities BPF "
		    "needs: this kernel's policy or build forbids it%s%s",
		    other ? "; " : "", other ? other : "");
	else if (other)
		say(c->hint, sizeof(c->hint), "%s", other);
}

static int kernel_btf_id(struct doctor *d, const char *name, int kind, char *why, size_t len)
{
	int id;

	if (!d->vmlinux) {
		say(why, len, "no kernel BTF to name the attach point (%s)", errstr(d->vmlinux_err));
		return d->vmlinux_err;
	}
	id = btf__find_by_name_kind(d->vmlinux, name, kind);
	if (id < 0) {
		say(why, len, "%s is not in the kernel's BTF", name);
		return -ENOENT;
	}
	return id;
}

static void check_tp_btf(struct doctor *d)
{
	const char *hint = "use raw_tp (ksight falls back to it) or a kernel with "
			   "CONFIG_DEBUG_INFO_BTF=y";
	char why[512];
	struct check *c;
	int id, prog, link;

	id = kernel_btf_id(d, "btf_trace_sys_enter", BTF_KIND_TYPEDEF, why, sizeof(why));
	if (id < 0) {
		c = add(d, "prog.tp_btf", false, "%s", why);
		hint_for(d, c, id, hint);
		return;
	}
	prog = load_tiny(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, id, why, sizeof(why));
	if (prog < 0) {
		c = add(d, "prog.tp_btf", false, "%s", why);
		hint_for(d, c, prog, hint);
		return;
	}
	link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0) {
		c = add(d, "prog.tp_btf", false, "loads, but attaching to sys_enter fails: %s",
			errstr(link));
		hint_for(d, c, link, hint);
	} else {
		d->tp_btf = true;
		add(d, "prog.tp_btf", true, "BTF tracepoint loads and attaches to sys_enter");
		close(link);
	}
	close(prog);
}

static void check_raw_tp(struct doctor *d)
{
	char why[512];
	struct check *c;
	int prog, link;

	prog = load_tiny(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0, why, sizeof(why));
	if (prog < 0) {
		c = add(d, "prog.raw_tp", false, "%s", why);
		hint_for(d, c, prog, "use a kernel with CONFIG_BPF_EVENTS=y");
		return;
	}
	link = bpf_raw_tracepoint_open("sys_enter", prog);
	if (link < 0) {
		c = add(d, "prog.raw_tp", false, "loads, but attaching to sys_enter fails: %s",
			errstr(link));
		hint_for(d, c, link, NULL);
	} else {
		d->raw_tp = true;
		add(d, "prog.raw_tp", true, "raw tracepoint loads and attaches to sys_enter");
		close(link);
	}
	close(prog);
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

/* Attaches prog to a perf event opened from attr on CPU 0, system-wide (as the
 * recorder does). Returns 0 or a negative errno with the step in why. */
static int attach_perf(struct perf_event_attr *a, int prog, char *why, size_t len)
{
	int pfd, err = 0;

	pfd = perf_open(a, -1, 0);
	if (pfd < 0) {
		say(why, len, "perf_event_open: %s", errstr(pfd));
		return pfd;
	}
	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog)) {
		err = -errno;
		say(why, len, "loads, but attaching to the perf event fails: %s", errstr(err));
	}
	close(pfd);
	return err;
}

static void check_tracepoint(struct doctor *d)
{
	static const char *const events[] = { "raw_syscalls/sys_enter", "syscalls/sys_enter_openat" };
	const char *root = tracefs_root(), *event = NULL;
	struct perf_event_attr a;
	char why[512] = "";
	struct check *c;
	int id = -ENOENT, prog, err;

	if (!root) {
		c = add(d, "prog.tracepoint", false, "tracefs is not mounted: no tracepoint ids");
		say(c->hint, sizeof(c->hint), "mount -t tracefs nodev /sys/kernel/tracing; ksight "
		    "does not need it when tp_btf or raw_tp work");
		return;
	}
	/* the second is tried only when the first does not exist */
	for (size_t i = 0; i < 2 && id == -ENOENT; i++) {
		event = events[i];
		id = read_tracepoint_id(root, event, why, sizeof(why));
	}
	if (id < 0) {
		c = add(d, "prog.tracepoint", false, "%s", why);
		say(c->hint, sizeof(c->hint), "%s; tp_btf and raw_tp do not need it",
		    id == -EACCES || id == -EPERM ? "tracefs is not readable by ksight (see tracefs)" :
		    "no syscall tracepoint in tracefs");
		return;
	}
	prog = load_tiny(BPF_PROG_TYPE_TRACEPOINT, 0, 0, why, sizeof(why));
	if (prog < 0) {
		c = add(d, "prog.tracepoint", false, "%s", why);
		hint_for(d, c, prog, "use a kernel with CONFIG_BPF_EVENTS=y");
		return;
	}
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = id;
	a.sample_period = 1;
	a.wakeup_events = 1;
	err = attach_perf(&a, prog, why, sizeof(why));
	if (err) {
		c = add(d, "prog.tracepoint", false, "%s: %s", event, why);
		hint_for(d, c, err, NULL);
	} else {
		add(d, "prog.tracepoint", true, "tracepoint program loads and attaches to %s", event);
	}
	close(prog);
}

static void check_kprobe(struct doctor *d)
{
	static const char type_path[] = "/sys/bus/event_source/devices/kprobe/type";
	const char *hint = "ksight does not need kprobes (it uses tracepoints); a kernel built "
			   "with CONFIG_KPROBES=y would provide them";
	struct perf_event_attr a;
	char why[512], buf[32];
	struct check *c;
	int prog, fd, type, err;
	ssize_t n;

	prog = load_tiny(BPF_PROG_TYPE_KPROBE, 0, 0, why, sizeof(why));
	if (prog < 0) {
		c = add(d, "prog.kprobe", false, "%s", why);
		hint_for(d, c, prog, hint);
		return;
	}
	fd = open(type_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		c = add(d, "prog.kprobe", false, "program loads, but cannot attach: no kprobe PMU "
			"(%s: %s)", type_path, strerror(-err));
		hint_for(d, c, err, hint);
		close(prog);
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	type = atoi(buf);
	memset(&a, 0, sizeof(a));
	a.type = type;
	a.size = sizeof(a);
	a.config1 = (__u64)(unsigned long)"do_sys_openat2";	/* kprobe_func */
	a.sample_period = 1;
	err = attach_perf(&a, prog, why, sizeof(why));
	if (err) {
		c = add(d, "prog.kprobe", false, "kprobe on do_sys_openat2: %s", why);
		hint_for(d, c, err, hint);
	} else {
		add(d, "prog.kprobe", true, "kprobe program loads and attaches to do_sys_openat2");
	}
	close(prog);
}

static void check_fentry(struct doctor *d)
{
	static const char *const funcs[] = { "do_sys_openat2", "do_sys_open", "vfs_read" };
	const char *hint = "ksight does not need fentry/fexit (it uses tracepoints)";
	const char *func = NULL;
	char why[512];
	struct check *c;
	int id = -ENOENT, prog, link;

	for (size_t i = 0; i < 3 && id < 0; i++) {
		func = funcs[i];
		id = kernel_btf_id(d, func, BTF_KIND_FUNC, why, sizeof(why));
	}
	if (id < 0) {
		c = add(d, "prog.fentry", false, "%s", why);
		hint_for(d, c, id, hint);
		return;
	}
	prog = load_tiny(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, id, why, sizeof(why));
	if (prog < 0) {
		c = add(d, "prog.fentry", false, "fentry on %s: %s", func, why);
		hint_for(d, c, prog, hint);
		return;
	}
	link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0) {
		c = add(d, "prog.fentry", false, "fentry on %s loads, but attaching fails: %s", func,
			errstr(link));
		hint_for(d, c, link, hint);
	} else {
		add(d, "prog.fentry", true, "fentry program loads and attaches to %s", func);
		close(link);
	}
	close(prog);
}

static void check_perf_event(struct doctor *d)
{
	struct perf_event_attr a;
	char why[512];
	struct check *c;
	int prog, err;

	prog = load_tiny(BPF_PROG_TYPE_PERF_EVENT, 0, 0, why, sizeof(why));
	if (prog < 0) {
		c = add(d, "prog.perf_event", false, "%s", why);
		hint_for(d, c, prog, NULL);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_SOFTWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.freq = 1;
	a.sample_freq = 49;
	a.disabled = 1;
	err = attach_perf(&a, prog, why, sizeof(why));
	if (err) {
		c = add(d, "prog.perf_event", false, "software cpu-clock: %s", why);
		hint_for(d, c, err, NULL);
	} else {
		add(d, "prog.perf_event", true, "perf-event program attaches to the software cpu-clock "
		    "(CPU sampling)");
	}
	close(prog);
}

static void check_ringbuf(struct doctor *d)
{
	long page = sysconf(_SC_PAGESIZE);
	struct check *c;
	void *m;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "ks_doctor_rb", 0, 0, (__u32)page * 16, NULL);
	if (fd < 0) {
		c = add(d, "map.ringbuf", false, "create refused: %s", errstr(fd));
		hint_for(d, c, fd, "ksight needs the BPF ring buffer (Linux 5.8+)");
		return;
	}
	/* the consumer maps the ring: check that too */
	m = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		int err = -errno;

		c = add(d, "map.ringbuf", false, "created, but cannot be mapped: %s", errstr(err));
		hint_for(d, c, err, NULL);
	} else {
		d->ringbuf = true;
		add(d, "map.ringbuf", true, "ring buffer creates and maps");
		munmap(m, page);
	}
	close(fd);
}

/* Task storage needs BTF for its key and value: a two-int BTF made here. */
static void check_task_storage(struct doctor *d)
{
	struct btf *btf = btf__new_empty();
	struct check *c;
	int key, val, err, fd;

	if (!btf) {
		add(d, "map.task_storage", false, "cannot build BTF: %s", strerror(errno));
		return;
	}
	key = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	val = btf__add_int(btf, "long long", 8, BTF_INT_SIGNED);
	err = key < 0 ? key : val < 0 ? val : btf__load_into_kernel(btf);
	if (err) {
		c = add(d, "map.task_storage", false, "loading its BTF is refused: %s", errstr(err));
		hint_for(d, c, err, NULL);
		goto out;
	}
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC, .btf_fd = btf__fd(btf),
		    .btf_key_type_id = key, .btf_value_type_id = val);
	fd = bpf_map_create(BPF_MAP_TYPE_TASK_STORAGE, "ks_doctor_ts", 4, 8, 0, &o);
	if (fd < 0) {
		c = add(d, "map.task_storage", false, "create refused: %s", errstr(fd));
		hint_for(d, c, fd, "ksight falls back to a hash map keyed by thread id (Linux < 5.11)");
	} else {
		d->task_storage = true;
		add(d, "map.task_storage", true, "task storage map creates");
		close(fd);
	}
out:
	btf__free(btf);
}

static void check_hash(struct doctor *d)
{
	struct check *c;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ks_doctor_h", 4, 8, 64, NULL);

	if (fd < 0) {
		c = add(d, "map.hash", false, "create refused: %s", errstr(fd));
		hint_for(d, c, fd, NULL);
		return;
	}
	d->hash = true;
	add(d, "map.hash", true, "hash map creates (per-thread state fallback)");
	close(fd);
}

static void check_pmu(struct doctor *d)
{
	struct perf_event_attr a;
	struct check *c;
	int fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_CPU_CYCLES;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	fd = perf_open(&a, 0, -1);
	if (fd >= 0) {
		add(d, "pmu", true, "hardware cycles counter opens");
		close(fd);
		return;
	}
	c = add(d, "pmu", false, "no hardware cycles counter: %s%s", errstr(fd),
		fd == -ENOENT || fd == -EOPNOTSUPP ? " (no hardware PMU, as on most VMs)" : "");
	if (fd == -EPERM || fd == -EACCES)
		say(c->hint, sizeof(c->hint), "%s", caps_hint);
	else
		say(c->hint, sizeof(c->hint), "optional: CPU profiling samples the software "
		    "cpu-clock instead");
}

/* CPU sampling works with either clock: hardware cycles (a PMU) or, as on most
 * VMs, the software cpu-clock, as long as a perf-event program attaches. */
static void check_sampling(struct doctor *d)
{
	const struct check *prog = NULL, *pmu = NULL;
	struct check *c;

	for (int i = 0; i < d->n; i++) {
		if (!strcmp(d->checks[i].name, "prog.perf_event"))
			prog = &d->checks[i];
		else if (!strcmp(d->checks[i].name, "pmu"))
			pmu = &d->checks[i];
	}
	if (prog && prog->ok) {
		add(d, "sampling", true, "CPU stacks sampled on %s", pmu && pmu->ok ?
		    "the hardware cycles counter (PMU)" : "the software cpu-clock (no PMU)");
		return;
	}
	c = add(d, "sampling", false, "no CPU sampling: %s", prog ? prog->detail :
		"perf-event programs were not checked");
	say(c->hint, sizeof(c->hint), "optional: 'ksight record' goes on without on-CPU "
	    "stacks (--no-profile silences this)");
}

/* --- verdict and output ------------------------------------------------------ */

static bool verdict(const struct doctor *d, char *buf, size_t len)
{
	char missing[512] = "";
	size_t n = 0;

#define MISSING(cond, what) \
	if (!(cond)) \
		n += snprintf(missing + n, n < sizeof(missing) ? sizeof(missing) - n : 0, \
			      "%s%s", n ? "; " : "", what)
	MISSING(d->tp_btf || d->raw_tp, "no syscall probe loads (tp_btf and raw_tp both fail)");
	MISSING(d->ringbuf, "no BPF ring buffer");
	MISSING(d->task_storage || d->hash, "no task storage nor hash map");
	MISSING(d->btf, "no BTF for this kernel");
#undef MISSING
	if (n) {
		say(buf, len, "ksight cannot record here: %s (see the FAIL lines above)", missing);
		return false;
	}
	say(buf, len, "ksight can record here: syscalls via %s, events via the ring buffer, "
	    "per-thread state in %s, BTF from %s", d->tp_btf ? "tp_btf" : "raw_tp",
	    d->task_storage ? "task storage" : "a hash map", d->btf_desc);
	return true;
}

static void ascii_only(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			*s = '?';
}

static int print_json(const struct doctor *d, bool can, const char *v)
{
	json_t *root = json_object(), *arr = json_array(), *vs;
	int err = 0;

	if (!root || !arr) {
		json_decref(root);
		json_decref(arr);
		return -ENOMEM;
	}
	for (int i = 0; i < d->n; i++) {
		struct check c = d->checks[i];
		json_t *o = json_pack("{s:s, s:b, s:s, s:s}", "name", c.name, "ok", c.ok,
				      "detail", c.detail, "hint", c.hint);

		if (!o) { /* jansson takes only UTF-8: a path in another encoding */
			ascii_only(c.detail);
			ascii_only(c.hint);
			o = json_pack("{s:s, s:b, s:s, s:s}", "name", c.name, "ok", c.ok,
				      "detail", c.detail, "hint", c.hint);
		}
		if (json_array_append_new(arr, o))
			err = -ENOMEM;
	}
	json_object_set_new(root, "checks", arr);
	json_object_set_new(root, "can_record", json_boolean(can));
	vs = json_string(v);
	if (!vs) {
		char copy[1024];

		say(copy, sizeof(copy), "%s", v);
		ascii_only(copy);
		vs = json_string(copy);
	}
	json_object_set_new(root, "verdict", vs);
	if (!err && (json_dumpf(root, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF))
		err = -EIO;
	json_decref(root);
	return err;
}

static void print_text(const struct doctor *d, const char *v)
{
	for (int i = 0; i < d->n; i++) {
		const struct check *c = &d->checks[i];

		printf("%-4s %s: %s%s%s\n", c->ok ? "ok" : "FAIL", c->name, c->detail,
		       c->hint[0] ? " — " : "", c->hint);
	}
	printf("verdict: %s\n", v);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!ks_debug_enabled || level == LIBBPF_DEBUG)
		return 0;
	fputs("ksight: debug: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "btf-cache-dir", required_argument, NULL, 'c' },
		{ "btfhub-mirror", required_argument, NULL, 'm' },
		{ "disable-btfhub-download", no_argument, NULL, 'n' },
		{ "download-btf", no_argument, NULL, 'D' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct btf_opts bo = { .no_network = true };
	struct doctor *d;
	bool json = false, can;
	char v[1024];
	int c, err;

	optind = 1;
	opterr = 0;	/* one error line, ours */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'c':
			bo.cache_dir = optarg;
			break;
		case 'm':
			bo.mirror = optarg;
			break;
		case 'n':
			bo.disable_download = true;
			break;
		case 'D':
			bo.no_network = false;
			break;
		case 'd':
			ks_debug_enabled = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return KS_EXIT_OK;
		default:
			ks_error("doctor: unknown option or missing value '%s'; 'ksight doctor --help' "
				 "lists them", argv[optind - 1]);
			return KS_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		ks_error("doctor takes no arguments ('%s'); 'ksight doctor --help' lists its options",
			 argv[optind]);
		return KS_EXIT_USAGE;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ks_error("doctor: out of memory");
		return KS_EXIT_FAIL;
	}
	libbpf_set_print(libbpf_quiet);
	d->vmlinux = btf__load_vmlinux_btf();
	d->vmlinux_err = d->vmlinux ? 0 : errno ? -errno : -ENOENT;

	check_kernel(d);
	check_config(d);
	check_btf(d, &bo);
	check_caps(d);
	check_sysctls(d);
	check_tracefs(d);
	check_tp_btf(d);
	check_raw_tp(d);
	check_tracepoint(d);
	check_kprobe(d);
	check_fentry(d);
	check_perf_event(d);
	check_ringbuf(d);
	check_task_storage(d);
	check_hash(d);
	check_pmu(d);
	check_sampling(d);

	can = verdict(d, v, sizeof(v));
	err = 0;
	if (json)
		err = print_json(d, can, v);
	else
		print_text(d, v);
	if (fflush(stdout) || err) {
		ks_error("doctor: cannot write the report: %s", strerror(err ? -err : errno));
		can = false;
	}
	btf__free(d->vmlinux);
	free(d);
	return can ? KS_EXIT_OK : KS_EXIT_FAIL;
}
