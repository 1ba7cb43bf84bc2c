/* `ksight doctor`: can this machine record, and if not, why? The host's kernel,
 * configuration, privileges and sysctls, then what record/features.c found (each
 * BPF feature really tried) and record's own plan from it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include <linux/capability.h>
#include <zlib.h>

#include "record/btf.h"
#include "record/features.h"
#include "cli/cli.h"

#define MAX_CHECKS 40

static const char usage_text[] =
	"usage: ksight doctor [--json] [options]\n"
	"\n"
	"Checks whether this machine can record: kernel and its configuration, BTF,\n"
	"capabilities, sysctls, tracefs, and, by really loading a tiny program or map of\n"
	"each kind ksight may use, which BPF features work; then prints the plan record\n"
	"would follow (probe kind, traced set, transport, page faults). Exits 0 when\n"
	"recording can work, 1 when it cannot.\n"
	"\n"
	"options:\n"
	"      --json                one JSON document: {\"checks\": [...], \"can_record\": ...,\n"
	"                            \"plan\": {...} or null, \"verdict\": ...}\n"
	"      --btf-cache-dir DIR   where cached BTF files are (default " BTF_DEFAULT_CACHE_DIR ")\n"
	"      --btfhub-mirror URL   where BTF archives are downloaded from\n"
	"      --disable-btfhub-download  as for record: say the download is off\n"
	"      --download-btf        when no BTF is found, download it into the cache now\n"
	"                            (doctor otherwise never touches the network)\n"
	"      --probe-kind K, --traced-set S, --transport T, --no-sched\n"
	"                            plan as record would with these options\n"
	"      --debug               explain each step\n"
	"  -h, --help                this text\n"
	"\n"
	"environment:\n"
	"  KSIGHT_FEATURES_MASK=F[,F]  act as if the kernel lacked these features (the\n"
	"                            names of --json's plan fields, e.g. tp_btf,ringbuf;\n"
	"                            or all); record honours it the same way\n"
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
	bool cap_bpf, cap_perfmon, cap_sys_admin, cap_syslog;
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
		add(d, "sysctl.kernel.unprivileged_bpf_disabled", false, "cannot read: %s",
		    features_strerror(err));
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
		add(d, "sysctl.kernel.perf_event_paranoid", false, "cannot read: %s",
		    features_strerror(err));
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
		add(d, "sysctl.kernel.kptr_restrict", false, "cannot read: %s",
		    features_strerror(err));
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

/* --- what record may use: record/features.c ---------------------------------------- */

/* In the order doctor prints them. */
static const enum feature shown[] = {
	FEAT_TRACEFS, FEAT_TP_BTF, FEAT_RAW_TP, FEAT_TRACEPOINT, FEAT_KPROBE, FEAT_FENTRY,
	FEAT_PERF_EVENT, FEAT_RINGBUF, FEAT_PERFBUF, FEAT_TASK_STORAGE, FEAT_HASH,
	FEAT_PAGE_FAULT, FEAT_HW_CYCLES, FEAT_CGROUP2,
};

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
		    *other ? "; " : "", other);
	else
		say(c->hint, sizeof(c->hint), "%s", *other ? other : "see the detail");
}

static void check_feature(struct doctor *d, struct features *ft, enum feature f)
{
	const struct feature_result *r = features_get(ft, f);
	struct check *c = add(d, feature_check_name(f), r->ok, "%s", r->detail);

	if (!r->ok)
		hint_for(d, c, r->masked ? 0 : r->err, r->hint);
}

/* CPU sampling works with either clock: hardware cycles (a PMU) or, as on most
 * VMs, the software cpu-clock, as long as a perf-event program attaches. */
static void check_sampling(struct doctor *d, struct features *ft)
{
	const struct feature_result *prog = features_get(ft, FEAT_PERF_EVENT);
	struct check *c;

	if (prog->ok) {
		add(d, "sampling", true, "CPU stacks sampled on %s",
		    features_have(ft, FEAT_HW_CYCLES) ? "the hardware cycles counter (PMU)" :
		    "the software cpu-clock (no PMU)");
		return;
	}
	c = add(d, "sampling", false, "no CPU sampling: %s", prog->detail);
	say(c->hint, sizeof(c->hint), "optional: 'ksight record' goes on without on-CPU "
	    "stacks (--no-profile silences this)");
}

/* --- verdict and output ------------------------------------------------------ */

/* The plan is record's own (features_plan): can_record is true exactly when
 * record would load its probes. */
static bool verdict(struct doctor *d, struct features *ft, const struct probe_request *rq,
		    struct probes_mode *m, char *buf, size_t len)
{
	char why[512];
	struct check *c;
	int err;

