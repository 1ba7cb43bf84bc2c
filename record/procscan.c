/* The processes running at the start, from /proc: each read with openat on its
 * /proc directory, so that a pid reused midway cannot mix two processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "record/cgroups.h"
#include "record/consumer.h"
#include "record/procscan.h"

static ssize_t read_at(int dfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

int procscan_read(pid_t pid, uint64_t ts, struct cgroups *cg, struct ks_proc *row)
{
	char path[32], buf[512];
	const char *paren;
	ssize_t n;
	int dfd;

	memset(row, 0, sizeof(*row));
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ESRCH;
	row->ts = ts;
	row->what = KS_PROC_START;
	row->pid = row->tid = pid;
	/* stat: "pid (comm) state ppid ..."; comm may hold ')' itself */
	n = read_at(dfd, "stat", buf, sizeof(buf) - 1);
	if (n <= 0 || (buf[n] = 0, !(paren = strrchr(buf, ')'))) ||
	    sscanf(paren + 1, " %*c %u", &row->ppid) != 1) {
		close(dfd);
		return -ESRCH;
	}
	n = read_at(dfd, "comm", buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		snprintf(row->comm, sizeof(row->comm), "%.*s", KS_COMM_MAX - 1, buf);
	}
	n = read_at(dfd, "cmdline", row->argv, sizeof(row->argv));
	row->argv_len = n > 0 ? n : 0;
	if (row->argv_len == sizeof(row->argv))
		row->flags |= KS_PROCF_ARGV_TRUNC; /* perhaps longer: said so */
	n = readlinkat(dfd, "exe", row->exe, sizeof(row->exe) - 1);
	row->exe[n > 0 ? n : 0] = 0;
	close(dfd);
	if (cg && cgroups_id_of_pid(cg, pid, &row->cgroup))
		row->cgroup = 0;
	/* a process that ended while being read has no comm left to trust */
	return row->comm[0] ? 0 : -ESRCH;
}

static int add(struct consumer *c, struct cgroups *cg, pid_t pid, uint64_t ts,
	       struct procscan_stats *st)
{
	struct ks_proc row;

	if (procscan_read(pid, ts, cg, &row)) {
		st->vanished++;
		return 0;
	}
	if (cg && row.cgroup)
		cgroups_name(cg, row.cgroup);
	st->read++;
	return consumer_add_row(c, KS_KIND_PROC, &row);
}

int procscan_run(struct consumer *c, struct cgroups *cg, const pid_t *pids, size_t n, bool all,
		 uint64_t ts, struct procscan_stats *st)
{
	struct dirent *d;
	DIR *dir;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++)
		err = add(c, cg, pids[i], ts, st);
	if (!all || err)
		return err;
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while (!err && (d = readdir(dir))) {
		pid_t pid = atoi(d->d_name);

		if (pid > 0 && pid != getpid())
			err = add(c, cg, pid, ts, st);
	}
	closedir(dir);
	return err;
}
