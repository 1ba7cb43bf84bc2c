/* `ksight record`'s option values (sizes and durations as the user writes them)
 * and its output file (moved aside, locked while recorded). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/record_opts.h"
#include "format/kserr.h"
#include "store/store.h"
#include "util/log.h"
#include "util/units.h"

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t p = 4096;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	/* checked before the shift, so no size wraps around to a small one */
	if (*end || !v || *s == '-' || v > (4ull << 30) >> shift)
		return -EINVAL;
	v <<= shift;
	while (p < v)
		p <<= 1;
	*out = p;
	return 0;
}

/* A duration with a unit, or a bare number of seconds ("2.5"); not 0. */
int parse_seconds(const char *arg, uint64_t *ns)
{
	char with_unit[64];

	if (!ks_parse_duration(arg, ns))
		return *ns ? 0 : -EINVAL;
	if (snprintf(with_unit, sizeof(with_unit), "%ss", arg) >= (int)sizeof(with_unit) ||
	    ks_parse_duration(with_unit, ns))
		return -EINVAL;
	return *ns ? 0 : -EINVAL;
}

int parse_keep(const char *s, uint64_t *ns)
{
	size_t n = strlen(s);
	uint64_t mult = 0;
	char buf[64];

	if (n > 1 && s[n - 1] == 'm' && s[n - 2] != 'm' && s[n - 2] != 'u' && s[n - 2] != 'n')
		mult = 60; /* minutes, not ms */
	else if (n > 1 && s[n - 1] == 'h')
		mult = 3600;
	if (!mult)
		return parse_seconds(s, ns);
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n - 1);
	buf[n - 1] = 's';
	buf[n] = 0;
	if (parse_seconds(buf, ns) || *ns > UINT64_MAX / mult)
		return -EINVAL;
	*ns *= mult;
	return 0;
}

int parse_max_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && (end += 1)))
		end++;
	if (*end || v > (1ull << 42) >> shift || (v << shift) < (1ull << 20))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* Whether another recorder holds path (see lock_trace). */
static bool trace_in_use(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool busy;

	if (fd < 0)
		return false;
	busy = flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

/* Holds an exclusive flock on the trace while it is recorded, so that a second
 * `record -o` of the same name refuses instead of moving it away. The kernel drops
 * it when the recorder exits, however it exits. Returns the fd (kept open) or -1. */
int lock_trace(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Checks -o before anything is touched, then moves an existing trace to FILE.old
 * (as perf does); anything that is not a trace is kept, and so is a trace that is
 * being recorded. */
int make_room(const char *path)
{
	const char *base = strrchr(path, '/');
	struct ks_store *st;
	char old[PATH_MAX], lock[PATH_MAX];
	struct stat sb;
	int err;

	base = base ? base + 1 : path;
	if (!*base || strlen(path) + sizeof(".lock") > PATH_MAX ||
	    strlen(base) + sizeof(".lock") > NAME_MAX + 1) {
		if (*base)
			ks_error("-o: the file name is too long for its .old and -lock companions "
				 "(%zu bytes); choose another -o", strlen(path));
		else
			ks_error("-o: '%s' names no file; choose another -o", path);
		return -1;
	}
	snprintf(old, sizeof(old), "%s.old", path);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	if (!lstat(lock, &sb) && !S_ISREG(sb.st_mode)) {
		ks_error("%s (the trace's lock file) exists and is not a regular file; "
			 "remove it or choose another -o", lock);
		return -1;
	}
	if (lstat(path, &sb)) {
		if (errno == ENOENT)
			return 0;
		ks_error("cannot use %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		ks_error("%s exists and is not a regular file; remove it or choose another -o",
			 path);
		return -1;
	}
	if (trace_in_use(path)) {
		ks_error("%s is being recorded by another ksight right now; choose another -o",
			 path);
		return -1;
	}
	err = ks_store_open(path, KS_STORE_RDONLY, &st);
	if (err) {
		ks_error("%s exists and is not a ksight trace (%s); remove it or choose another -o",
			 path, ks_strerror(err));
		return -1;
	}
	ks_store_close(st);
	if (rename(path, old)) {
		ks_error("cannot move %s to %s: %s", path, old, strerror(errno));
		return -1;
	}
	unlink(lock);
	return 0;
}
