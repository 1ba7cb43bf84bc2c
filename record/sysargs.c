/* The argument spec the syscall probe reads at every syscall, and the fd table
 * of a process at the start of its recording, from /proc. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/events.h"
#include "format/event.h"
#include "format/sysargs.h"
#include "record/sysargs.h"

static uint32_t pack(const struct ks_sysargs *s)
{
	uint32_t spec = KS_ARG_ON, slot = 0, paths = 0;

	for (unsigned i = 0; i < s->nargs; i++) {
		uint32_t a = i + 1;

		switch (s->arg[i]) {
		case KS_A_PATH:
			spec |= a << (paths++ ? 12 : 9);
			break;
		case KS_A_ADDR:
			spec |= a << 15;
			break;
		case KS_A_ADDRLEN:
			spec |= a << 18;
			break;
		case KS_A_PEER:
			spec |= a << 21;
			break;
		case KS_A_PEERLEN:
			spec |= a << 24;
			break;
		case KS_A_FDPAIR:
			spec |= a << 27;
			break;
		case KS_A_BUF:
		case KS_A_PTR:
		case KS_A_NONE:
			break;
		default:
			if (slot < 3)
				spec |= a << (3 * slot++);
		}
	}
	return spec;
}

void sysargs_fill_spec(uint32_t *spec, size_t n)
{
	for (size_t nr = 0; nr < n; nr++) {
		const struct ks_sysargs *s = ks_sysargs_get(nr);

		spec[nr] = s ? pack(s) : 0;
	}
}

/* The "flags:" line of /proc/PID/fdinfo/FD (octal), or 0. */
static uint32_t fd_flags(int dfd, const char *name)
{
	char path[300], line[128];
	unsigned flags = 0;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "fdinfo/%s", name);
	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %o", &flags) == 1)
			break;
	fclose(f);
	return flags;
}

int sysargs_snapshot_fds(struct consumer *c, pid_t pid, uint64_t ts)
{
	char path[64];
	struct dirent *de;
	struct ks_sysarg *row;
	ssize_t len;
	int dfd, n = 0, err = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	d = fdopendir(openat(dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!d) {
		err = -errno;
		close(dfd);
		return err;
	}
	row = malloc(sizeof(*row));
	if (!row) {
		err = -ENOMEM;
		goto out;
	}
	/* the working directory, as fd AT_FDCWD */
	memset(row, 0, sizeof(*row));
	len = readlinkat(dfd, "cwd", row->data, sizeof(row->data));
	if (len > 0) {
		row->ts = ts;
		row->pid = row->tid = pid;
		row->what = KS_SA_PREFD;
		row->val = AT_FDCWD;
		row->len = len;
		err = consumer_add_row(c, KS_KIND_SYSARG, row);
		if (err)
			goto done;
	}
	while ((de = readdir(d))) {
		char *end, link[300];
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name)
			continue;
		memset(row, 0, sizeof(*row));
		snprintf(link, sizeof(link), "fd/%s", de->d_name);
		len = readlinkat(dfd, link, row->data, sizeof(row->data));
		if (len < 0)
			continue; /* closed meanwhile */
		row->ts = ts;
		row->pid = row->tid = pid;
		row->what = KS_SA_PREFD;
		row->nr = fd_flags(dfd, de->d_name);
		row->val = fd;
		row->len = len;
		if ((size_t)len == sizeof(row->data))
			row->flags = KS_SAF_TRUNC;
		err = consumer_add_row(c, KS_KIND_SYSARG, row);
		if (err)
			break;
		n++;
	}
done:
	free(row);
out:
	closedir(d);
	close(dfd);
	return err ? err : n;
}
