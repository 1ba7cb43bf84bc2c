/* Launching the traced command: fork, hold on a pipe until the probes are ready,
 * then exec; an exec failure comes back through a close-on-exec pipe. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "record/child.h"

static int pidfd_open_compat(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

int child_resolve(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	int err = -ENOENT;
	struct stat sb;

	if (!*name)
		return -ENOENT;
	if (strchr(name, '/')) {
		if (stat(name, &sb))
			return -errno;
		if (!S_ISREG(sb.st_mode) || access(name, X_OK))
			return -EACCES;
		if (strlen(name) >= len)
			return -ENAMETOOLONG;
		strcpy(out, name);
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	/* each PATH entry in order, as execvp and the shells search it; an empty entry
	 * is the current directory */
	for (const char *p = path;; p++) {
		const char *colon = strchrnul(p, ':');
		int n = (int)(colon - p);

		if (snprintf(out, len, "%.*s%s%s", n, p, n ? "/" : "", name) < (int)len &&
		    !stat(out, &sb) && S_ISREG(sb.st_mode)) {
			if (!access(out, X_OK))
				return 0;
			err = -EACCES;
		}
		if (!*colon)
			break;
		p = colon;
	}
	return err;
}

static void child_main(int go_rd, int err_wr, const char *path, char **argv, uid_t uid,
		       gid_t gid)
{
	sigset_t none;
	char b;
	int e;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	if (gid != (gid_t)-1 && (setgroups(0, NULL) || setgid(gid)))
		goto fail;
	if (uid != (uid_t)-1 && setuid(uid))
		goto fail;
	/* held here until every probe is attached; EOF means the recorder gave up */
	if (read(go_rd, &b, 1) != 1)
		_exit(127);
	/* nothing between the release and exec: every syscall from here on is the
	 * command's (the pipes are close-on-exec); the path was searched before */
	execv(path, argv);
	if (errno == ENOEXEC) {
		/* a script without "#!": run by the shell, as execvp does */
		int n = 0;

		while (argv[n])
			n++;
		char *sh[n + 2];

		sh[0] = "sh";
		sh[1] = (char *)path;
		for (int i = 1; i <= n; i++)
			sh[i + 1] = argv[i];
		execv("/bin/sh", sh);
		errno = ENOEXEC;
	}
fail:
	e = errno;
	if (write(err_wr, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

int child_wait_parked(struct child *c)
{
	struct timespec nap = { 0, 50 * 1000 }, t0, now;
	char path[64], buf[512];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)c->pid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0;; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		char *state;

		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return -ESRCH;
		buf[n] = '\0';
		/* "pid (comm) S ...": the comm may hold anything, the state follows its
		 * last ')' */
		state = strrchr(buf, ')');
		if (state && state[1] == ' ' && state[2] == 'S')
			return 0;
		if (!state || state[2] == 'Z' || state[2] == 'X')
			return -ESRCH;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 2)
			return -ETIMEDOUT;
		/* it is runnable: first give it this CPU, then wait for the other */
		if (i < 64)
			sched_yield();
		else
			nanosleep(&nap, NULL);
	}
}

int child_start(struct child *c, const char *path, char **argv, uid_t uid, gid_t gid)
{
	int go[2], er[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(er, O_CLOEXEC)) {
		int e = -errno;

		close(go[0]);
		close(go[1]);
		return e;
	}
	pid = fork();
	if (pid < 0) {
		int e = -errno;

		close(go[0]); close(go[1]); close(er[0]); close(er[1]);
		return e;
	}
	if (pid == 0) {
		close(go[1]);
		close(er[0]);
		child_main(go[0], er[1], path, argv, uid, gid);
	}
	close(go[0]);
	close(er[1]);
	c->pid = pid;
	c->go_fd = go[1];
	c->err_fd = er[0];
	c->pidfd = pidfd_open_compat(pid);
	if (c->pidfd < 0) {
		int e = -errno;

		child_abort(c);
		return e;
	}
	return 0;
}

int child_release(struct child *c)
{
	char b = 1;
	int e = 0;
	ssize_t n;

	if (write(c->go_fd, &b, 1) != 1)
		return -errno;
	close(c->go_fd);
	c->go_fd = -1;
	do
		n = read(c->err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(c->err_fd);
	c->err_fd = -1;
	return n == sizeof(e) ? -e : 0;
}

int child_wait(struct child *c, int *wstatus)
{
	int st = 0;

	while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
	if (wstatus)
		*wstatus = st;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

void child_abort(struct child *c)
{
	if (c->go_fd >= 0)
		close(c->go_fd);
	if (c->err_fd >= 0)
		close(c->err_fd);
	c->go_fd = c->err_fd = -1;
	kill(c->pid, SIGKILL);
	child_wait(c, NULL);
}
