/* Runs a command and writes its elapsed CLOCK_MONOTONIC nanoseconds to the file
 * named by $KSIGHT_TIMEIT_OUT: the command's own run time under any tracer. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ull + t.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *out = getenv("KSIGHT_TIMEIT_OUT");
	unsigned long long a, b;
	int st = 0;
	pid_t p;
	FILE *f;

	if (argc < 2 || !out) {
		fprintf(stderr, "usage: KSIGHT_TIMEIT_OUT=FILE timeit CMD [ARG...]\n");
		return 2;
	}
	a = now();
	p = fork();
	if (p == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	waitpid(p, &st, 0);
	b = now();
	f = fopen(out, "w");
	if (f) {
		fprintf(f, "%llu\n", b - a);
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
