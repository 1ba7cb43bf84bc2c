/* ksight record: run a command under the probes and write its trace (the options
 * are parsed in cli/record_opts.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "format/kserr.h"
#include "record/btf.h"
#include "record/child.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "cli/record_scope.h"
#include "record/consumer.h"
#include "record/io.h"
#include "record/loader.h"
#include "record/features.h"
#include "record/privs.h"
#include "record/probes.h"
#include "record/sysargs.h"
#include "record/retain.h"
#include "cli/record_opts.h"
#include "record/sampler.h"
#include "record/statedir.h"
#include "record/targets.h"
#include "cli/record_profile.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/units.h"
#include "store/store.h"

#define DRAIN_INTERVAL_MS 20
#define FLUSH_INTERVAL_NS (400ull * 1000 * 1000) /* with the 200 ms commit: under 1 s at risk */

/* --debug: how long each step of the start and the end took, from the command's
 * entry (bench/startup.sh reads these lines). */
static uint64_t phase_t0, phase_last;

static void phase(const char *what)
{
	uint64_t now;

	if (!ks_debug_enabled)
		return;
	now = ks_mono_ns();
	ks_debug("phase %-14s +%7.2f ms  at %7.2f ms", what, (now - phase_last) / 1e6,
		 (now - phase_t0) / 1e6);
	phase_last = now;
}


struct recorder {
	struct record_opts opts;
	struct progress progress; /* the live line on a terminal (cli/progress.c) */
	struct child child;
	struct ks_store *store;
	struct probes *probes;
	struct probes_mode mode;
	struct io_probes *io;
	struct consumer *consumer;
	struct sampler *sampler;
	struct targets targets;
	struct statedir *statedir;
	struct retain *retain;
	struct profile *profile;
	struct profile_kallsyms *kallsyms; /* read from the start, for the profile */
	int sigfd;
	uid_t run_uid;
	gid_t run_gid;
	uint64_t start_ns, end_ns;
	uint64_t cpu_ns, maxrss_kb; /* the recorder's own (threads included) */
};

static int64_t mono_to_realtime_ns(void)
{
	uint64_t m = ks_mono_ns();

	return (int64_t)(ks_real_ns() - m);
}

/* Time spent suspended so far: CLOCK_BOOTTIME - CLOCK_MONOTONIC. */
static int64_t mono_to_boottime_ns(void)
{
	struct timespec b, m;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_BOOTTIME, &b);
	return (int64_t)(b.tv_sec - m.tv_sec) * 1000000000 + (b.tv_nsec - m.tv_nsec);
}

static int put_meta_u64(struct ks_store *st, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return ks_store_put_meta(st, key, buf);
}

static int put_meta_s64(struct ks_store *st, const char *key, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return ks_store_put_meta(st, key, buf);
}

/* KSIGHT_WRITE_WAIT_BYTES: how much waits in memory while the disk is full (tests
 * use a small value to see events dropped). */
static size_t wait_bytes(void)
{
	const char *s = getenv("KSIGHT_WRITE_WAIT_BYTES");
	uint64_t v;

	return s && !ks_parse_u64(s, &v) && v <= SIZE_MAX ? (size_t)v : 0;
}

