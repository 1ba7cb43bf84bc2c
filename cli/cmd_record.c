/* ksight record: run a command under the probes and write its trace. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
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
#include "util/units.h"
#include "store/store.h"

#define DEFAULT_RING_BYTES (32ull << 20)
#define DRAIN_INTERVAL_MS 20
#define FLUSH_INTERVAL_NS (400ull * 1000 * 1000) /* with the 200 ms commit: under 1 s at risk */
#define DEFAULT_SAMPLE_NS (100ull * 1000 * 1000)

struct record_opts {
	const char *output;
	uint64_t ring_bytes;
	bool quiet;
	bool sched;
	bool no_block, no_net;   /* --no-block, --no-net */
	bool no_args; /* --no-args */
	uint64_t sample_ns; /* 0: no /proc sampling */
	const char *ebpf_program;
	const char *attach_list; /* -p PID[,PID] */
	bool all;                /* -a */
	uint64_t duration_ns;    /* --duration with -p/-a; 0: until they exit or SIGINT */
	enum probe_attach attach;
	enum probe_set set;
	enum probe_transport transport;
	struct btf_opts btf;
	char **state_dirs;       /* --state-dir, repeatable */
	int nstate;
	size_t cap_state;
	bool fallback_fsnotify;  /* inotify when BPF cannot follow the state dirs */
	uint64_t max_size, keep_ns; /* --max-size, --keep: bounded recording */
	unsigned freq;           /* on-CPU samples per second; 0: --no-profile */
	bool offcpu;             /* off-CPU stacks (--no-offcpu) */
	bool archive_symbols;    /* symbols of every frame into the trace */
	char **argv;
	struct record_scope scope; /* --cgroup, --injector-cmd (cli/record_scope.c) */
};

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
	int sigfd;
	uid_t run_uid;
	gid_t run_gid;
	uint64_t start_ns, end_ns;
	uint64_t cpu_ns, maxrss_kb; /* the recorder's own (threads included) */
};

static const char usage_text[] =
	"usage: ksight record [-o FILE] [options] -- CMD [ARG...]\n"
	"       ksight record [-o FILE] [options] -p PID[,PID] | -a | --cgroup DIR\n"
	"                     [--duration DUR]\n"
	"\n"
	"Runs CMD under eBPF probes (or attaches to running processes, or to every\n"
	"process) and writes every syscall with its latency, every fork, exec and exit\n"
	"of the process tree, scheduler events and /proc samples to FILE.\n"
	"\n"
	"options:\n"
	"  -o, --output FILE      trace to write (default trace.lmdb; an existing trace\n"
	"                         is moved to FILE.old)\n"
	"      --buffer-size SIZE ring buffer size, K/M/G suffixes (default 32M)\n"
	"      --no-sched         leave out the scheduler and page-fault probes\n"
	"      --no-block         leave out the block I/O probes\n"
	"      --no-net           leave out the network probes\n"
	"      --no-args          leave out syscall arguments (fds, counts, paths)\n"
	"      --ebpf-program PATH  load this BPF object instead of the embedded syscall\n"
	"                         probes (built from bpf/syscalls.bpf.c)\n"
	"      --probe-kind K     tp_btf, raw_tp or tracepoint (default: the first that\n"
	"                         loads, in that order)\n"
	"      --traced-set S     task_storage (with tp_btf only) or hash (default: task\n"
	"                         storage with tp_btf)\n"
	"      --transport T      ringbuf or perfbuf (default: ringbuf when available)\n"
	"      --sample-interval DUR  /proc sampling period (default 100ms; 0: off)\n"
	"      --btf-cache-dir DIR      where to look for <release>.btf when the kernel\n"
	"                               has no BTF (env KSIGHT_BTF_CACHE_DIR)\n"
	"      --btfhub-mirror URL      where to download it from (env KSIGHT_BTF_MIRROR)\n"
	"      --disable-btfhub-download  never download (env KSIGHT_BTF_ALLOW_DOWNLOAD=0)\n"
	"  -p, --pid PID[,PID]    attach to running processes (and their new children)\n"
	"  -a, --all              record every process until SIGINT or --duration\n"
	"      --cgroup DIR       record every task in cgroup v2 DIR or below it, also\n"
	"                         those that join later (repeatable; filtered in the kernel)\n"
	"      --duration DUR     with -p, -a or --cgroup: stop after DUR (e.g. 10s; a\n"
	"                         bare number is seconds)\n"
	"      --injector-cmd CMD run CMD PID (sh -c) for every exec of the traced set, with\n"
	"                         KSIGHT_PID, KSIGHT_COMM, KSIGHT_EXE, KSIGHT_CGROUP and\n"
	"                         KSIGHT_CONTAINER_ID set; asynchronous, rate-limited\n"
	"      --injector-timeout DUR  kill a hook still running after DUR (default 10s)\n"
	"      --state-dir DIR    capture DIR's files: a baseline now, then every change\n"
	"                         (repeatable); 'ksight restore' rebuilds them\n"
	"      --no-fallback-fsnotify  fail when BPF cannot follow the state dirs instead\n"
	"                         of using inotify (--fallback-fsnotify, the default)\n"
	"      --max-size SIZE    keep the trace under SIZE (K/M/G): the oldest epochs\n"
	"                         (~10 s each) are dropped, counted, not lost\n"
	"      --keep DUR         keep only the last DUR of events and state (10m, 1h)\n"
	"                         SIGUSR1 writes a snapshot FILE-<UTC time>.lmdb\n"
	"      --freq HZ          on-CPU stack samples per second (default 199)\n"
	"      --no-profile       no on-CPU stack samples\n"
	"      --no-offcpu        no off-CPU stacks (where threads blocked, and how long)\n"
	"      --no-archive-symbols  do not store the frames' symbols in the trace (then\n"
	"                         'report' names them from the files where it runs)\n"
	"  -q, --quiet            no progress line (on a terminal) and no summary line\n"
	"      --debug            explain what the loader does\n"
	"  -h, --help             this text\n"
	"\n"
	"environment:\n"
	"  KSIGHT_FEATURES_MASK=F[,F]  act as if the kernel lacked these features (tp_btf,\n"
	"                         ringbuf, task_storage, page_fault, ... or all); 'ksight\n"
	"                         doctor' plans the same way\n"
	"\n"
	"examples:\n"
	"  ksight record -- make -j2\n"
	"  ksight record -o ls.lmdb -- ls -l /\n"
	"  ksight record --state-dir /srv/db -- ./app   # then: ksight restore trace.lmdb --to DIR\n"
	"  sudo ksight record -- ./server   # the command runs as the invoking user\n"
	"\n"
	"The exit status is the command's (128+N when killed by signal N).\n";

