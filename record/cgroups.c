/* Cgroup v2 for the recorder: the mount from mountinfo, target ids from file
 * handles (a cgroup's id is its kernfs inode, what bpf_get_current_cgroup_id
 * returns), and id -> path by a walk of the hierarchy or, for a cgroup made
 * since, by opening the id as a file handle. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf/events.h"
#include "record/cgroups.h"
#include "util/grow.h"
#include "util/hmap.h"

#define FILEID_KERNFS 0xfe

struct cg_name {
	uint64_t id;
	char *path;  /* below the v2 root */
	bool noted;  /* the trace refers to it */
};

struct cgroups {
	char mnt[PATH_MAX];
	uint32_t root_depth;  /* the mount's root below the hierarchy's root */
	int mnt_fd;
	uint64_t ids[KS_CGROUP_MAX];
	uint32_t levels[KS_CGROUP_MAX];
	char *targets[KS_CGROUP_MAX];
	uint32_t ntargets;
	struct cg_name *names;
	size_t nnames, capnames;
	struct ks_hmap by_id;   /* id -> index in names */
	struct ks_hmap by_path; /* hash of path -> index in names (multimap) */
	bool walked;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

static uint32_t depth(const char *path)
{
	uint32_t n = 0;

	for (const char *p = path; *p; p++)
		if (*p != '/' && (p == path || p[-1] == '/'))
			n++;
	return n;
}

/* Fills mnt and root depth from the first cgroup2 line, preferring one whose
 * root is the hierarchy's. */
static int find_mount(struct cgroups *cg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], fstype[64];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2") ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		unescape(root);
		unescape(mnt);
		if (found && strcmp(root, "/"))
			continue;
		snprintf(cg->mnt, sizeof(cg->mnt), "%s", mnt);
		cg->root_depth = depth(root);
		found = true;
		if (!strcmp(root, "/"))
			break;
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

int cgroups_open(struct cgroups **out, char *why, size_t len)
{
	struct cgroups *cg = calloc(1, sizeof(*cg));
	int err;

	if (!cg)
		return -ENOMEM;
	cg->mnt_fd = -1;
	err = find_mount(cg);
	if (err) {
		snprintf(why, len, "no cgroup v2 hierarchy is mounted here (only cgroup v1, or "
			 "none, in /proc/self/mountinfo): mount one, e.g. 'mount -t cgroup2 none "
			 "/sys/fs/cgroup/unified'");
		free(cg);
		return err == -ENOENT ? -ENOENT : err;
	}
	cg->mnt_fd = open(cg->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*out = cg;
	return 0;
}

const char *cgroups_mount(const struct cgroups *cg)
{
	return cg->mnt;
}

/* The cgroup id of a directory of the hierarchy: its kernfs file handle. */
static int id_of(int dirfd, const char *path, uint64_t *id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[16];
	} h = { .fh.handle_bytes = 16 };
	struct stat sb;
	int mount_id;

	if (!name_to_handle_at(dirfd, path, &h.fh, &mount_id, 0) && h.fh.handle_bytes >= 8) {
		memcpy(id, h.fh.f_handle, sizeof(*id));
		return 0;
	}
	if (fstatat(dirfd, path, &sb, 0))
		return -errno;
	*id = sb.st_ino;
	return 0;
}

static int add_name(struct cgroups *cg, uint64_t id, const char *path, struct cg_name **out)
{
	uint64_t *v = ks_hmap_get(&cg->by_id, id);
	struct cg_name *n;
	int err;

	if (v) {
		*out = &cg->names[*v];
		return 0;
	}
	err = KS_GROW(&cg->names, &cg->capnames, cg->nnames + 1);
	if (err)
		return err;
	n = &cg->names[cg->nnames];
	n->id = id;
	n->noted = false;
	n->path = strdup(path);
	if (!n->path)
		return -ENOMEM;
	err = ks_hmap_put(&cg->by_id, id, cg->nnames);
	err = err ?: ks_hmap_add(&cg->by_path, ks_hash_bytes(path, strlen(path)), cg->nnames);
	if (err) {
		free(n->path);
		return err;
	}
	cg->nnames++;
	*out = n;
	return 0;
}

/* "/sys/fs/cgroup/unified/a/b" -> "/a/b"; NULL when not below the mount. */
static const char *below_mount(const struct cgroups *cg, const char *abs)
{
	size_t n = strlen(cg->mnt);

	while (n > 1 && cg->mnt[n - 1] == '/')
		n--;
	if (n == 1 && cg->mnt[0] == '/')
		return abs;
	if (strncmp(abs, cg->mnt, n) || (abs[n] && abs[n] != '/'))
		return NULL;
	return abs[n] ? abs + n : "/";
}

int cgroups_add_target(struct cgroups *cg, const char *dir, char *why, size_t len)
{
	char abs[PATH_MAX], joined[PATH_MAX * 2 + 16];
	const char *rel;
	struct cg_name *n;
	int err;

	if (cg->ntargets >= KS_CGROUP_MAX) {
		snprintf(why, len, "--cgroup: at most %d cgroups", KS_CGROUP_MAX);
		return -E2BIG;
	}
	/* a path of the hierarchy, or one relative to its root */
	if (!realpath(dir, abs) || !below_mount(cg, abs)) {
		snprintf(joined, sizeof(joined), "%s/%s", cg->mnt, dir);
		if (!realpath(joined, abs) || !below_mount(cg, abs)) {
			snprintf(why, len, "--cgroup: %s is not a directory of the cgroup v2 "
				 "hierarchy (mounted at %s)", dir, cg->mnt);
			return -ENOTDIR;
		}
	}
	snprintf(joined, sizeof(joined), "%s/cgroup.procs", abs);
	if (access(joined, F_OK)) {
		snprintf(why, len, "--cgroup: %s is not a cgroup v2 directory (no cgroup.procs)",
			 dir);
		return -ENOTDIR;
	}
	rel = below_mount(cg, abs);
	err = id_of(AT_FDCWD, abs, &cg->ids[cg->ntargets]);
	err = err ?: add_name(cg, cg->ids[cg->ntargets], rel, &n);
	if (err) {
		snprintf(why, len, "--cgroup: cannot read %s: %s", abs, strerror(-err));
		return err;
	}
	n->noted = true;
	cg->levels[cg->ntargets] = cg->root_depth + depth(rel);
	cg->targets[cg->ntargets++] = n->path;
	return 0;
}

uint32_t cgroups_targets(const struct cgroups *cg, const uint64_t **ids, const uint32_t **levels)
{
	*ids = cg->ids;
	*levels = cg->levels;
	return cg->ntargets;
}

/* Adds the pids of dir's cgroup.procs, then recurses into its children. */
static int collect(int dfd, pid_t **pids, size_t *n, size_t *cap, int level)
{
	int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	struct dirent *d;
	DIR *dir;
	FILE *f;
	long pid;
	int err = 0;

	if (fd >= 0 && (f = fdopen(fd, "r"))) {
		while (!err && fscanf(f, "%ld", &pid) == 1)
			if (!(err = KS_GROW(pids, cap, *n + 1)))
				(*pids)[(*n)++] = (pid_t)pid;
		fclose(f);
	} else if (fd >= 0) {
		close(fd);
	}
	if (err || level > 64 || (fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return 0;
	}
	while (!err && (d = readdir(dir))) {
		int sub;

		if (d->d_type != DT_DIR || d->d_name[0] == '.')
			continue;
		sub = openat(dirfd(dir), d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue;
		err = collect(sub, pids, n, cap, level + 1);
		close(sub);
	}
	closedir(dir);
	return err;
}

int cgroups_target_pids(struct cgroups *cg, pid_t **pids, size_t *n)
{
	size_t cap = 0;
	int err = 0;

	*pids = NULL;
	*n = 0;
	for (uint32_t i = 0; i < cg->ntargets && !err; i++) {
		char path[PATH_MAX * 2 + 2];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", cg->mnt, cg->targets[i]);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		err = collect(fd, pids, n, &cap, 0);
		close(fd);
	}
	return err;
}

static struct cgroups *walking;

static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = below_mount(walking, path);
	struct cg_name *n;
	uint64_t id;

	(void)sb;
	(void)ftw;
	if (type != FTW_D || !rel || id_of(AT_FDCWD, path, &id))
		return 0;
	return add_name(walking, id, rel, &n) ? 1 : 0;
}

/* Names every cgroup of the hierarchy (once: later ids are opened by handle). */
static void walk(struct cgroups *cg)
{
	if (cg->walked)
		return;
	cg->walked = true;
	walking = cg;
	nftw(cg->mnt, walk_one, 16, FTW_PHYS | FTW_MOUNT);
	walking = NULL;
}

/* A cgroup made after the walk: its id is its file handle. */
static const char *open_by_id(struct cgroups *cg, uint64_t id)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[8];
	} h = { .fh.handle_bytes = 8, .fh.handle_type = FILEID_KERNFS };
	char link[64], abs[PATH_MAX];
	const char *rel;
	struct cg_name *n;
	ssize_t len;
	int fd;