/* One line for a store error; a full disk names the filesystem and its free space. */
static void store_error(const char *what, const char *path, int err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct statvfs vfs;

	if (err != -ENOSPC && err != -EDQUOT) {
		ks_error("%s %s: %s", what, path, ks_strerror(err));
		return;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
	if (statvfs(dir, &vfs))
		vfs.f_bavail = 0, vfs.f_frsize = 0;
	ks_error("%s %s: %s: the filesystem holding %s is full (%llu bytes free); free "
		 "space there or choose another -o", what, path, ks_strerror(err), dir,
		 (unsigned long long)vfs.f_bavail * vfs.f_frsize);
}

static int write_start_meta(struct recorder *r)
{
	struct ks_store *st = r->store;
	json_t *cmd = json_array();
	struct utsname u;
	char *s = NULL;
	int err;

	if (r->opts.attach_list) {
		json_array_append_new(cmd, json_string("-p"));
		json_array_append_new(cmd, json_string(r->opts.attach_list));
	} else if (r->opts.all) {
		json_array_append_new(cmd, json_string("-a"));
	}
	for (int i = 0; i < r->opts.scope.ncgroups; i++) {
		json_array_append_new(cmd, json_string("--cgroup"));
		json_array_append_new(cmd, json_string(r->opts.scope.cgroup_dirs[i]));
	}
	for (char **a = r->opts.argv; *a; a++)
		json_array_append_new(cmd, json_string(*a));
	s = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	if (!s)
		return -ENOMEM;
	uname(&u);
	err = ks_store_put_meta(st, "ksight_version", KSIGHT_VERSION);
	err = err ?: ks_store_put_meta(st, "hostname", u.nodename);
	err = err ?: ks_store_put_meta(st, "kernel_release", u.release);
	err = err ?: ks_store_put_meta(st, "arch", u.machine);
	err = err ?: ks_store_put_meta(st, "command", s);
	err = err ?: ks_store_put_meta(st, "clock", "monotonic");
	err = err ?: put_meta_s64(st, "mono_to_realtime_ns", mono_to_realtime_ns());
	err = err ?: put_meta_s64(st, "mono_to_boottime_ns", mono_to_boottime_ns());
	err = err ?: put_meta_u64(st, "ring_bytes", r->opts.ring_bytes);
	err = err ?: ks_store_put_meta(st, "state", "recording");
	err = err ?: ks_store_commit(st);
	free(s);
	return err;
}

/* Events that reached the recorder but not the trace (commits failed). */
static uint64_t lost_unwritten(const struct consumer_stats *cs)
{
	uint64_t n = cs->lost_puts;

	for (unsigned k = 0; k < KS_KIND_MAX; k++)
		n += cs->lost_write[k];
	return n;
}

/* lost_unwritten_KIND for each kind that lost events on their way to the disk. */
static int put_unwritten(struct ks_store *st, const struct consumer_stats *cs)
{
	char key[64];
	int err = 0;

	for (unsigned k = 1; k < KS_KIND_MAX && !err; k++) {
		const struct ks_schema *s = ks_schema_get(k);

		if (!cs->lost_write[k])
			continue;
		if (s)
			snprintf(key, sizeof(key), "lost_unwritten_%s", s->name);
		else
			snprintf(key, sizeof(key), "lost_unwritten_kind%u", k);
		err = put_meta_u64(st, key, cs->lost_write[k]);
	}
	if (!err && cs->lost_puts)
		err = put_meta_u64(st, "lost_unwritten_changes", cs->lost_puts);
	return err;
}

static int write_end_meta(struct recorder *r, int exit_code, const uint64_t *drops,
			  const struct consumer_stats *cs)
{
	struct ks_store *st = r->store;
	uint64_t lost = lost_unwritten(cs);
	int err;

	for (int k = 0; k < KS_DROP_MAX; k++)
		lost += drops[k];
	err = put_meta_u64(st, "start_ns", r->start_ns);
	err = err ?: put_meta_u64(st, "end_ns", r->end_ns);
	err = err ?: put_meta_s64(st, "exit_code", exit_code);
	err = err ?: put_meta_u64(st, "events_syscall", cs->events[KS_KIND_SYSCALL]);
	err = err ?: put_meta_u64(st, "events_proc", cs->events[KS_KIND_PROC]);
	err = err ?: put_meta_u64(st, "lost_syscall", drops[KS_DROP_SYSCALL]);
	err = err ?: put_meta_u64(st, "lost_proc", drops[KS_DROP_PROC]);
	err = err ?: put_meta_u64(st, "lost_sched", drops[KS_DROP_SCHED]);
	err = err ?: put_meta_u64(st, "lost_sample", drops[KS_DROP_SAMPLE]);
	err = err ?: put_meta_u64(st, "lost_transport", drops[KS_DROP_TRANSPORT]);
	err = err ?: put_meta_u64(st, "lost_io", drops[KS_DROP_IO]);
	err = err ?: put_meta_u64(st, "events_block", cs->events[KS_KIND_BLOCK]);
	err = err ?: put_meta_u64(st, "events_net", cs->events[KS_KIND_NET]);
	err = err ?: put_meta_u64(st, "lost_args", drops[KS_DROP_ARGS]);
	err = err ?: put_meta_u64(st, "lost_file", drops[KS_DROP_FILE]);
	err = err ?: put_unwritten(st, cs);
	err = err ?: put_meta_u64(st, "events_sched", cs->events[KS_KIND_SCHED]);
	err = err ?: put_meta_u64(st, "lost_total", lost);
	err = err ?: put_meta_u64(st, "recorder_cpu_ns", r->cpu_ns);
	err = err ?: put_meta_u64(st, "recorder_maxrss_kb", r->maxrss_kb);
	err = err ?: ks_store_put_meta(st, "state", "complete");
	err = err ?: ks_store_commit(st);
	return err;
}

static void measure_self(struct recorder *r)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return;
	r->cpu_ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
	r->maxrss_kb = ru.ru_maxrss;
}