static int64_t mono_to_realtime_ns(void)
{
	uint64_t m = ks_mono_ns();

	return (int64_t)(ks_real_ns() - m);
}

/* Parses SIZE[K|M|G] into a power of two of at least one page. */
/* Sets *out to 1 + the index of arg in names (0 is "auto"). */
static int pick(const char *arg, const char *flag, const char **names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(arg, names[i])) {
			*out = i + 1;
			return 0;
		}
	ks_error("%s '%s' is not one of the choices; 'ksight record --help' lists them",
		 flag, arg);
	return -1;
}

/* Probe options no kernel can satisfy, and a KSIGHT_FEATURES_MASK naming no
 * feature, are usage errors: one line each. */
static int check_probe_options(const struct record_opts *o)
{
	const struct probe_request rq = { .attach = o->attach, .set = o->set,
					  .transport = o->transport, .sched = o->sched };
	struct features ft;
	char why[512];
	int err;

	err = features_check_request(&rq, why, sizeof(why));
	err = err ?: features_init(&ft, NULL, why, sizeof(why));
	if (err) {
		ks_error("%s", err == -ENOMEM ? "out of memory" : why);
		return -1;
	}
	features_free(&ft);
	return 0;
}

/* Long-only options of the CPU profile. */
enum { OPT_FREQ = 0x100, OPT_NO_PROFILE, OPT_NO_OFFCPU, OPT_NO_ARCHIVE };

