/* A workload whose syscalls are known in advance, for the integration tests.
 *   workload counts N M K L S   N writes, M failing opens, K children making L
 *                               getpid calls each, S sleeps of 15 ms
 *   workload burst B            B getppid calls as fast as possible
 *   workload spin MS            burn CPU for MS milliseconds
 * Every syscall is issued directly so libc cannot add, cache or merge any. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void counts(long n, long m, long k, long l, long s)
{
	int fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
	struct timespec ts = { 0, 15 * 1000 * 1000 };

	for (long i = 0; i < n; i++)
		syscall(SYS_write, fd, "x", 1);
	for (long i = 0; i < m; i++)
		syscall(SYS_openat, AT_FDCWD, "/nonexistent/ksight-test", O_RDONLY);
	for (long i = 0; i < k; i++) {
		pid_t p = fork();

		if (p == 0) {
			for (long j = 0; j < l; j++)
				syscall(SYS_getpid);
			syscall(SYS_exit_group, 0);
		}
		syscall(SYS_wait4, p, NULL, 0, NULL);
	}
	for (long i = 0; i < s; i++)
		syscall(SYS_nanosleep, &ts, NULL);
	syscall(SYS_close, fd);
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "counts")) {
		counts(atol(argv[2]), atol(argv[3]), atol(argv[4]), atol(argv[5]), atol(argv[6]));
	} else if (argc == 3 && !strcmp(argv[1], "burst")) {
		for (long i = atol(argv[2]); i > 0; i--)
			syscall(SYS_getppid);
	} else if (argc == 3 && !strcmp(argv[1], "spin")) {
		struct timespec a, b;
		volatile unsigned long x = 0;

		clock_gettime(CLOCK_MONOTONIC, &a);
		do {
			for (int i = 0; i < 100000; i++)
				x += i;
			clock_gettime(CLOCK_MONOTONIC, &b);
		} while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < atol(argv[2]));
	} else {
		fprintf(stderr, "usage: workload counts N M K L S | burst B | spin MS\n");
		return 2;
	}
	syscall(SYS_exit_group, 0);
	return 0;
}
