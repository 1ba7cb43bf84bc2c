/* A bulk loopback TCP transfer for the benchmarks: a child receives, the parent
 * sends BYTES in 64 KiB writes.  usage: tcpxfer BYTES */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char buf[65536];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	long long total = argc > 1 ? atoll(argv[1]) : 1ll << 30, left;
	int ls, s;
	pid_t p;

	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1) ||
	    getsockname(ls, (void *)&a, &alen)) {
		perror("tcpxfer: listen");
		return 1;
	}
	p = fork();
	if (p == 0) {
		int c = accept(ls, NULL, NULL);
		ssize_t n;

		while ((n = read(c, buf, sizeof(buf))) > 0)
			;
		_exit(n < 0);
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (void *)&a, sizeof(a))) {
		perror("tcpxfer: connect");
		return 1;
	}
	for (left = total; left > 0;) {
		ssize_t n = write(s, buf, left < (long long)sizeof(buf) ? left : (long long)sizeof(buf));

		if (n <= 0) {
			perror("tcpxfer: write");
			return 1;
		}
		left -= n;
	}
	close(s);
	waitpid(p, NULL, 0);
	return 0;
}