	if (cg->mnt_fd < 0)
		return NULL;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(cg->mnt_fd, &h.fh, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, abs, sizeof(abs) - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	abs[len] = 0;
	rel = below_mount(cg, abs);
	return rel && !add_name(cg, id, rel, &n) ? n->path : NULL;
}

const char *cgroups_name(struct cgroups *cg, uint64_t id)
{
	uint64_t *v;
	const char *path;

	if (!id)
		return NULL;
	v = ks_hmap_get(&cg->by_id, id);
	if (!v) {
		walk(cg);
		v = ks_hmap_get(&cg->by_id, id);
	}
	if (!v && (path = open_by_id(cg, id)))
		v = ks_hmap_get(&cg->by_id, id);
	if (!v)
		return NULL;
	cg->names[*v].noted = true;
	return cg->names[*v].path;
}

int cgroups_id_of_pid(struct cgroups *cg, pid_t pid, uint64_t *id)
{
	char path[64], line[PATH_MAX + 8], abs[PATH_MAX * 2 + 16];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			found = true;
		}
	fclose(f);
	if (!found)
		return -ENOENT;
	/* known already (the walk named it): no system call */
	for (uint64_t *v = ks_hmap_get(&cg->by_path, ks_hash_bytes(line + 3, strlen(line + 3)));
	     v; v = ks_hmap_next(&cg->by_path, ks_hash_bytes(line + 3, strlen(line + 3)), v))
		if (!strcmp(cg->names[*v].path, line + 3)) {
			*id = cg->names[*v].id;
			return 0;
		}
	snprintf(abs, sizeof(abs), "%s%s", cg->mnt, line + 3);
	return id_of(AT_FDCWD, abs, id) ? -ENOENT : 0;
}

char *cgroups_meta_names(const struct cgroups *cg)
{
	json_t *o = json_object();
	char *s = NULL, key[24];

	if (!o)
		return NULL;
	for (size_t i = 0; i < cg->nnames; i++) {
		if (!cg->names[i].noted)
			continue;
		snprintf(key, sizeof(key), "%" PRIu64, cg->names[i].id);
		if (json_object_set_new(o, key, json_string(cg->names[i].path)))
			goto out;
	}
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
out:
	json_decref(o);
	return s;
}

char *cgroups_meta_targets(const struct cgroups *cg)
{
	json_t *a = json_array();
	char *s = NULL;

	if (!a)
		return NULL;
	for (uint32_t i = 0; i < cg->ntargets; i++)
		if (json_array_append_new(a, json_string(cg->targets[i])))
			goto out;
	s = json_dumps(a, JSON_COMPACT);
out:
	json_decref(a);
	return s;
}

void cgroups_free(struct cgroups *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->nnames; i++)
		free(cg->names[i].path);
	free(cg->names);
	ks_hmap_free(&cg->by_id);
	ks_hmap_free(&cg->by_path);
	if (cg->mnt_fd >= 0)
		close(cg->mnt_fd);
	free(cg);
}