static int setup_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void pick_user(struct recorder *r)
{
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");

	r->run_uid = (uid_t)-1;
	r->run_gid = (gid_t)-1;
	if (getuid() != 0 || !u || !g)
		return;
	r->run_uid = strtoul(u, NULL, 10);
	r->run_gid = strtoul(g, NULL, 10);
}

/* SIGUSR1: a copy of the trace as committed, closed with the losses so far. */
static void live_snapshot(struct recorder *r)
{
	uint64_t drops[KS_DROP_MAX] = { 0 };
	int err;

	if (r->probes)
		probes_read_drops(r->probes, drops);
	err = retain_snapshot(r->retain, r->consumer, r->statedir, drops, r->start_ns);
	if (err)
		ks_error("cannot take a snapshot of %s: %s", r->opts.output, strerror(-err));
}

static uint64_t lost_total(const uint64_t *drops)
{
	uint64_t n = 0;

	for (int k = 0; k < KS_DROP_MAX; k++)
		n += drops[k];
	return n;
}

/* Polls until the command exits (or, with -p, every target has; with -a or
 * --duration, until SIGINT/SIGTERM or the time is up): drains the ring on a timer
 * (wake-ups are batched), forwards signals to a command, and flushes partial
 * batches so they commit. */
static int recorder_run(struct recorder *r)
{
	bool cmd = !r->opts.attach_list && !r->opts.all && !r->opts.scope.ncgroups;
	struct pollfd pfd[4] = {
		{ .fd = r->sigfd, .events = POLLIN },
		{ .fd = consumer_epoll_fd(r->consumer), .events = POLLIN },
		{ .fd = cmd ? r->child.pidfd : -1, .events = POLLIN },
		{ .fd = statedir_poll_fd(r->statedir), .events = POLLIN },
	};
	uint64_t last_flush = ks_mono_ns();
	int n;

	for (;;) {
		n = poll(pfd, 4, DRAIN_INTERVAL_MS);
		if (n < 0 && errno != EINTR)
			return -errno;
		n = consumer_drain(r->consumer);
		if (n < 0)
			return n;
		progress_count(&r->progress, n);
		if (progress_due(&r->progress, ks_mono_ns())) {
			uint64_t d[KS_DROP_MAX] = { 0 };

			if (r->probes)
				probes_read_drops(r->probes, d);
			progress_draw(&r->progress, ks_mono_ns(), lost_total(d));
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(r->sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGUSR1) {
					live_snapshot(r);
					continue;
				}
				if (!cmd)
					return 0; /* attached: a signal ends the recording */
				kill(r->child.pid, si.ssi_signo);
			}
		}
		if (r->sampler) {
			n = sampler_tick(r->sampler, ks_mono_ns(), r->consumer);
			if (n < 0)
				return n;
		}
		if (r->statedir && (n = statedir_tick(r->statedir, ks_mono_ns())) < 0)
			return n;
		if (r->retain && (n = retain_tick(r->retain, r->consumer, r->statedir,
						  &(struct retain_targets){
							.child = r->child.pid, .pids = r->targets.pids,
							.npids = r->targets.n, .all = r->opts.all,
							.fds = r->probes && !r->opts.no_args },
						  ks_mono_ns())) < 0)
			return n;
		if (ks_mono_ns() - last_flush >= FLUSH_INTERVAL_NS) {
			consumer_flush(r->consumer);
			last_flush = ks_mono_ns();
		}
		if (cmd && (pfd[2].revents & (POLLIN | POLLHUP)))
			return 0;
		if (r->opts.attach_list && targets_all_exited(&r->targets))
			return 0;
		if (r->opts.duration_ns && ks_mono_ns() - r->start_ns >= r->opts.duration_ns)
			return 0;
	}
}

