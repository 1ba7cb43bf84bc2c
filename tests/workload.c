/* A workload whose syscalls are known in advance, for the integration tests.
 *   workload counts N M K L S [MS]  N writes, M failing opens, K (<= 64) children
 *                               making L getpid calls each, S sleeps of MS ms
 *                               (default 15)
 *   workload burst B            B getppid calls as fast as possible
 *   workload spin MS            burn CPU for MS milliseconds (of wall time)
 *   workload cpuspin MS         burn MS milliseconds of CPU time, however long
 *                               a busy machine makes that take
 * and one clear-cut workload per behaviour class, each running about MS ms:
 *   workload dsync MS           4 KiB O_DSYNC writes to a temporary file (io_bound)
 *   workload tcp MS             a bulk loopback TCP transfer to a forked child
 *                               (network_bound)
 *   workload memtouch MS MIB    map MIB MiB, touch every page, unmap, again
 *                               (memory_bound)
 *   workload mix MS             the three above and spinning in equal turns (mixed)
 * and for the scheduler tests:
 *   workload ctxsw MS           touches 16 MiB, then computes in 3 ms slices with
 *                               sleeps and yields between them until it has used
 *                               MS ms of CPU, then prints its own "pid voluntary
 *                               involuntary cpu_ns page_faults" from
 *                               /proc/self/status and /proc/self/stat
 *   workload pingpong N         two processes bounce a byte over pipes N times
 * Every syscall is issued directly so libc cannot add, cache or merge any. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void counts(long n, long m, long k, long l, long s, long sleep_ms)
{
	int fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
	struct timespec ts = { sleep_ms / 1000, sleep_ms % 1000 * 1000 * 1000 };
	pid_t kids[64];

	for (long i = 0; i < n; i++)
		syscall(SYS_write, fd, "x", 1);
	for (long i = 0; i < m; i++)
		syscall(SYS_openat, AT_FDCWD, "/nonexistent/ksight-test", O_RDONLY);
	/* the children run during the sleeps, so reaping them afterwards does not
	 * block: the sleeps stay the only slow syscalls. SIGCHLD is blocked so that
	 * their exits cannot interrupt the sleeps (under strace they would). */
	uint64_t chld = 1ull << (SIGCHLD - 1);

	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &chld, NULL, sizeof(chld));
	for (long i = 0; i < k && i < 64; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			for (long j = 0; j < l; j++)
				syscall(SYS_getpid);
			syscall(SYS_exit_group, 0);
		}
	}
	for (long i = 0; i < s; i++)
		syscall(SYS_nanosleep, &ts, NULL);
	for (long i = 0; i < k && i < 64; i++)
		syscall(SYS_wait4, kids[i], NULL, 0, NULL);
	syscall(SYS_close, fd);
}

static long elapsed_ms(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static void spin(long ms)
{
	struct timespec a;
	volatile unsigned long x = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (int i = 0; i < 100000; i++)
			x += i;
	} while (elapsed_ms(&a) < ms);
}

/* CPU milliseconds of the process since a (CLOCK_PROCESS_CPUTIME_ID). */
static long cpu_ms(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* Burns ms of CPU time, however busy the machine. */
static void spin_cpu(long ms)
{
	struct timespec a;
	volatile unsigned long x = 0;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	do {
		for (int i = 0; i < 100000; i++)
			x += i;
	} while (cpu_ms(&a) < ms);
}

static void die(const char *what)
{
	perror(what);
	syscall(SYS_exit_group, 1);
}

/* A temporary file opened O_DSYNC in $TMPDIR (default /var/tmp: a disk, not tmpfs),
 * already unlinked. */
static int dsync_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/ksight-dsync-XXXXXX", dir && *dir ? dir : "/var/tmp");
	fd = mkostemp(path, O_DSYNC);
	if (fd < 0)
		die("mkostemp");
	unlink(path);
	return fd;
}

/* Rewrites 4 KiB blocks of the first MiB of fd, each reaching the disk before the
 * write returns. */
static void dsync_writes(int fd, long ms)
{
	static char block[4096];
	struct timespec a;
	long i = 0;

	memset(block, 'k', sizeof(block));
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		if (syscall(SYS_pwrite64, fd, block, sizeof(block), (i++ % 256) * 4096) < 0)
			die("pwrite");
	} while (elapsed_ms(&a) < ms);
}

/* Maps mib MiB without huge pages, writes one byte per 4 KiB page, unmaps; until
 * ms have passed (0: one whole pass), checked every MiB (a few ms of faults on a busy VM: a phase of
 * mix must not overrun its turn by the tens of ms 16 MiB of faults take there). */
