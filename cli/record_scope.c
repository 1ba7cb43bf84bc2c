/* record: --cgroup, the processes running at the start, cgroup attribution and
 * --injector-cmd, wired to the recorder libraries (record/cgroups.c,
 * record/procscan.c, record/injector.c). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/events.h"
#include "cli/cli.h"
#include "cli/record_scope.h"
#include "record/cgroups.h"
#include "record/consumer.h"
#include "record/probes.h"
#include "store/store.h"
#include "util/cgpath.h"
#include "util/clock.h"
#include "util/units.h"

#define INJECTOR_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)
#define INJECTOR_GRACE_NS (2ull * 1000 * 1000 * 1000)

int scope_option(struct record_scope *s, int opt, const char *arg)
{
	switch (opt) {
	case SCOPE_OPT_CGROUP:
		if (s->ncgroups >= KS_CGROUP_MAX) {
			ks_error("--cgroup: at most %d cgroups", KS_CGROUP_MAX);
			return -1;
		}
		s->cgroup_dirs[s->ncgroups++] = arg;
		return 0;
	case SCOPE_OPT_INJECTOR:
		if (!*arg) {
			ks_error("--injector-cmd: the command is empty");
			return -1;
		}
		s->injector_cmd = arg;
		return 0;
	case SCOPE_OPT_INJECTOR_TIMEOUT:
		if (ks_parse_duration(arg, &s->injector_timeout_ns) || !s->injector_timeout_ns) {
			ks_error("--injector-timeout '%s' is not a duration (e.g. 5s)", arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

int scope_open(struct record_scope *s, struct probes_opts *po)
{
	const uint64_t *ids;
	const uint32_t *levels;
	char why[4096 + 256];
	int err;

	err = cgroups_open(&s->cg, why, sizeof(why));
	if (err && s->ncgroups) {
		ks_error("--cgroup: %s", why);
		return -1;
	}
	if (err)
		ks_debug("processes are not attributed to cgroups: %s", why);
	for (int i = 0; i < s->ncgroups; i++)
		if (cgroups_add_target(s->cg, s->cgroup_dirs[i], why, sizeof(why))) {
			ks_error("%s", why);
			return -1;
		}
	if (s->ncgroups) {
		po->cg_count = cgroups_targets(s->cg, &ids, &levels);
		po->cg_ids = ids;
		po->cg_levels = levels;
		for (uint32_t i = 0; i < po->cg_count; i++)
			ks_debug("--cgroup %s: id %" PRIu64 ", level %u (v2 at %s)",
				 s->cgroup_dirs[i], ids[i], levels[i], cgroups_mount(s->cg));
	}
	return 0;
}

/* Every process event: its cgroup named (so the trace keeps the path even if the
 * cgroup goes away), and each exec handed to the hook. */
static void on_proc(void *ctx, const struct ks_proc *p)
{
	struct record_scope *s = ctx;
	const char *path = s->cg && p->cgroup ? cgroups_name(s->cg, p->cgroup) : NULL;

	if (s->inj && p->what == KS_PROC_EXEC) {
		struct ks_cgpath cp;
		char comm[KS_COMM_MAX + 1], link[64], exe[KS_EXE_MAX];
		ssize_t n;

		ks_cgpath_parse(path ? path : "", &cp);
		snprintf(comm, sizeof(comm), "%.*s", KS_COMM_MAX, p->comm);
		/* read now, while the process most likely runs; else its argv[0] */
		snprintf(link, sizeof(link), "/proc/%u/exe", p->pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n > 0)
			exe[n] = 0;
		else
			snprintf(exe, sizeof(exe), "%.*s", (int)strnlen(p->argv, p->argv_len),
				 p->argv);
		injector_exec(s->inj, p->pid, comm, exe, path, cp.container_id);
	}
	if (s->next)
		s->next(s->next_ctx, p);
}

int scope_start(struct record_scope *s, struct consumer *c, const pid_t *pids, size_t npids,
		bool all, bool probes)
{
	pid_t *members = NULL;
	size_t nmembers = 0;
	int err = 0;

	if (s->ncgroups && (err = cgroups_target_pids(s->cg, &members, &nmembers)))
		ks_debug("cannot list the processes of the cgroups: %s", strerror(-err));
	if (all || npids || nmembers) {
		err = procscan_run(c, s->cg, nmembers ? members : pids, nmembers ? nmembers : npids,
				   all, ks_mono_ns(), &s->scan);
		if (s->scan.vanished)
			ks_debug("%" PRIu64 " processes ended before they could be read",
				 s->scan.vanished);
	}
	free(members);
	if (err) {
		ks_error("cannot read the running processes: %s", strerror(-err));
		return -1;
	}
	if (s->injector_cmd && probes) {
		const struct injector_opts io = {
			.cmd = s->injector_cmd,
			.timeout_ns = s->injector_timeout_ns ?: INJECTOR_TIMEOUT_NS,
			.max_running = 8, .max_per_sec = 50, .queue = 1024,
		};

		err = injector_start(&io, &s->inj);
		if (err) {
			ks_error("cannot start --injector-cmd: %s", strerror(-err));
			return -1;
		}
	}
	if (probes)
		consumer_on_proc(c, on_proc, s);
	return 0;
}

void scope_finish(struct record_scope *s)
{
	if (!s->inj)
		return;
	injector_stop(s->inj, INJECTOR_GRACE_NS, &s->hooks);
	s->inj = NULL;
}

static int put_u64(struct ks_store *st, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return ks_store_put_meta(st, key, buf);
}

int scope_write_meta(struct record_scope *s, struct ks_store *st)
{
	char *names = s->cg ? cgroups_meta_names(s->cg) : NULL;
	char *targets = s->cg && s->ncgroups ? cgroups_meta_targets(s->cg) : NULL;
	int err = 0;

	if (s->cg) {
		err = err ?: ks_store_put_meta(st, "cgroup_mount", cgroups_mount(s->cg));
		err = err ?: names ? ks_store_put_meta(st, "cgroups", names) : -ENOMEM;
	}
	if (targets)
		err = err ?: ks_store_put_meta(st, "cgroup_targets", targets);
	err = err ?: put_u64(st, "procs_at_start", s->scan.read);
	err = err ?: put_u64(st, "procs_vanished_at_start", s->scan.vanished);
	if (s->injector_cmd) {
		err = err ?: ks_store_put_meta(st, "injector_cmd", s->injector_cmd);
		err = err ?: put_u64(st, "injector_execs", s->hooks.execs);
		err = err ?: put_u64(st, "injector_started", s->hooks.started);
		err = err ?: put_u64(st, "injector_ok", s->hooks.ok);
		err = err ?: put_u64(st, "injector_failed", s->hooks.failed);
		err = err ?: put_u64(st, "injector_timeouts", s->hooks.timeouts);
		err = err ?: put_u64(st, "injector_skipped", s->hooks.skipped);
		err = err ?: put_u64(st, "injector_spawn_errors", s->hooks.spawn_errors);
	}
	free(names);
	free(targets);
	return err;
}

void scope_free(struct record_scope *s)
{
	scope_finish(s);
	cgroups_free(s->cg);
	s->cg = NULL;
}
