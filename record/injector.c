/* The exec hook runner: a queue filled by the drain thread, a thread that spawns
 * (posix_spawn, own process group, default signals) within the limits and reaps
 * its own children by pid, killing those past their deadline. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "format/event.h"
#include "record/injector.h"
#include "util/clock.h"
#include "util/log.h"

extern char **environ;

#define TICK_NS (20ull * 1000 * 1000)

struct hook_req {
	pid_t pid;
	char comm[KS_COMM_MAX + 1];
	char exe[KS_EXE_MAX];
	char cgroup[512];
	char container[128];
};

struct hook_run {
	pid_t pid;       /* the hook */
	pid_t target;
	uint64_t deadline;
};

struct injector {
	struct injector_opts o;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hook_req *q;
	size_t head, count;
	struct hook_run *runs;
	size_t nruns;
	bool stop;
	uint64_t stop_deadline;
	uint64_t window_start; /* the rate limit's one-second window */
	unsigned window_runs;
	bool said_failure;
	struct injector_stats st;
};

static void put_env(char **env, size_t *n, const char *name, const char *val)
{
	if (asprintf(&env[*n], "%s=%s", name, val ? val : "") >= 0)
		(*n)++;
	else
		env[*n] = NULL;
}

static void spawn(struct injector *inj, const struct hook_req *r)
{
	char pidstr[16], *script = NULL;
	char **env;
	size_t nenv = 0, n = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dflt;
	pid_t pid;
	int err;

	snprintf(pidstr, sizeof(pidstr), "%d", (int)r->pid);
	while (environ[nenv])
		nenv++;
	env = calloc(nenv + 6, sizeof(*env));
	/* the pid follows CMD's own arguments: argv[1] when CMD has none */
	if (!env || asprintf(&script, "%s \"$@\"", inj->o.cmd) < 0) {
		free(env);
		inj->st.spawn_errors++;
		return;
	}
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "KSIGHT_", 7))
			env[n++] = strdup(environ[i]);
	put_env(env, &n, "KSIGHT_PID", pidstr);
	put_env(env, &n, "KSIGHT_COMM", r->comm);
	put_env(env, &n, "KSIGHT_EXE", r->exe);
	put_env(env, &n, "KSIGHT_CGROUP", r->cgroup);
	put_env(env, &n, "KSIGHT_CONTAINER_ID", r->container);
	env[n] = NULL;
	sigemptyset(&none);
	sigfillset(&dflt);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dflt);
	err = posix_spawn(&pid, "/bin/sh", &fa, &at,
			  (char *[]){ "sh", "-c", script, "ksight-injector", pidstr, NULL }, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	free(script);
	if (err) {
		inj->st.spawn_errors++;
		ks_debug("injector: cannot run /bin/sh for pid %d: %s", (int)r->pid, strerror(err));
		return;
	}
	inj->st.started++;
	inj->runs[inj->nruns++] = (struct hook_run){ .pid = pid, .target = r->pid,
						     .deadline = ks_mono_ns() + inj->o.timeout_ns };
}

static void failed(struct injector *inj, const struct hook_run *h, const char *how, int v)
{
	if (!inj->said_failure) {
		ks_error("--injector-cmd for pid %d %s %d (later failures are counted in the "
			 "trace meta; --debug logs each)", (int)h->target, how, v);
		inj->said_failure = true;
	} else {
		ks_debug("injector: the hook for pid %d %s %d", (int)h->target, how, v);
	}
}

/* Reaps finished hooks and kills those past their deadline (or all, at the end). */
static void reap(struct injector *inj, uint64_t now, bool kill_all)
{
	for (size_t i = 0; i < inj->nruns;) {
		struct hook_run *h = &inj->runs[i];
		int status;
		pid_t w = waitpid(h->pid, &status, WNOHANG);

		if (w == 0 && (kill_all || now >= h->deadline)) {
			kill(-h->pid, SIGKILL);
			kill(h->pid, SIGKILL);
			waitpid(h->pid, &status, 0);
			inj->st.timeouts++;
			failed(inj, h, "was killed: still running after (ms)",
			       (int)(inj->o.timeout_ns / 1000000));
		} else if (w == 0) {
			i++;
			continue;
		} else if (w < 0) {
			inj->st.failed++;
		} else if (WIFEXITED(status) && !WEXITSTATUS(status)) {
			inj->st.ok++;
		} else {
			inj->st.failed++;
			if (WIFEXITED(status))
				failed(inj, h, "exited with status", WEXITSTATUS(status));
			else
				failed(inj, h, "was killed by signal", WTERMSIG(status));
		}
		kill(-h->pid, SIGKILL); /* what the hook left behind in its group */
		inj->runs[i] = inj->runs[--inj->nruns];
	}
}