/* Follows processes (not threads) as they appear, exec and end, for the
 * sampler and the profile. */
static void follow_proc(void *ctx, const struct ks_proc *p)
{
	struct recorder *r = ctx;
	struct sampler *s = r->sampler;

	profile_proc(r->profile, p);
	if (!s || p->pid != p->tid)
		return;
	if (p->what == KS_PROC_FORK || p->what == KS_PROC_JOIN)
		sampler_track(s, p->pid);
	else if (p->what == KS_PROC_EXIT)
		sampler_untrack(s, p->pid);
}

static void print_summary(struct recorder *r, const struct consumer_stats *cs,
			  const uint64_t *drops)
{
	struct stat sb;

	if (cs->write_err && lost_unwritten(cs))
		ks_error("%s: %" PRIu64 " events could not be written (%s%s) and are counted "
			 "lost: the trace is INCOMPLETE", r->opts.output, lost_unwritten(cs),
			 ks_strerror(cs->write_err),
			 cs->write_err == -ENOSPC ? " on the filesystem holding it" : "");
	else if (cs->write_err)
		ks_error("%s: writes failed for a while (%s); every event waited in memory "
			 "and was written later", r->opts.output, ks_strerror(cs->write_err));
	if (r->opts.quiet)
		return;
	if (stat(r->opts.output, &sb))
		sb.st_size = 0;
	fprintf(stderr, "ksight: %" PRIu64 " syscalls, %" PRIu64 " process events, %" PRIu64
		" lost, %.3f s -> %s (%lld bytes); recorder cpu %.1f ms, rss %" PRIu64 " KiB\n",
		cs->events[KS_KIND_SYSCALL], cs->events[KS_KIND_PROC],
		lost_total(drops) + lost_unwritten(cs),
		(r->end_ns - r->start_ns) / 1e9, r->opts.output, (long long)sb.st_size,
		r->cpu_ns / 1e6, r->maxrss_kb);
}

/* The block I/O and network probes load in a thread of their own while the
 * rest starts (the families are independent once the syscall family has made
 * the shared maps); the command starts only once they are attached. */
struct io_loading {
	pthread_t thread;
	bool running;
	struct probes *probes;
	struct io_probes_opts o;
	struct io_probes *io;
	char *devs; /* the block devices, JSON */
	int err;
};

static void *io_load(void *arg)
{
	struct io_loading *l = arg;

	l->err = io_probes_start(l->probes, &l->o, &l->io);
	if (!l->err && l->o.block && io_block_devices_json(&l->devs))
		l->devs = NULL;
	return NULL;
}

/* Starts loading the I/O probes (in a thread when one can be made). */
static void recorder_io_begin(struct recorder *r, struct io_loading *l)
{
	l->o = (struct io_probes_opts){ .block = !r->opts.no_block, .net = !r->opts.no_net };
	l->probes = r->probes;
	if (!l->o.block && !l->o.net)
		return;
	l->running = !pthread_create(&l->thread, NULL, io_load, l);
	if (!l->running)
		io_load(l);
}

/* Waits for the I/O probes, where the kernel has them (what it lacks goes into
 * the trace's "io_missing"), notes them and the names of the block devices in
 * the trace and routes their records. Returns 0 or -1 (said). */
static int recorder_io_end(struct recorder *r, struct io_loading *l)
{
	const char *missing;
	int err;

	if (l->running)
		pthread_join(l->thread, NULL);
	l->running = false;
	r->io = l->io;
	l->io = NULL;
	err = l->err;
	if (!err && !r->io)
		return 0; /* neither asked for */
	if (!err && l->devs)
		err = consumer_put(r->consumer, KS_DB_META, "block_devices", 13, l->devs,
				   strlen(l->devs));
	err = err ?: consumer_put(r->consumer, KS_DB_META, "io_probes", 9,
				  io_probes_describe(r->io), strlen(io_probes_describe(r->io)));
	missing = err ? "" : io_probes_missing(r->io);
	if (missing[0])
		err = consumer_put(r->consumer, KS_DB_META, "io_missing", 10, missing,
				   strlen(missing));
	free(l->devs);
	l->devs = NULL;
	if (err) {
		ks_error("cannot load the I/O probes: %s", ks_strerror(err));
		return -1;
	}
	if ((err = io_probes_attach(r->io, r->consumer))) {
		ks_error("cannot follow the I/O probes: %s", strerror(-err));
		return -1;
	}
	return 0;
}

