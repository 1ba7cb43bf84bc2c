/* Runs a command under bench/tpfloor.bpf.c at a level (see there), with a
 * thread draining the ring buffer, the command's tree in the traced set:
 *     tpfloor LEVEL CMD [ARG...] */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tpfloor.skel.h"

static volatile int stop;

static int on_rec(void *ctx, void *data, size_t size)
{
	(void)data;
	*(long long *)ctx += size;
	return 0;
}

static void *drain(void *arg)
{
	while (!stop)
		ring_buffer__poll(arg, 20);
	ring_buffer__consume(arg);
	return NULL;
}

int main(int argc, char **argv)
{
	struct { unsigned long long ts; unsigned nr, pad; } v = { 0 };
	struct tpfloor_bpf *s;
	struct ring_buffer *rb;
	long long bytes = 0;
	int go[2], st = 0, pidfd;
	pthread_t t;
	pid_t p;
	char c = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: tpfloor LEVEL CMD [ARG...]\n");
		return 2;
	}
	s = tpfloor_bpf__open();
	if (!s)
		return 1;
	s->rodata->level = atoi(argv[1]);
	if (tpfloor_bpf__load(s) || tpfloor_bpf__attach(s)) {
		fprintf(stderr, "tpfloor: cannot load the probes\n");
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(s->maps.events), on_rec, &bytes, NULL);
	if (!rb || pipe(go) || pthread_create(&t, NULL, drain, rb))
		return 1;
	p = fork();
	if (p == 0) {
		if (read(go[0], &c, 1) != 1)
			_exit(126);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	pidfd = syscall(SYS_pidfd_open, p, 0);
	if (pidfd < 0 || bpf_map_update_elem(bpf_map__fd(s->maps.traced), &pidfd, &v, BPF_NOEXIST))
		perror("tpfloor: cannot trace the command");
	if (write(go[1], &c, 1) != 1)
		return 1;
	waitpid(p, &st, 0);
	stop = 1;
	pthread_join(t, NULL);
	ring_buffer__free(rb);
	tpfloor_bpf__destroy(s);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
