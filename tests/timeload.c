/* Workloads whose time goes where the test says, for the time model's integration
 * tests (tests/integration.py): known sleeps, a writer blocked on a full pipe, a
 * thread pool on a futex, a server idling in epoll, threads that exit (with the
 * kernel's own switch counts as the oracle), a pipeline stage that computes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* n sleeps of ms each */
static void sleeps(long n, long ms)
{
	for (long i = 0; i < n; i++)
		nap_ms(ms);
}

/* The parent writes 1 MiB into a pipe whose reader sleeps ms before draining it:
 * the writer blocks on the full pipe for about ms. */
static void pipefull(long ms)
{
	static char buf[65536];
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		close(fds[1]);
		nap_ms(ms);
		while (read(fds[0], buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	close(fds[0]);
	for (int i = 0; i < 16; i++)
		if (write(fds[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write");
	close(fds[1]);
	waitpid(pid, NULL, 0);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!go)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* n threads wait on a condition variable (a futex) that is signalled after ms. */
static void futexpool(long n, long ms)
{
	pthread_t t[64];

	if (n > 64)
		n = 64;
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, pool_worker, NULL))
			die("pthread_create");
	nap_ms(ms);
	pthread_mutex_lock(&mu);
	go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* A loopback server idles in epoll_wait on its sockets for ms, until its client
 * (a child, sleeping) sends one byte. */
static void epollidle(long ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct epoll_event ev = { .events = EPOLLIN }, out;
	int ls, cs, ep;
	pid_t pid;
	char c;

	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1) ||
	    getsockname(ls, (void *)&a, &alen))
		die("listen");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0 || connect(s, (void *)&a, sizeof(a)))
			die("connect");
		nap_ms(ms);
		if (write(s, "x", 1) != 1)
			die("write");
		close(s);
		_exit(0);
	}
	cs = accept(ls, NULL, NULL);
	ep = epoll_create1(0);
	if (cs < 0 || ep < 0)
		die("accept");
	ev.data.fd = cs;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, cs, &ev))
		die("epoll_ctl");
	while (epoll_wait(ep, &out, 1, -1) < 1)
		;
	if (read(cs, &c, 1) != 1)
		die("read");
	waitpid(pid, NULL, 0);
}

static void *short_life(void *arg)
{
	long naps = (long)arg;

	for (long i = 0; i < naps; i++)
		nap_ms(1);
	return NULL;
}

/* n threads that each sleep naps times and exit, then the process's own counts
 * from getrusage: "pid voluntary involuntary" (all its threads, the exited ones
 * folded in by the kernel). */
static void threads(long n, long naps)
{
	pthread_t t;
	struct rusage ru;

	for (long i = 0; i < n; i++) {
		if (pthread_create(&t, NULL, short_life, (void *)naps))
			die("pthread_create");
		pthread_join(t, NULL);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%d %ld %ld\n", getpid(), ru.ru_nvcsw, ru.ru_nivcsw);
	fflush(stdout);
}

/* A pipeline's producer: computes for ms, writing a line now and then. */
static void produce(long ms)
{
	double end = now_ms() + ms;
	volatile unsigned long x = 0;

	while (now_ms() < end) {
		for (int i = 0; i < 200000; i++)
			x += i * 7;
		printf("%lu\n", (unsigned long)x);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "sleeps"))
		sleeps(atol(argv[2]), atol(argv[3]));
	else if (argc == 3 && !strcmp(argv[1], "pipefull"))
		pipefull(atol(argv[2]));
	else if (argc == 4 && !strcmp(argv[1], "futexpool"))
		futexpool(atol(argv[2]), atol(argv[3]));
	else if (argc == 3 && !strcmp(argv[1], "epollidle"))
		epollidle(atol(argv[2]));
	else if (argc == 4 && !strcmp(argv[1], "threads"))
		threads(atol(argv[2]), atol(argv[3]));
	else if (argc == 3 && !strcmp(argv[1], "produce"))
		produce(atol(argv[2]));
	else {
		fprintf(stderr, "usage: timeload sleeps N MS | pipefull MS | futexpool N MS | "
			"epollidle MS | threads N NAPS | produce MS\n");
		return 2;
	}
	return 0;
}
