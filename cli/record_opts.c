/* `ksight record`'s options (the usage text, the parser, sizes and durations as
 * the user writes them) and its output file (moved aside, locked while recorded). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/record_opts.h"
#include "record/profile.h"
#include "format/kserr.h"
#include "store/store.h"
#include "util/grow.h"
#include "util/log.h"
#include "util/units.h"

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t p = 4096;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	/* checked before the shift, so no size wraps around to a small one */
	if (*end || !v || *s == '-' || v > (4ull << 30) >> shift)
		return -EINVAL;
	v <<= shift;
	while (p < v)
		p <<= 1;
	*out = p;
	return 0;
}

/* A duration with a unit, or a bare number of seconds ("2.5"); not 0. */
int parse_seconds(const char *arg, uint64_t *ns)
{
	char with_unit[64];

	if (!ks_parse_duration(arg, ns))
		return *ns ? 0 : -EINVAL;
	if (snprintf(with_unit, sizeof(with_unit), "%ss", arg) >= (int)sizeof(with_unit) ||
	    ks_parse_duration(with_unit, ns))
		return -EINVAL;
	return *ns ? 0 : -EINVAL;
}

int parse_keep(const char *s, uint64_t *ns)
{
	size_t n = strlen(s);
	uint64_t mult = 0;
	char buf[64];

	if (n > 1 && s[n - 1] == 'm' && s[n - 2] != 'm' && s[n - 2] != 'u' && s[n - 2] != 'n')
		mult = 60; /* minutes, not ms */
	else if (n > 1 && s[n - 1] == 'h')
		mult = 3600;
	if (!mult)
		return parse_seconds(s, ns);
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n - 1);
	buf[n - 1] = 's';
	buf[n] = 0;
	if (parse_seconds(buf, ns) || *ns > UINT64_MAX / mult)
		return -EINVAL;
	*ns *= mult;
	return 0;
}

int parse_max_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && (end += 1)))
		end++;
	if (*end || v > (1ull << 42) >> shift || (v << shift) < (1ull << 20))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* Whether another recorder holds path (see lock_trace). */
static bool trace_in_use(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool busy;

	if (fd < 0)
		return false;
	busy = flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

/* Holds an exclusive flock on the trace while it is recorded, so that a second
 * `record -o` of the same name refuses instead of moving it away. The kernel drops
 * it when the recorder exits, however it exits. Returns the fd (kept open) or -1. */
int lock_trace(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Checks -o before anything is touched, then moves an existing trace to FILE.old
 * (as perf does); anything that is not a trace is kept, and so is a trace that is
 * being recorded. */
int make_room(const char *path)
{
	const char *base = strrchr(path, '/');
	struct ks_store *st;
	char old[PATH_MAX], lock[PATH_MAX];
	struct stat sb;
	int err;

	base = base ? base + 1 : path;
	if (!*base || strlen(path) + sizeof(".lock") > PATH_MAX ||
	    strlen(base) + sizeof(".lock") > NAME_MAX + 1) {
		if (*base)
			ks_error("-o: the file name is too long for its .old and -lock companions "
				 "(%zu bytes); choose another -o", strlen(path));
		else
			ks_error("-o: '%s' names no file; choose another -o", path);
		return -1;
	}
	snprintf(old, sizeof(old), "%s.old", path);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	if (!lstat(lock, &sb) && !S_ISREG(sb.st_mode)) {
		ks_error("%s (the trace's lock file) exists and is not a regular file; "
			 "remove it or choose another -o", lock);
		return -1;
	}
	if (lstat(path, &sb)) {
		if (errno == ENOENT)
			return 0;
		ks_error("cannot use %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		ks_error("%s exists and is not a regular file; remove it or choose another -o",
			 path);
		return -1;
	}
	if (trace_in_use(path)) {
		ks_error("%s is being recorded by another ksight right now; choose another -o",
			 path);
		return -1;
	}
	err = ks_store_open(path, KS_STORE_RDONLY, &st);
	if (err) {
		ks_error("%s exists and is not a ksight trace (%s); remove it or choose another -o",
			 path, ks_strerror(err));
		return -1;
	}
	ks_store_close(st);
	if (rename(path, old)) {
		ks_error("cannot move %s to %s: %s", path, old, strerror(errno));
		return -1;
	}
	unlink(lock);
	return 0;
}

#define DEFAULT_RING_BYTES (32ull << 20)
#define DEFAULT_SAMPLE_NS (100ull * 1000 * 1000)

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
	"  KSIGHT_HOTPATH=nobatch,nocache  for measuring: send syscall records one by one\n"
	"                         instead of in per-CPU batches; look the task's state up\n"
	"                         at every event instead of keeping it per CPU\n"
	"\n"
	"examples:\n"
	"  ksight record -- make -j2\n"
	"  ksight record -o ls.lmdb -- ls -l /\n"
	"  ksight record --state-dir /srv/db -- ./app   # then: ksight restore trace.lmdb --to DIR\n"
	"  sudo ksight record -- ./server   # the command runs as the invoking user\n"
	"\n"
	"The exit status is the command's (128+N when killed by signal N).\n";

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

int record_parse_args(int argc, char **argv, struct record_opts *o)
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
