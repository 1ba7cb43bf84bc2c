/* cgroups[] of the JSON report: the processes of the trace grouped by the cgroup
 * v2 id their process events carry, named by the meta "cgroups" table, with the
 * container id or systemd unit the path shows (util/cgpath.h). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "replay/report.h"
#include "store/store.h"
#include "util/cgpath.h"
#include "util/grow.h"
#include "util/hmap.h"

struct cg_sum {
	uint64_t id;
	uint64_t procs, calls, cpu_ns, read_bytes, write_bytes;
	bool sampled;
};

static uint64_t cum(const struct sched_cum *c)
{
	return c->max > c->before ? c->max - c->before : 0;
}

/* Sums per cgroup id into *out (malloc'd, *n entries). */
static int sum(const struct report *r, struct cg_sum **out, size_t *n)
{
	struct ks_hmap calls = { 0 }, index = { 0 };
	struct cg_sum *v = NULL;
	size_t cap = 0;
	int err = 0;

	*n = 0;
	for (size_t i = 0; i < r->a.nthreads && !err; i++) {
		uint64_t *c = ks_hmap_upsert(&calls, r->a.threads[i].pid, 0, NULL);

		if (!c)
			err = -ENOMEM;
		else
			*c += r->a.threads[i].calls;
	}
	for (size_t i = 0; i < r->a.procs.n && !err; i++) {
		const struct replay_proc *p = &r->a.procs.v[i];
		const struct sched_proc *sp = sched_find_record(&r->a.sched, (uint32_t)i);
		const uint64_t *c = ks_hmap_get(&calls, p->pid);
		bool added;
		uint64_t *slot;
		struct cg_sum *s;

		if (!replay_pid_wanted(r->a.o.has_pid, r->a.o.pid, r->a.o.pids, p->pid))
			continue;
		slot = ks_hmap_upsert(&index, p->cgroup, *n, &added);
		if (!slot || (added && KS_GROW(&v, &cap, *n + 1))) {
			err = -ENOMEM;
			break;
		}
		if (added)
			v[(*n)++] = (struct cg_sum){ .id = p->cgroup };
		s = &v[*slot];
		s->procs++;
		s->calls += c ? *c : 0;
		if (sp) {
			s->cpu_ns += sched_available(&r->a.sched) ? sp->c.on_ns : sp->cpu_ns;
			if (sp->samples) {
				s->sampled = true;
				s->read_bytes += cum(&sp->read_bytes);
				s->write_bytes += cum(&sp->write_bytes);
			}
		}
	}
	ks_hmap_free(&calls);
	ks_hmap_free(&index);
	if (err)
		free(v);
	*out = err ? NULL : v;
	return err;
}

json_t *report_json_cgroups(const struct report *r)
{
	json_t *list = json_array(), *names = NULL;
	struct cg_sum *v = NULL;
	char *raw = NULL;
	size_t n = 0;
	bool ok = list != NULL;

	if (!ok || sum(r, &v, &n)) {
		json_decref(list);
		return NULL;
	}
	if (!ks_store_get_meta(r->t->st, "cgroups", &raw) && raw)
		names = json_loads(raw, 0, NULL);
	for (size_t i = 0; i < n && ok; i++) {
		char key[24];
		const char *path;
		struct ks_cgpath cp;
		json_t *o;

		if (!v[i].id)
			continue; /* processes of a trace without cgroup ids */
		snprintf(key, sizeof(key), "%" PRIu64, v[i].id);
		path = json_string_value(json_object_get(names, key));
		ks_cgpath_parse(path ? path : "", &cp);
		o = json_pack("{s:I,s:s?,s:s?,s:s?,s:s?,s:I,s:I,s:f}", "id", (json_int_t)v[i].id,
			      "path", path, "container_id", cp.container_id[0] ? cp.container_id : NULL,
			      "runtime", cp.runtime, "unit", cp.unit[0] ? cp.unit : NULL,
			      "processes", (json_int_t)v[i].procs, "syscalls", (json_int_t)v[i].calls,
			      "cpu_time_ms", v[i].cpu_ns / 1e6);
		if (o && v[i].sampled) {
			json_object_set_new(o, "read_bytes", json_integer((json_int_t)v[i].read_bytes));
			json_object_set_new(o, "write_bytes",
					    json_integer((json_int_t)v[i].write_bytes));
		}
		ok = o && !json_array_append_new(list, o);
	}
	json_decref(names);
	free(raw);
	free(v);
	if (!ok) {
		json_decref(list);
		return NULL;
	}
	return list;
}
