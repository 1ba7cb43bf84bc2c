/* Attaching to running processes: a pidfd per process to watch for its exit, and
 * a pidfd per thread (PIDFD_THREAD) to seed task storage. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"
#include "record/probes.h"
#include "record/targets.h"
#include "util/grow.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

static int pidfd_open_flags(pid_t pid, unsigned flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

int targets_open(const char *list, struct targets *t, const char **bad)
{
	static char item[32];
	const char *p = list;

	memset(t, 0, sizeof(*t));
	while (*p) {
		char *end;
		long pid = strtol(p, &end, 10);
		size_t len = strcspn(p, ",");

		snprintf(item, sizeof(item), "%.*s", (int)(len < 31 ? len : 31), p);
		*bad = item;
		if (end == p || pid <= 0 || (*end && *end != ','))
			return -EINVAL;
		if (KS_GROW(&t->pids, &t->cap_pids, t->n + 1) ||
		    KS_GROW(&t->pidfds, &t->cap_pidfds, t->n + 1))
			return -ENOMEM;
		t->pids[t->n] = pid;
		t->pidfds[t->n] = pidfd_open_flags(pid, 0);
		if (t->pidfds[t->n] < 0)
			return -errno;
		t->n++;
		p = *end ? end + 1 : end;
	}
	*bad = list;
	return t->n ? 0 : -EINVAL;
}

int targets_seed(struct targets *t, struct probes *p)
{
	int added = 0, last = -ESRCH;

	for (size_t i = 0; i < t->n; i++) {
		char path[64];
		struct dirent *d;
		DIR *dir;

		snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pids[i]);
		dir = opendir(path);
		if (!dir)
			continue;
		while ((d = readdir(dir))) {
			pid_t tid = atoi(d->d_name);
			int fd;

			if (tid <= 0)
				continue;
			/* task storage is keyed by a pidfd of the thread itself */
			fd = pidfd_open_flags(tid, tid == t->pids[i] ? 0 : PIDFD_THREAD);
			if (fd < 0) {
				ks_debug("cannot open thread %d of %d: %s", tid, t->pids[i],
					 strerror(errno));
				last = -errno;
				continue;
			}
			last = probes_trace_task(p, t->pids[i], tid, fd);
			close(fd);
			if (!last)
				added++;
		}
		closedir(dir);
	}
	return added ? added : last;
}

bool targets_all_exited(const struct targets *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct pollfd pfd = { .fd = t->pidfds[i], .events = POLLIN };

		if (poll(&pfd, 1, 0) == 0)
			return false;
	}
	return true;
}

void targets_close(struct targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->pidfds[i] >= 0)
			close(t->pidfds[i]);
	free(t->pids);
	free(t->pidfds);
	memset(t, 0, sizeof(*t));
}