/* The I/O loading abandoned (a failure elsewhere): waited for and freed. */
static void recorder_io_abort(struct io_loading *l)
{
	if (l->running)
		pthread_join(l->thread, NULL);
	l->running = false;
	io_probes_free(l->io);
	free(l->devs);
	l->io = NULL;
	l->devs = NULL;
}

/* The fds the traced processes hold before the recording starts, so that
 * replay can name the files behind them. */
static void snapshot_fds(struct recorder *r)
{
	uint64_t now = ks_mono_ns();
	int n;

	if (!r->probes || r->opts.no_args)
		return;
	if (r->child.pid > 0 && (n = sysargs_snapshot_fds(r->consumer, r->child.pid, now)) < 0)
		ks_debug("cannot read the fds of %d: %s", (int)r->child.pid, strerror(-n));
	for (size_t i = 0; i < r->targets.n; i++)
		if ((n = sysargs_snapshot_fds(r->consumer, r->targets.pids[i], now)) < 0)
			ks_debug("cannot read the fds of %d: %s", (int)r->targets.pids[i],
				 strerror(-n));
}

/* Finds BTF, loads and attaches the probes, seeds the traced set and notes what
 * was chosen in the trace. Returns 0; 1 when the probes cannot be loaded for lack
 * of privilege (the recording goes on without them, said on stderr); or -1 after
 * printing why recording cannot go on. */
static int recorder_attach(struct recorder *r, struct io_loading *iol)
{
	struct probes_opts po = {
		.ring_bytes = r->opts.ring_bytes, .sched = r->opts.sched,
		.trace_all = r->opts.all, .no_args = r->opts.no_args,
		.custom_obj = r->opts.ebpf_program, .attach = r->opts.attach,
		.set = r->opts.set, .transport = r->opts.transport,
	};
	const char *hot = getenv("KSIGHT_HOTPATH"); /* measuring: nobatch, nocache */
	char line[PATH_MAX + 512];
	struct btf_choice btf;
	const char *why = "";
	int err;

	err = btf_discover(&r->opts.btf, &btf, line, sizeof(line));
	if (err) {
		ks_error("%s", line);
		return -1;
	}
	ks_debug("BTF: %s (%s)", btf.path, btf.source);
	phase("btf");
	if (scope_open(&r->opts.scope, &po))
		return -1;
	po.btf_path = strcmp(btf.source, "system") ? btf.path : NULL;
	po.no_batch = hot && strstr(hot, "nobatch");
	po.no_cache = hot && strstr(hot, "nocache");
	err = probes_open(&po, &r->probes, &why);
	if (err == -EPERM || err == -EACCES) {
		ks_error("cannot load the BPF probes (%s): recording no syscall, process or "
			 "scheduler events, only /proc samples of the command; to record them run "
			 "as root or 'setcap cap_bpf,cap_perfmon+ep ksight'", strerror(-err));
		err = ks_store_put_meta(r->store, "probes", "none: no privilege to load BPF");
		err = err ?: ks_store_commit(r->store);
		return err ? -1 : 1;
	}
	if (err == -ENOENT && r->opts.ebpf_program) {
		ks_error("cannot %s", why);
		return -1;
	}
	if (err == -EOPNOTSUPP) {
		ks_error("cannot record here: %s ('ksight doctor' shows every check)", why);
		return -1;
	}
	if (err) {
		ks_error("cannot %s: %s (--debug says more)", why, strerror(-err));
		return -1;
	}
	probes_get_mode(r->probes, &r->mode);
	phase("syscalls+sched");
	recorder_io_begin(r, iol);
	snprintf(line, sizeof(line), "%s %s", btf.source, btf.path);
	err = ks_store_put_meta(r->store, "probes", probes_describe(r->probes));
	err = err ?: ks_store_put_meta(r->store, "btf_source", line);
	if (r->opts.ebpf_program)
		err = err ?: ks_store_put_meta(r->store, "ebpf_program", r->opts.ebpf_program);
	err = err ?: ks_store_put_meta(r->store, "probe_kind", probe_attach_name(r->mode.attach));
	err = err ?: ks_store_put_meta(r->store, "traced_set", probe_set_name(r->mode.set));
	err = err ?: ks_store_put_meta(r->store, "transport",
				       probe_transport_name(r->mode.transport));
	err = err ?: ks_store_put_meta(r->store, "page_faults", r->mode.page_faults ? "recorded" :
				       !r->opts.sched ? "not recorded (--no-sched)" :
				       "not recorded on this kernel (no exceptions:page_fault_user "
				       "tracepoint)");
	err = err ?: ks_store_commit(r->store);
	if (err) {
		ks_error("cannot write %s: %s", r->opts.output, ks_strerror(err));
		return -1;
	}
	if (r->opts.attach_list) {
		err = targets_seed(&r->targets, r->probes);
		if (err < 0) {
			ks_error("cannot trace process %s: %s", r->opts.attach_list, strerror(-err));
			return -1;
		}
		ks_debug("tracing %d threads of %s", err, r->opts.attach_list);
		return 0;
	}
	if (r->opts.all || r->opts.scope.ncgroups)
		return 0;
	if ((err = child_wait_parked(&r->child)))
		ks_debug("the command's process is not waiting to start (%s): its set-up "
			 "after fork may be recorded", strerror(-err));
	err = probes_trace_task(r->probes, r->child.pid, r->child.pid, r->child.pidfd);
	if (err) {
		ks_error("cannot trace the command: %s", strerror(-err));
		return -1;
	}
	return 0;
}

