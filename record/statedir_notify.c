/* State directory capture without BPF: inotify watches on every directory of
 * the state dirs; a change makes its path due once it settles, and verification
 * (statedir_verify.c) reads what changed from the live tree. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "util/grow.h"
#include "util/log.h"
#include "record/statedir_priv.h"

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | \
		    IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | \
		    IN_ONLYDIR | IN_EXCL_UNLINK)

static void watch_tree(struct statedir *sd, const char *path, int depth)
{
	int wd, i = sd_dir_of(sd, path), fd;
	struct dirent *e;
	DIR *d;

	if (i < 0 || depth > 256)
		return;
	wd = inotify_add_watch(sd->ifd, path, WATCH_MASK);
	if (wd < 0) {
		ks_debug("cannot watch %s: %s", path, strerror(errno));
		return;
	}
	if ((size_t)wd >= sd->nwds) {
		size_t old = sd->nwds;

		if (KS_GROW(&sd->wds, &sd->nwds, (size_t)wd + 1)) {
			inotify_rm_watch(sd->ifd, wd);
			sd_track_lose(&sd->tr, "the directory", path);
			return;
		}
		memset(sd->wds + old, 0, (sd->nwds - old) * sizeof(*sd->wds));
	}
	free(sd->wds[wd]);
	sd->wds[wd] = strdup(path);
	if (!sd->wds[wd]) {
		inotify_rm_watch(sd->ifd, wd);
		sd_track_lose(&sd->tr, "the directory", path);
		return;
	}
	fd = sd_open_live(sd, i, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d))) {
		char child[PATH_MAX];
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(sb.st_mode))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) < (int)sizeof(child))
			watch_tree(sd, child, depth + 1);
	}
	closedir(d);
}

static void inotify_due(struct statedir *sd, const char *path, uint64_t now)
{
	struct track *t = sd_track_add(&sd->tr, path);
	uint64_t when;

	if (!t)
		return;
	if (!t->due_ns)
		t->changed_ns = now;
	when = now + INOTIFY_QUIET_NS;
	if (when > t->changed_ns + INOTIFY_MAX_WAIT_NS)
		when = t->changed_ns + INOTIFY_MAX_WAIT_NS;
	t->due_ns = when;
}

void sd_notify_read(struct statedir *sd, uint64_t now)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(sd->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			char path[PATH_MAX];

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				sd->sweep_due = true;
				continue;
			}
			if (ev->wd < 0 || (size_t)ev->wd >= sd->nwds || !sd->wds[ev->wd])
				continue;
			if (ev->mask & IN_IGNORED) {
				free(sd->wds[ev->wd]);
				sd->wds[ev->wd] = NULL;
				continue;
			}
			if (snprintf(path, sizeof(path), "%s%s%s", sd->wds[ev->wd], ev->len ? "/" : "",
				     ev->len ? ev->name : "") >= (int)sizeof(path))
				continue;
			inotify_due(sd, path, now);
			if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
				watch_tree(sd, path, 0);
		}
	}
}

int sd_notify_start(struct statedir *sd)
{
	sd->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (sd->ifd < 0)
		return -errno;
	for (int i = 0; i < sd->ndirs; i++)
		watch_tree(sd, sd->dirs[i].path, 0);
	return 0;
}
