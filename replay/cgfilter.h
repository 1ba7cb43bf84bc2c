/* report --cgroup PATH: the processes of a trace that were in cgroup v2 PATH or
 * below it, from the cgroup ids of their process events and the trace's id ->
 * path table (meta "cgroups"). */
#ifndef KSIGHT_REPLAY_CGFILTER_H
#define KSIGHT_REPLAY_CGFILTER_H

#include "replay/trace.h"
#include "util/hmap.h"

/* Fills pids (a set: pid -> 1) with every process whose events put it in path or
 * below (path: as the report shows it, "/a/b", or under the recorded mount
 * point). Returns 0; -ENOENT when the trace names no such cgroup; -ENODATA when
 * it has no cgroup table; -ENOMEM; or a trace error (t->err set). */
int replay_cgroup_pids(struct replay_trace *t, const char *path, struct ks_hmap *pids);

#endif
