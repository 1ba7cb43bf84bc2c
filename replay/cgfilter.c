/* The pid set behind report --cgroup: one walk of the process segments. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "replay/cgfilter.h"
#include "store/store.h"

struct walk {
	struct ks_hmap ids; /* the cgroup ids in the selection */
	struct ks_hmap *pids;
};

static int add_procs(void *ctx, const struct ks_seg_header *hdr, uint64_t seq, const void *rows)
{
	struct walk *w = ctx;
	const struct ks_proc *p = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++)
		if (p[i].cgroup && ks_hmap_get(&w->ids, p[i].cgroup) &&
		    ks_hmap_put(w->pids, p[i].pid, 1))
			return -ENOMEM;
	return 0;
}

/* Whether cgroup path c is want or below it. */
static bool under(const char *c, const char *want)
{
	size_t n = strlen(want);

	while (n > 1 && want[n - 1] == '/')
		n--;
	if (n == 1 && want[0] == '/')
		return true;
	return !strncmp(c, want, n) && (c[n] == 0 || c[n] == '/');
}

int replay_cgroup_pids(struct replay_trace *t, const char *path, struct ks_hmap *pids)
{
	struct walk w = { .pids = pids };
	char *raw = NULL, *mnt = NULL;
	const char *key, *want = path;
	json_t *names, *v;
	int err;

	if (ks_store_get_meta(t->st, "cgroups", &raw) || !raw)
		return -ENODATA;
	names = json_loads(raw, 0, NULL);
	free(raw);
	if (!json_is_object(names)) {
		json_decref(names);
		return -ENODATA;
	}
	/* a path under the recorded mount point names the same cgroup */
	if (!ks_store_get_meta(t->st, "cgroup_mount", &mnt) && mnt) {
		size_t n = strlen(mnt);

		if (n > 1 && !strncmp(path, mnt, n) && (path[n] == '/' || !path[n]))
			want = path[n] ? path + n : "/";
	}
	err = 0;
	json_object_foreach(names, key, v) {
		const char *c = json_string_value(v);

		if (c && under(c, want) && ks_hmap_put(&w.ids, strtoull(key, NULL, 10), 1))
			err = -ENOMEM;
	}
	json_decref(names);
	free(mnt);
	if (!err && !w.ids.n)
		err = -ENOENT;
	if (!err)
		err = replay_each_segment(t, KS_KIND_PROC, add_procs, &w);
	ks_hmap_free(&w.ids);
	return err;
}
