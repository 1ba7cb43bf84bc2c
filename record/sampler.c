/* Reads /proc/PID/{stat,statm,io} of the followed processes. A process that is
 * gone between two rounds is simply not sampled. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/event.h"
#include "record/consumer.h"
#include "record/sampler.h"
#include "util/grow.h"

struct sampler {
	uint64_t interval_ns, last_ns;
	pid_t *pids;
	size_t n, cap;
	long page_kb, tick_hz;
	bool discover;
};

int sampler_new(uint64_t interval_ns, struct sampler **out)
{
	struct sampler *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->interval_ns = interval_ns;
	s->page_kb = sysconf(_SC_PAGESIZE) / 1024;
	s->tick_hz = sysconf(_SC_CLK_TCK);
	*out = s;
	return 0;
}

void sampler_track(struct sampler *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->pids[i] == pid)
			return;
	if (KS_GROW(&s->pids, &s->cap, s->n + 1))
		return; /* not sampled; the events still are recorded */
	s->pids[s->n++] = pid;
}

void sampler_untrack(struct sampler *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->pids[i] == pid) {
			s->pids[i] = s->pids[--s->n];
			return;
		}
}

static ssize_t read_proc(pid_t pid, const char *file, char *buf, size_t len)
{
	char path[384];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

/* Fields of /proc/PID/stat after the ")" that ends comm (which may hold spaces). */
static int parse_stat(const char *buf, struct ks_sample *r, long hz)
{
	unsigned long long minflt, majflt, utime, stime;
	long threads;
	const char *p = strrchr(buf, ')');

	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %llu %*u %llu %llu "
			 "%*d %*d %*d %*d %ld", &minflt, &majflt, &utime, &stime, &threads) != 5)
		return -EINVAL;
	r->minflt = minflt;
	r->majflt = majflt;
	r->cpu_ns = (utime + stime) * (1000000000ull / hz);
	r->threads = threads;
	return 0;
}

static void parse_io(const char *buf, struct ks_sample *r)
{
	static const struct { const char *key; size_t off; } keys[] = {
		{ "rchar: ", offsetof(struct ks_sample, rchar) },
		{ "wchar: ", offsetof(struct ks_sample, wchar) },
		{ "read_bytes: ", offsetof(struct ks_sample, read_bytes) },
		{ "write_bytes: ", offsetof(struct ks_sample, write_bytes) },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *p = strstr(buf, keys[i].key);

		if (p)
			*(uint64_t *)((char *)r + keys[i].off) =
				strtoull(p + strlen(keys[i].key), NULL, 10);
	}
}

static int sample_one(struct sampler *s, pid_t pid, uint64_t now_ns, struct ks_sample *r)
{
	char buf[4096];
	unsigned long long vsz, rss;

	memset(r, 0, sizeof(*r));
	r->ts = now_ns;
	r->pid = pid;
	if (read_proc(pid, "stat", buf, sizeof(buf)) < 0 || parse_stat(buf, r, s->tick_hz))
		return -ENOENT;
	if (read_proc(pid, "statm", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%llu %llu", &vsz, &rss) != 2)
		return -ENOENT;
	r->vsz_kb = vsz * s->page_kb;
	r->rss_kb = rss * s->page_kb;
	if (read_proc(pid, "io", buf, sizeof(buf)) >= 0)
		parse_io(buf, r);
	return 0;
}

void sampler_discover_children(struct sampler *s, bool on)
{
	s->discover = on;
}

/* Follows the children of every thread of pid (/proc/PID/task/TID/children). */
static void discover(struct sampler *s, pid_t pid)
{
	char path[64], buf[4096];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		char file[300];
		char *p, *end;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "task/%s/children", d->d_name);
		if (read_proc(pid, file, buf, sizeof(buf)) <= 0)
			continue;
		for (p = buf;; p = end) {
			long child = strtol(p, &end, 10);

			if (end == p)
				break;
			sampler_track(s, child);
		}
	}
	closedir(dir);
}

int sampler_tick(struct sampler *s, uint64_t now_ns, struct consumer *c)
{
	struct ks_sample r;
	int err;

	if (now_ns - s->last_ns < s->interval_ns)
		return 0;
	s->last_ns = now_ns;
	for (size_t i = 0; s->discover && i < s->n; i++)
		discover(s, s->pids[i]);
	for (size_t i = 0; i < s->n; i++) {
		if (sample_one(s, s->pids[i], now_ns, &r)) {
			if (s->discover)
				s->pids[i--] = s->pids[--s->n]; /* gone */
			continue;
		}
		err = consumer_add_row(c, KS_KIND_SAMPLE, &r);
		if (err)
			return err;
	}
	return 0;
}

void sampler_free(struct sampler *s)
{
	if (!s)
		return;
	free(s->pids);
	free(s);
}