/* --state-dir: the baseline (while the command waits to start) and the capture,
 * by the probes when they are loaded, else inotify. Returns 0 or -1 (said). */
static int recorder_statedirs(struct recorder *r, bool probes)
{
	struct statedir_opts so = {
		.dirs = r->opts.state_dirs, .ndirs = r->opts.nstate,
		.fallback = r->opts.fallback_fsnotify, .ring_bytes = r->opts.ring_bytes,
	};
	char msg[PATH_MAX + 256];
	int err;

	err = statedir_start(&so, r->store, probes ? r->probes : NULL, &r->statedir, msg,
			     sizeof(msg));
	if (err)
		ks_error("%s", msg);
	return err ? -1 : 0;
}

/* With the command gone: the ring drained, the state dirs verified whole. */
static void recorder_statedirs_finish(struct recorder *r)
{
	struct statedir_stats st;
	int err;

	while (consumer_drain(r->consumer) > 0)
		;
	err = statedir_finish(r->statedir);
	if (err)
		ks_error("the state dirs could not be verified in full: %s", ks_strerror(err));
	statedir_get_stats(r->statedir, &st);
	if (!r->opts.quiet)
		fprintf(stderr, "ksight: state dirs (%s): %llu changes, %llu bytes written, "
			"%llu bytes stored (%.2f per byte written), %llu corrections\n",
			st.fsnotify ? "inotify" : "bpf", (unsigned long long)st.deltas,
			(unsigned long long)st.syscall_bytes, (unsigned long long)st.stored_bytes,
			st.syscall_bytes ? (double)st.stored_bytes / st.syscall_bytes : 0.0,
			(unsigned long long)st.corrections);
}