	err = features_plan(ft, rq, m, why, sizeof(why));
	if (err == -EPERM) {
		c = add(d, "plan", false, "%s: record would run the command with /proc samples "
			"only", why);
		say(c->hint, sizeof(c->hint), "%s", caps_hint);
		say(buf, len, "ksight cannot record BPF events here: %s (record would keep only "
		    "/proc samples; see the FAIL lines above)", why);
		return false;
	}
	if (err) {
		c = add(d, "plan", false, "%s", why);
		say(c->hint, sizeof(c->hint), "see the FAIL lines above");
		say(buf, len, "ksight cannot record here: %s (see the FAIL lines above)", why);
		return false;
	}
	add(d, "plan", true, "%s probes, %s traced set, %s transport, page faults %s",
	    probe_attach_name(m->attach), probe_set_name(m->set),
	    probe_transport_name(m->transport), m->page_faults ? "recorded" :
	    rq->sched ? "not recorded on this kernel" : "not recorded (--no-sched)");
	say(buf, len, "ksight can record here: syscalls via %s, events via the %s, per-thread "
	    "state in %s, BTF from %s; page faults %s", probe_attach_name(m->attach),
	    m->transport == TRANSPORT_RINGBUF ? "ring buffer" : "perf buffer",
	    m->set == SET_TASK_STORAGE ? "task storage" : "a hash map",
	    features_get(ft, FEAT_BTF)->detail, m->page_faults ? "recorded" :
	    rq->sched ? "not recorded on this kernel" : "not recorded (--no-sched)");
	return true;
}

static void ascii_only(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			*s = '?';
}

static int print_json(const struct doctor *d, bool can, const struct probes_mode *m,
		      const char *v)
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
	json_object_set_new(root, "plan", !can ? json_null() :
			    json_pack("{s:s, s:s, s:s, s:b}", "probe_kind", probe_attach_name(m->attach),
				      "traced_set", probe_set_name(m->set),
				      "transport", probe_transport_name(m->transport),
				      "page_faults", m->page_faults));
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

/* --probe-kind and friends: 1 + the index among the names (0 is "auto"), as record. */
static int pick(const char *arg, const char *flag, const char *(*name)(int), int n, int *out)
{
	for (int i = 1; i < n; i++)
		if (!strcmp(arg, name(i))) {
			*out = i;
			return 0;
		}
	ks_error("doctor: %s '%s' is not one of the choices; 'ksight doctor --help' lists them",
		 flag, arg);
	return -1;
}

static const char *kind_name(int i) { return probe_attach_name(i); }
static const char *set_name(int i) { return probe_set_name(i); }
static const char *transport_name(int i) { return probe_transport_name(i); }

int cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "btf-cache-dir", required_argument, NULL, 'c' },
		{ "btfhub-mirror", required_argument, NULL, 'm' },
		{ "disable-btfhub-download", no_argument, NULL, 'n' },
		{ "download-btf", no_argument, NULL, 'D' },
		{ "probe-kind", required_argument, NULL, 'K' },
		{ "traced-set", required_argument, NULL, 'T' },
		{ "transport", required_argument, NULL, 'P' },
		{ "no-sched", no_argument, NULL, 'S' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct btf_opts bo = { .no_network = true };
	struct probe_request rq = { .sched = true };
	struct probes_mode plan = { 0 };
	struct features ft;
	struct doctor *d;
	bool json = false, can;
	char v[1024];
	int c, err, pick_err = 0;

	optind = 1;
	opterr = 0;	/* one error line, ours */
	while (!pick_err && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
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
		case 'K':
			pick_err = pick(optarg, "--probe-kind", kind_name, 4, (int *)&rq.attach);
			break;
		case 'T':
			pick_err = pick(optarg, "--traced-set", set_name, 3, (int *)&rq.set);
			break;
		case 'P':
			pick_err = pick(optarg, "--transport", transport_name, 3, (int *)&rq.transport);
			break;
		case 'S':
			rq.sched = false;
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
	if (pick_err)
		return KS_EXIT_USAGE;
	if (optind < argc) {
		ks_error("doctor takes no arguments ('%s'); 'ksight doctor --help' lists its options",
			 argv[optind]);
		return KS_EXIT_USAGE;
	}
	err = features_check_request(&rq, v, sizeof(v));
	err = err ?: features_init(&ft, &(struct features_opts){ .btf = &bo }, v, sizeof(v));
	if (err) {
		ks_error("doctor: %s", err == -ENOMEM ? "out of memory" : v);
		return err == -ENOMEM ? KS_EXIT_FAIL : KS_EXIT_USAGE;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ks_error("doctor: out of memory");
		features_free(&ft);
		return KS_EXIT_FAIL;
	}
	libbpf_set_print(libbpf_quiet);

	check_kernel(d);
	check_config(d);
	check_feature(d, &ft, FEAT_BTF);
	check_caps(d);
	check_sysctls(d);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		check_feature(d, &ft, shown[i]);
	check_sampling(d, &ft);

	can = verdict(d, &ft, &rq, &plan, v, sizeof(v));
	err = 0;
	if (json)
		err = print_json(d, can, &plan, v);
	else
		print_text(d, v);
	if (fflush(stdout) || err) {
		ks_error("doctor: cannot write the report: %s", strerror(err ? -err : errno));
		can = false;
	}
	features_free(&ft);
	free(d);
	return can ? KS_EXIT_OK : KS_EXIT_FAIL;
}