static void *run(void *arg)
{
	struct injector *inj = arg;

	pthread_mutex_lock(&inj->mu);
	for (;;) {
		uint64_t now = ks_mono_ns();
		struct timespec ts;

		reap(inj, now, inj->stop && now >= inj->stop_deadline);
		if (now - inj->window_start >= 1000000000ull) {
			inj->window_start = now;
			inj->window_runs = 0;
		}
		/* at the end, what is queued still runs within the grace time */
		while ((!inj->stop || now < inj->stop_deadline) && inj->count &&
		       inj->nruns < inj->o.max_running &&
		       inj->window_runs < inj->o.max_per_sec) {
			struct hook_req r = inj->q[inj->head];

			inj->head = (inj->head + 1) % inj->o.queue;
			inj->count--;
			inj->window_runs++;
			pthread_mutex_unlock(&inj->mu);
			spawn(inj, &r);
			pthread_mutex_lock(&inj->mu);
		}
		if (inj->stop && !inj->nruns && (!inj->count || now >= inj->stop_deadline))
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TICK_NS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!inj->nruns && !inj->count && !inj->stop)
			pthread_cond_wait(&inj->cv, &inj->mu);
		else
			pthread_cond_timedwait(&inj->cv, &inj->mu, &ts);
	}
	inj->st.skipped += inj->count;
	inj->count = 0;
	pthread_mutex_unlock(&inj->mu);
	return NULL;
}

int injector_start(const struct injector_opts *o, struct injector **out)
{
	struct injector *inj = calloc(1, sizeof(*inj));
	pthread_condattr_t ca;
	int err;

	if (!inj)
		return -ENOMEM;
	inj->o = *o;
	if (!inj->o.max_running)
		inj->o.max_running = 1;
	if (!inj->o.queue)
		inj->o.queue = 1;
	inj->q = calloc(inj->o.queue, sizeof(*inj->q));
	inj->runs = calloc(inj->o.max_running, sizeof(*inj->runs));
	if (!inj->q || !inj->runs) {
		err = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&inj->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inj->cv, &ca);
	pthread_condattr_destroy(&ca);
	inj->window_start = ks_mono_ns();
	err = -pthread_create(&inj->thread, NULL, run, inj);
	if (err)
		goto fail;
	*out = inj;
	return 0;
fail:
	free(inj->q);
	free(inj->runs);
	free(inj);
	return err;
}

void injector_exec(struct injector *inj, pid_t pid, const char *comm, const char *exe,
		   const char *cgroup, const char *container_id)
{
	struct hook_req *r;

	pthread_mutex_lock(&inj->mu);
	inj->st.execs++;
	if (inj->count >= inj->o.queue) {
		inj->st.skipped++;
		pthread_mutex_unlock(&inj->mu);
		return;
	}
	r = &inj->q[(inj->head + inj->count++) % inj->o.queue];
	r->pid = pid;
	snprintf(r->comm, sizeof(r->comm), "%s", comm ? comm : "");
	snprintf(r->exe, sizeof(r->exe), "%s", exe ? exe : "");
	snprintf(r->cgroup, sizeof(r->cgroup), "%s", cgroup ? cgroup : "");
	snprintf(r->container, sizeof(r->container), "%s", container_id ? container_id : "");
	pthread_cond_signal(&inj->cv);
	pthread_mutex_unlock(&inj->mu);
}

void injector_stop(struct injector *inj, uint64_t grace_ns, struct injector_stats *st)
{
	if (!inj)
		return;
	pthread_mutex_lock(&inj->mu);
	inj->stop = true;
	inj->stop_deadline = ks_mono_ns() + grace_ns;
	pthread_cond_signal(&inj->cv);
	pthread_mutex_unlock(&inj->mu);
	pthread_join(inj->thread, NULL);
	if (st)
		*st = inj->st;
	pthread_mutex_destroy(&inj->mu);
	pthread_cond_destroy(&inj->cv);
	free(inj->q);
	free(inj->runs);
	free(inj);
}