int cmd_record(int argc, char **argv)
{
	struct recorder r = { .sigfd = -1, .child = { .pidfd = -1, .go_fd = -1, .err_fd = -1 } };
	struct consumer_stats cs = { 0 };
	struct io_loading iol = { 0 };
	uint64_t drops[KS_DROP_MAX] = { 0 };
	bool child_started = false, released = false;
	int exit_code = KS_EXIT_FAIL, wstatus, err, lock_fd = -1;
	char exe[PATH_MAX];

	phase_t0 = phase_last = ks_mono_ns();
	if (record_parse_args(argc, argv, &r.opts))
		return KS_EXIT_USAGE;
	if (!r.opts.attach_list && !r.opts.all && !r.opts.scope.ncgroups &&
	    (err = child_resolve(r.opts.argv[0], exe, sizeof(exe)))) {
		/* as a shell says it, with a shell's exit status */
		ks_error(err == -ENOENT ? "%s: command not found" :
			 err == -EACCES ? "%s: permission denied (not an executable file)" :
					  "%s: cannot run it", r.opts.argv[0]);
		return err == -ENOENT ? 127 : 126;
	}
	pick_user(&r);
	if (make_room(r.opts.output))
		return KS_EXIT_FAIL;
	r.sigfd = setup_signals();
	if (r.sigfd < 0) {
		ks_error("cannot set up signal handling: %s", strerror(-r.sigfd));
		return KS_EXIT_FAIL;
	}
	loader_prefetch_kernel_btf(); /* both read meanwhile, on another CPU */
	if (r.opts.freq || r.opts.offcpu)
		r.kallsyms = profile_kallsyms_start();
	err = ks_store_open(r.opts.output, KS_STORE_CREATE, &r.store);
	if (err) {
		store_error("cannot create", r.opts.output, err);
		goto out;
	}
	lock_fd = lock_trace(r.opts.output);
	if (lock_fd < 0) {
		ks_error("cannot lock %s: another ksight is recording it; choose another -o",
			 r.opts.output);
		ks_store_close(r.store);
		r.store = NULL;
		goto out;
	}
	if (r.run_uid != (uid_t)-1 && chown(r.opts.output, r.run_uid, r.run_gid))
		ks_debug("cannot give %s to uid %u: %s", r.opts.output, r.run_uid, strerror(errno));
	err = write_start_meta(&r);
	err = err ?: retain_new(&(struct retain_opts){ .max_size = r.opts.max_size,
			.keep_ns = r.opts.keep_ns, .path = r.opts.output }, r.store, ks_mono_ns(),
			&r.retain);
	if (err) {
		store_error("cannot write", r.opts.output, err);
		goto out;
	}
	phase("store");
	if (r.opts.attach_list) {
		const char *bad;

		err = targets_open(r.opts.attach_list, &r.targets, &bad);
		if (err) {
			ks_error(err == -EINVAL ? "-p: '%s' is not a process id" :
				 "-p: cannot attach to process %s: %s", bad, strerror(-err));
			goto out;
		}
	} else if (!r.opts.all && !r.opts.scope.ncgroups) {
		err = child_start(&r.child, exe, r.opts.argv, r.run_uid, r.run_gid);
		if (err) {
			ks_error("cannot start %s: %s", r.opts.argv[0], strerror(-err));
			goto out;
		}
		child_started = true;
	}
	phase("child-fork");
	err = recorder_attach(&r, &iol);
	if (err < 0)
		goto out;
	if (err) { /* no probes, no profile */
		profile_kallsyms_free(r.kallsyms);
		r.kallsyms = NULL;
	}
	phase("probe-meta");
	if (r.opts.nstate && recorder_statedirs(&r, err == 0))
		goto out;
	if (err == 0)
		err = consumer_start(&(struct consumer_opts){
			.fd = probes_event_fd(r.probes),
			.perfbuf = r.mode.transport == TRANSPORT_PERFBUF,
			.perf_bytes = r.opts.ring_bytes, .wait_bytes = wait_bytes() }, r.store, &r.consumer);
	else
		err = consumer_start(&(struct consumer_opts){ .fd = -1, .wait_bytes = wait_bytes() }, r.store, &r.consumer);
	if (err) {
		ks_error("cannot start the event consumer: %s", strerror(-err));
		goto out;
	}
	phase("consumer");
	if (r.statedir && (err = statedir_attach(r.statedir, r.consumer))) {
		ks_error("cannot follow the state dirs: %s", strerror(-err));
		goto out;
	}
	snapshot_fds(&r);
	phase("fds");
	if (r.opts.sample_ns) {
		err = sampler_new(r.opts.sample_ns, &r.sampler);
		if (err) {
			ks_error("cannot start the /proc sampler: %s", strerror(-err));
			goto out;
		}
		if (child_started)
			sampler_track(r.sampler, r.child.pid);
		for (size_t i = 0; i < r.targets.n; i++)
			sampler_track(r.sampler, r.targets.pids[i]);
		if (r.probes) {
			r.opts.scope.next = follow_proc;
			r.opts.scope.next_ctx = &r;
		} else {
			sampler_discover_children(r.sampler, true);
		}
	}
	if (r.probes && (r.opts.freq || r.opts.offcpu)) {
		phase("sampler");
		r.profile = record_profile_start(r.opts.freq, r.opts.offcpu, r.kallsyms, r.probes,
						 r.consumer);
		r.kallsyms = NULL;
		r.opts.scope.next = follow_proc;
		r.opts.scope.next_ctx = &r;
	}
	phase("profile");
	if (recorder_io_end(&r, &iol))
		goto out;
	phase("io-wait");
	if (scope_start(&r.opts.scope, r.consumer, r.targets.pids, r.targets.n, r.opts.all,
			r.probes != NULL))
		goto out;
	if (r.probes && (err = privs_drop_after_attach()))
		ks_debug("cannot drop capabilities: %s", strerror(-err));
	phase("scope");
	r.start_ns = ks_mono_ns();
	released = true;
	err = child_started ? child_release(&r.child) : 0;
	if (err) {
		ks_error("cannot run %s: %s", r.opts.argv[0], strerror(-err));
	} else {
		progress_init(&r.progress, r.opts.quiet, r.opts.output, r.start_ns);
		err = recorder_run(&r);
		progress_end(&r.progress);
		if (err)
			ks_error("recording stopped early: %s", strerror(-err));
	}
	r.end_ns = ks_mono_ns();
	phase("command");
	if (r.probes && (err = probes_flush_batches(r.probes)))
		ks_debug("cannot visit every CPU to flush its batch: %s", strerror(-err));
	phase("flush");
	scope_finish(&r.opts.scope);
	if (r.statedir)
		recorder_statedirs_finish(&r);
	phase("scope-end");
	record_profile_finish(r.profile, r.consumer, r.opts.archive_symbols);
	phase("symbols");
	err = consumer_finish(r.consumer, &cs);
	r.consumer = NULL;
	phase("consumer-end");
	ks_debug("per-CPU batches: %llu full, %llu at a switch, %llu at a tick; largest %llu "
		 "bytes; longest wait of a record before it was read %.1f ms",
		 (unsigned long long)cs.batches[KS_BATCH_FULL],
		 (unsigned long long)cs.batches[KS_BATCH_SWITCH],
		 (unsigned long long)cs.batches[KS_BATCH_TICK],
		 (unsigned long long)cs.batch_max_bytes, cs.batch_max_age_ns / 1e6);
	exit_code = child_started ? child_wait(&r.child, &wstatus) : 0;
	child_started = false;
	if (err)
		ks_error("events could not be written to %s: %s", r.opts.output, ks_strerror(err));
	if (r.probes)
		probes_read_drops(r.probes, drops);
	drops[KS_DROP_TRANSPORT] = cs.perf_lost;
	if (r.statedir) {
		/* changes the state-dir capture could not follow are file losses too */
		struct statedir_stats sst;

		statedir_get_stats(r.statedir, &sst);
		drops[KS_DROP_FILE] += sst.lost;
	}
	measure_self(&r);
	err = scope_write_meta(&r.opts.scope, r.store);
	err = err ?: write_end_meta(&r, exit_code, drops, &cs);
	if (err) {
		store_error("cannot finish", r.opts.output, err);
		ks_store_discard(r.store, NULL, NULL); /* the trace ends at its last commit */
	}
	/* a short recording's free pages are a few percent of its file; the copy
	 * that drops them costs a second write, so not for the largest traces */
	phase("end-meta");
	err = ks_store_close_compact(r.store, 2, 1ull << 30);
	r.store = NULL;
	phase("close");
	if (err)
		ks_error("cannot close %s: %s", r.opts.output, ks_strerror(err));
	print_summary(&r, &cs, drops);
out:
	if (!released && r.store) {
		/* nothing was recorded: leave no trace file that looks like one */
		ks_store_close(r.store);
		r.store = NULL;
		unlink(r.opts.output);
	}
	if (r.consumer)
		consumer_finish(r.consumer, NULL);
	if (child_started)
		child_abort(&r.child);
	recorder_io_abort(&iol);
	io_probes_free(r.io);
	scope_free(&r.opts.scope);
	profile_free(r.profile);
	profile_kallsyms_free(r.kallsyms);
	probes_close(r.probes);
	sampler_free(r.sampler);
	statedir_free(r.statedir);
	retain_free(r.retain);
	free(r.opts.state_dirs);
	targets_close(&r.targets);
	if (r.store)
		ks_store_close(r.store);
	if (r.sigfd >= 0)
		close(r.sigfd);
	if (lock_fd >= 0)
		close(lock_fd);
	phase("cleanup");
	return exit_code;
}