static void memtouch(long ms, long mib)
{
	size_t len = (size_t)mib << 20;
	struct timespec a;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		char *p = (char *)syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			die("mmap");
		syscall(SYS_madvise, p, len, MADV_NOHUGEPAGE);
		for (size_t off = 0; off < len; off += 4096) {
			p[off] = 1;
			if (ms && !(off & ((1 << 20) - 1)) && off && elapsed_ms(&a) >= ms)
				break;
		}
		syscall(SYS_munmap, p, len);
	} while (elapsed_ms(&a) < ms);
}

/* Sends 256 KiB chunks over loopback TCP to a forked reader for ms. */
static void tcp(long ms)
{
	static char buf[256 << 10];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct timespec a;
	int ls, fd;
	pid_t p;

	ls = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || syscall(SYS_bind, ls, &sa, sizeof(sa)) ||
	    syscall(SYS_listen, ls, 1) || syscall(SYS_getsockname, ls, &sa, &sl))
		die("listen");
	p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		long n;

		syscall(SYS_close, ls);
		fd = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || syscall(SYS_connect, fd, &sa, sizeof(sa)))
			die("connect");
		while ((n = syscall(SYS_recvfrom, fd, buf, sizeof(buf), 0, NULL, NULL)) > 0)
			;
		syscall(SYS_exit_group, n < 0);
	}
	fd = syscall(SYS_accept, ls, NULL, NULL);
	if (fd < 0)
		die("accept");
	memset(buf, 'n', sizeof(buf));
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		if (syscall(SYS_sendto, fd, buf, sizeof(buf), 0, NULL, 0) < 0)
			die("send");
	} while (elapsed_ms(&a) < ms);
	syscall(SYS_close, fd);
	syscall(SYS_close, ls);
	syscall(SYS_wait4, p, NULL, 0, NULL);
}

/* Computing, synchronous writes and page touching in equal 50 ms turns. */
static void mix(long ms)
{
	struct timespec a;
	int fd = dsync_file();
	struct timespec nap = { 0, 1000 * 1000 };

	/* a short sleep after each phase ends its time slice: page-fault time is
	 * estimated per slice, and a slice holding both the touching and the spinning
	 * would count the spin as faults */
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		spin(50);
		syscall(SYS_nanosleep, &nap, NULL);
		dsync_writes(fd, 50);
		memtouch(50, 64);
		syscall(SYS_nanosleep, &nap, NULL);
	} while (elapsed_ms(&a) < ms);
	syscall(SYS_close, fd);
}

static unsigned long long status_field(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* Computing in 3 ms (CPU) slices, each followed by a 1 ms sleep or a yield, then the
 * process's own figures: "pid voluntary involuntary cpu_ns faults" (utime + stime
 * and minflt + majflt from /proc/self/stat). */
static void ctxsw(long ms)
{
	struct timespec a, nap = { 0, 1000 * 1000 };
	char buf[4096], *p;
	unsigned long long ut = 0, st = 0, minflt = 0, majflt = 0;
	long i = 0, n;
	int fd;

	memtouch(0, 16); /* 4096 page faults of its own */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	do {
		spin_cpu(3);
		if (i++ % 2)
			syscall(SYS_nanosleep, &nap, NULL);
		else
			syscall(SYS_sched_yield);
	} while (cpu_ms(&a) < ms);
	fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY);
	n = fd < 0 ? -1 : syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		die("/proc/self/stat");
	buf[n] = 0;
	syscall(SYS_close, fd);
	/* utime and stime are fields 14 and 15; the comm (field 2) ends at the last ')' */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %llu %*u %llu %llu",
			 &minflt, &majflt, &ut, &st) != 4)
		die("/proc/self/stat fields");
	fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY);
	n = fd < 0 ? -1 : syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		die("/proc/self/status");
	buf[n] = 0;
	syscall(SYS_close, fd);
	n = snprintf(buf + 2048, 2048, "%ld %llu %llu %llu %llu\n", (long)syscall(SYS_getpid),
		     status_field(buf, "\nvoluntary_ctxt_switches:"),
		     status_field(buf, "\nnonvoluntary_ctxt_switches:"),
		     (ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)),
		     minflt + majflt);
	syscall(SYS_write, 1, buf + 2048, n);
}

/* Parent and child bounce one byte over two pipes n times. */
static void pingpong(long n)
{
	int ab[2], ba[2];
	char c = 0;
	pid_t p;

	if (pipe(ab) || pipe(ba))
		die("pipe");
	p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		syscall(SYS_close, ab[1]);
		syscall(SYS_close, ba[0]);
		while (syscall(SYS_read, ab[0], &c, 1) == 1)
			if (syscall(SYS_write, ba[1], &c, 1) != 1)
				break;
		syscall(SYS_exit_group, 0);
	}
	syscall(SYS_close, ab[0]);
	syscall(SYS_close, ba[1]);
	for (long i = 0; i < n; i++)
		if (syscall(SYS_write, ab[1], &c, 1) != 1 || syscall(SYS_read, ba[0], &c, 1) != 1)
			die("pingpong");
	syscall(SYS_close, ab[1]);
	syscall(SYS_wait4, p, NULL, 0, NULL);
}

