/* The cgroup v2 hierarchy for the recorder: where it is mounted, the --cgroup
 * targets (id and depth, for the probes' in-kernel filter), and the names of the
 * cgroup ids the process events carry (id -> path, kept in the trace meta). */
#ifndef KSIGHT_RECORD_CGROUPS_H
#define KSIGHT_RECORD_CGROUPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cgroups;

/* Finds the cgroup v2 mount in /proc/self/mountinfo (wherever it is: often
 * /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). Returns 0 with
 * *out set, -ENOENT when no cgroup2 fs is mounted (why says so in one line),
 * -ENOMEM. */
int cgroups_open(struct cgroups **out, char *why, size_t len);
/* Where the v2 hierarchy is mounted. */
const char *cgroups_mount(const struct cgroups *cg);

/* Adds DIR (a directory of the v2 hierarchy, or a path relative to its root) as a
 * target. Returns 0; -ENOTDIR (not a cgroup v2 directory), -E2BIG (too many
 * targets), -ENOMEM; why says which in one line. */
int cgroups_add_target(struct cgroups *cg, const char *dir, char *why, size_t len);
/* The targets: count, ids and depths below the v2 root. */
uint32_t cgroups_targets(const struct cgroups *cg, const uint64_t **ids,
			 const uint32_t **levels);
/* The pids of every process in the targets or below them (malloc'd *pids).
 * Returns 0 or a negative errno. */
int cgroups_target_pids(struct cgroups *cg, pid_t **pids, size_t *n);

/* The cgroup v2 id of process pid from /proc/PID/cgroup. Returns 0, -ESRCH (it
 * is gone), -ENOENT (no v2 line). */
int cgroups_id_of_pid(struct cgroups *cg, pid_t pid, uint64_t *id);
/* Notes that the trace refers to id, and returns its path below the v2 root
 * ("/" for the root), resolving ids it has not seen yet; NULL when the cgroup
 * is gone before it could be named (or on ENOMEM). */
const char *cgroups_name(struct cgroups *cg, uint64_t id);
/* The meta values: "cgroups" ({"ID": "PATH", ...} for every id noted) and
 * "cgroup_targets" (["PATH", ...]); malloc'd, NULL on ENOMEM. */
char *cgroups_meta_names(const struct cgroups *cg);
char *cgroups_meta_targets(const struct cgroups *cg);
void cgroups_free(struct cgroups *cg);

#endif