static int parse_args(int argc, char **argv, struct record_opts *o)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "duration", required_argument, NULL, 'u' },
		{ "debug", no_argument, NULL, 'd' },
		{ "no-sched", no_argument, NULL, 'S' },
		{ "no-block", no_argument, NULL, 'B' },
		{ "no-net", no_argument, NULL, 'n' },
		{ "no-args", no_argument, NULL, 'A' },
		{ "sample-interval", required_argument, NULL, 'I' },
		{ "ebpf-program", required_argument, NULL, 'E' },
		{ "probe-kind", required_argument, NULL, 'K' },
		{ "traced-set", required_argument, NULL, 'T' },
		{ "transport", required_argument, NULL, 'P' },
		{ "btf-cache-dir", required_argument, NULL, 'C' },
		{ "btfhub-mirror", required_argument, NULL, 'M' },
		{ "disable-btfhub-download", no_argument, NULL, 'D' },
		{ "state-dir", required_argument, NULL, 'W' },
		{ "fallback-fsnotify", no_argument, NULL, 'F' },
		{ "no-fallback-fsnotify", no_argument, NULL, 'N' },
		{ "max-size", required_argument, NULL, 'Z' },
		{ "keep", required_argument, NULL, 'k' },
		{ "freq", required_argument, NULL, OPT_FREQ },
		{ "no-profile", no_argument, NULL, OPT_NO_PROFILE },
		{ "no-offcpu", no_argument, NULL, OPT_NO_OFFCPU },
		{ "no-archive-symbols", no_argument, NULL, OPT_NO_ARCHIVE },
		{ "help", no_argument, NULL, 'h' },
		SCOPE_LONGOPTS,
		{ 0 }
	};
	int c;

	o->output = "trace.lmdb";
	o->ring_bytes = DEFAULT_RING_BYTES;
	o->sched = true;
	o->sample_ns = DEFAULT_SAMPLE_NS;
	o->fallback_fsnotify = true;
	o->freq = PROFILE_DEFAULT_HZ;
	o->offcpu = true;
	o->archive_symbols = true;
	optind = 1;
	opterr = 0;	/* one error line, ours */
	while ((c = getopt_long(argc, argv, "+:o:qhp:a", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case 'b':
			if (parse_size(optarg, &o->ring_bytes)) {
				ks_error("--buffer-size '%s' is not a size from 1 to 4G (e.g. 64K, 32M)", optarg);
				return -1;
			}
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'Z':
			if (parse_max_size(optarg, &o->max_size)) {
				ks_error("--max-size '%s' is not a size from 1M (e.g. 8M, 2G)", optarg);
				return -1;
			}
			break;
		case 'k':
			if (parse_keep(optarg, &o->keep_ns)) {
				ks_error("--keep '%s' is not a duration (e.g. 30s, 10m, 1h)", optarg);
				return -1;
			}
			break;
		case 'p':
			o->attach_list = optarg;
			break;
		case 'a':
			o->all = true;
			break;
		case 'u':
			if (parse_seconds(optarg, &o->duration_ns)) {
				ks_error("--duration '%s' is not a duration (e.g. 10s, 2.5)", optarg);
				return -1;
			}
			break;
		case 'd':
			ks_debug_enabled = 1;
			break;
		case 'S':
			o->sched = false;
			break;
		case 'B':
			o->no_block = true;
			break;
		case 'n':
			o->no_net = true;
			break;
		case 'A':
			o->no_args = true;
			break;
		case 'I':
			if (strcmp(optarg, "0") && ks_parse_duration(optarg, &o->sample_ns)) {
				ks_error("--sample-interval '%s' is not a duration (e.g. 100ms, 1s)",
					 optarg);
				return -1;
			}
			if (!strcmp(optarg, "0"))
				o->sample_ns = 0;
			break;
		case 'C':
			o->btf.cache_dir = optarg;
			break;
		case 'E':
			o->ebpf_program = optarg;
			break;
		case 'K':
			if (pick(optarg, "--probe-kind", (const char *[]){ "tp_btf", "raw_tp",
				 "tracepoint", NULL }, (int *)&o->attach))
				return -1;
			break;
		case 'T':
			if (pick(optarg, "--traced-set", (const char *[]){ "task_storage", "hash",
				 NULL }, (int *)&o->set))
				return -1;
			break;
		case 'P':
			if (pick(optarg, "--transport", (const char *[]){ "ringbuf", "perfbuf",
				 NULL }, (int *)&o->transport))
				return -1;
			break;
		case 'M':
			o->btf.mirror = optarg;
			break;
		case 'D':
			o->btf.disable_download = true;
			break;
		case 'W': {
			if (KS_GROW(&o->state_dirs, &o->cap_state, (size_t)o->nstate + 1)) {
				ks_error("out of memory");
				return -1;
			}
			o->state_dirs[o->nstate++] = optarg;
			break;
		}
		case 'F':
		case 'N':
			o->fallback_fsnotify = c == 'F';
			break;
		case OPT_FREQ: {
			char *end;
			unsigned long hz = strtoul(optarg, &end, 10);

			if (*end || !hz || hz > 100000) {
				ks_error("--freq '%s' is not a rate in Hz (1..100000)", optarg);
				return -1;
			}
			o->freq = hz;
			break;
		}
		case OPT_NO_PROFILE:
			o->freq = 0;
			break;
		case OPT_NO_OFFCPU:
			o->offcpu = false;
			break;
		case OPT_NO_ARCHIVE:
			o->archive_symbols = false;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(KS_EXIT_OK);
		case SCOPE_OPT_CGROUP:
		case SCOPE_OPT_INJECTOR:
		case SCOPE_OPT_INJECTOR_TIMEOUT:
			if (scope_option(&o->scope, c, optarg))
				return -1;
			break;
		default:
			replay_bad_option("record", c, argv);
			return -1;
		}
	}
	if ((optind < argc) + !!o->attach_list + o->all + !!o->scope.ncgroups != 1) {
		ks_error(optind < argc || o->attach_list || o->all || o->scope.ncgroups ?
			 "give one of a command, -p PID, -a or --cgroup DIR, not several" :
			 "no command to record; usage: ksight record [-o FILE] -- CMD [ARG...]");
		return -1;
	}
	if (o->duration_ns && optind < argc) {
		ks_error("--duration goes with -p, -a or --cgroup; a command is recorded until it "
			 "exits");
		return -1;
	}
	if (check_probe_options(o))
		return -1;
	o->argv = argv + optind;
	return 0;
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

/* The block I/O and network probes, where the kernel has them (what it lacks
 * goes into the trace's "io_missing"), and the names of the block devices.
 * Returns 0 or -1 (said). */
static int recorder_io(struct recorder *r)
{
	struct io_probes_opts io = { .block = !r->opts.no_block, .net = !r->opts.no_net };
	char *devs = NULL;
	int err;

	if (!io.block && !io.net)
		return 0;
	err = io_probes_start(r->probes, &io, &r->io);
	if (!err && io.block && !io_block_devices_json(&devs))
		err = ks_store_put_meta(r->store, "block_devices", devs);
	free(devs);
	err = err ?: ks_store_put_meta(r->store, "io_probes", io_probes_describe(r->io));
	if (!err && io_probes_missing(r->io)[0])
		err = ks_store_put_meta(r->store, "io_missing", io_probes_missing(r->io));
	if (err)
		ks_error("cannot load the I/O probes: %s", ks_strerror(err));
	return err ? -1 : 0;
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
static int recorder_attach(struct recorder *r)
{
	struct probes_opts po = {
		.ring_bytes = r->opts.ring_bytes, .sched = r->opts.sched,
		.trace_all = r->opts.all, .no_args = r->opts.no_args,
		.custom_obj = r->opts.ebpf_program, .attach = r->opts.attach,
		.set = r->opts.set, .transport = r->opts.transport,
	};
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
	if (scope_open(&r->opts.scope, &po))
		return -1;
	po.btf_path = strcmp(btf.source, "system") ? btf.path : NULL;
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
	if (recorder_io(r))
		return -1;
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
	uint64_t drops[KS_DROP_MAX] = { 0 };
	bool child_started = false, released = false;
	int exit_code = KS_EXIT_FAIL, wstatus, err, lock_fd = -1;
	char exe[PATH_MAX];

	if (parse_args(argc, argv, &r.opts))
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
	err = recorder_attach(&r);
	if (err < 0)
		goto out;
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
	if (r.io && (err = io_probes_attach(r.io, r.consumer))) {
		ks_error("cannot follow the I/O probes: %s", strerror(-err));
		goto out;
	}
	if (r.statedir && (err = statedir_attach(r.statedir, r.consumer))) {
		ks_error("cannot follow the state dirs: %s", strerror(-err));
		goto out;
	}
	snapshot_fds(&r);
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
		r.profile = record_profile_start(r.opts.freq, r.opts.offcpu, r.probes, r.consumer);
		r.opts.scope.next = follow_proc;
		r.opts.scope.next_ctx = &r;
	}
	if (scope_start(&r.opts.scope, r.consumer, r.targets.pids, r.targets.n, r.opts.all,
			r.probes != NULL))
		goto out;
	if (r.probes && (err = privs_drop_after_attach()))
		ks_debug("cannot drop capabilities: %s", strerror(-err));
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
	scope_finish(&r.opts.scope);
	if (r.statedir)
		recorder_statedirs_finish(&r);
	record_profile_finish(r.profile, r.consumer, r.opts.archive_symbols);
	err = consumer_finish(r.consumer, &cs);
	r.consumer = NULL;
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
	err = ks_store_close(r.store);
	r.store = NULL;
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
	io_probes_free(r.io);
	scope_free(&r.opts.scope);
	profile_free(r.profile);
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
	return exit_code;
}