static void put_bytes(int fd, size_t n)
{
	static char buf[4096];

	memset(buf, 'x', sizeof(buf));
	if (n > sizeof(buf) || write(fd, buf, n) != (ssize_t)n)
		die("files: write");
}

static int open_in(const char *dir, const char *name, int flags)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, flags, 0644);
	if (fd < 0)
		die("files: open");
	return fd;
}

/* Known opens and bytes per file of dir (tests/integration.py FILES_WANT):
 * a: written 3 x 1000 + 500 through a dup, then read back 1000 at a time;
 * b: 4096 by the parent, 100 by a forked child through the inherited fd;
 * c: opened close-on-exec, 20 bytes; the exec'd child must not have it;
 * d: opened without, 10 bytes written by the exec'd child. */
static void files(const char *self, const char *dir)
{
	char buf[1000], a1[16], a2[16];
	int fd, fd2, c, d, status;
	pid_t p;

	fd = open_in(dir, "a", O_WRONLY | O_CREAT | O_TRUNC);
	for (int i = 0; i < 3; i++)
		put_bytes(fd, 1000);
	fd2 = dup(fd);
	close(fd);
	put_bytes(fd2, 500);
	close(fd2);
	fd = open_in(dir, "a", O_RDONLY | O_CLOEXEC);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);

	fd = open_in(dir, "b", O_RDWR | O_CREAT | O_TRUNC);
	put_bytes(fd, 4096);
	p = fork();
	if (p == 0) {
		put_bytes(fd, 100);
		_exit(0);
	}
	waitpid(p, &status, 0);
	close(fd);

	c = open_in(dir, "c", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
	d = open_in(dir, "d", O_WRONLY | O_CREAT | O_TRUNC);
	put_bytes(c, 20);
	snprintf(a1, sizeof(a1), "%d", c);
	snprintf(a2, sizeof(a2), "%d", d);
	p = fork();
	if (p == 0) {
		execl(self, self, "files-child", a1, a2, (char *)NULL);
		_exit(127);
	}
	waitpid(p, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die("files: the exec'd child saw the close-on-exec fd");
	close(c);
	close(d);
}

/* The exec'd child: fd c must be closed, fd d open. */
static void files_child(int c, int d)
{
	if (fcntl(c, F_GETFD) != -1 || errno != EBADF)
		exit(1);
	put_bytes(d, 10);
}

int main(int argc, char **argv)
{
	if ((argc == 7 || argc == 8) && !strcmp(argv[1], "counts")) {
		counts(atol(argv[2]), atol(argv[3]), atol(argv[4]), atol(argv[5]), atol(argv[6]),
		       argc == 8 ? atol(argv[7]) : 15);
	} else if (argc == 3 && !strcmp(argv[1], "burst")) {
		for (long i = atol(argv[2]); i > 0; i--)
			syscall(SYS_getppid);
	} else if (argc == 3 && !strcmp(argv[1], "spin")) {
		spin(atol(argv[2]));
	} else if (argc == 3 && !strcmp(argv[1], "cpuspin")) {
		spin_cpu(atol(argv[2]));
	} else if (argc == 3 && !strcmp(argv[1], "dsync")) {
		int fd = dsync_file();

		dsync_writes(fd, atol(argv[2]));
		syscall(SYS_close, fd);
	} else if (argc == 3 && !strcmp(argv[1], "tcp")) {
		tcp(atol(argv[2]));
	} else if (argc == 4 && !strcmp(argv[1], "memtouch")) {
		memtouch(atol(argv[2]), atol(argv[3]));
	} else if (argc == 3 && !strcmp(argv[1], "mix")) {
		mix(atol(argv[2]));
	} else if (argc == 3 && !strcmp(argv[1], "ctxsw")) {
		ctxsw(atol(argv[2]));
	} else if (argc == 3 && !strcmp(argv[1], "pingpong")) {
		pingpong(atol(argv[2]));
	} else if (argc == 3 && !strcmp(argv[1], "files")) {
		files(argv[0], argv[2]);
	} else if (argc == 4 && !strcmp(argv[1], "files-child")) {
		files_child(atoi(argv[2]), atoi(argv[3]));
	} else {
		fprintf(stderr, "usage: workload counts N M K L S [MS] | burst B | spin MS | cpuspin MS | "
			"dsync MS | tcp MS | memtouch MS MIB | mix MS | ctxsw MS | pingpong N | "
			"files DIR\n");
		return 2;
	}
	syscall(SYS_exit_group, 0);
	return 0;
}
