/* The time model's classifier. Thread time T is every bucket; waiting on another
 * traced task (pipe, child, lock) is not a resource of its own, so the shares are
 * of C = T - pipe - child - lock: a pipeline is classified by the stage that
 * limits it, a shell by what its children did. Over C:
 *
 *   X_intensity = the time resource X took (struct tm_times.res: blocked on it, on
 *                 a CPU for it, and its share of the run-queue wait) / C
 *
 * for X in io, network, memory, cpu (see replay/timemodel.c). sleep, poll and other
 * count in C and in no intensity (an idle program is no resource's). The class,
 * as replay/behavior.c picks it (behavior_pick): the largest intensity over its
 * bar (io, network, memory 0.4; cpu 0.6) that is also 1.5 times each other one;
 * mixed otherwise; unknown when the window or T is under 50 ms. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "replay/syscalls.h"
#include "replay/timeclass.h"
#include "util/units.h"

#define MIN_NS (50ull * 1000 * 1000)
#define WAITS_NOTED 0.1 /* waits on other tasks over this share of T are mentioned */

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* What a cause waited on, for a sentence: "app.db", "127.0.0.1:8080", "a pipe". */
static const char *object_words(const struct fdt_object *o, char *buf, size_t n)
{
	switch (o->kind) {
	case FDT_FILE: {
		const char *base = o->name ? strrchr(o->name, '/') : NULL;

		snprintf(buf, n, "%s", base && base[1] ? base + 1 : o->name ? o->name : "a file");
		return buf;
	}
	case FDT_SOCKET:
		if (o->remote)
			snprintf(buf, n, "a socket to %s", o->remote);
		else if (o->local)
			snprintf(buf, n, "a socket on %s", o->local);
		else
			snprintf(buf, n, "a socket");
		return buf;
	case FDT_PIPE:
		return "a pipe";
	default:
		return NULL;
	}
}

static bool is_epoll(uint32_t nr)
{
#ifdef SYS_epoll_wait
	if (nr == SYS_epoll_wait)
		return true;
#endif
	return nr == SYS_epoll_pwait;
}

/* "blocked on fdatasync of app.db" for the cause of bucket k, or a fallback. */
static void cause_words(const struct timemodel *m, enum tm_bucket k, const char *fallback,
			char *out, size_t n)
{
	const struct tm_cause *c = tm_top_cause(m, k);
	char nb[KS_SYSCALL_NAME_MAX], ob[200];
	const char *what;

	if (!c) {
		snprintf(out, n, "%s", fallback);
		return;
	}
	what = k == TM_NETWORK && is_epoll(c->nr) ? "sockets" : object_words(tm_object(m, c->obj), ob, sizeof(ob));
	if (what)
		snprintf(out, n, "blocked on %s of %s", ks_syscall_name(c->nr, nb), what);
	else
		snprintf(out, n, "blocked on %s", ks_syscall_name(c->nr, nb));
}

/* "78% of thread time blocked on fdatasync of app.db" when blocking is most of
 * the resource's share, else the share with the blocking named after it. */
static void bound_words(char *out, size_t n, const char *res, double share, uint64_t blocked,
			uint64_t c, const char *what, const char *note)
{
	if (2 * (double)blocked >= share)
		snprintf(out, n, "%u%% of thread time %s%s", tm_pct(blocked, c), what, note);
	else
		snprintf(out, n, "%u%% of thread time on %s in the kernel or waiting for a CPU for "
			 "it, %u%% %s%s", tm_pct((uint64_t)share, c), res, tm_pct(blocked, c),
			 what, note);
}

void tm_classify(const struct timemodel *m, uint64_t wall_ns, struct behavior *b, char *reason,
		 size_t n)
{
	const uint64_t *v = m->total.ns;
	uint64_t t = m->total.total, waits = v[TM_PIPE] + v[TM_CHILD] + v[TM_LOCK], c;
	double oncpu, cpu, mem, io, net;
	double growth_mem = b->memory_intensity;
	char what[320], note[128] = "", db[KS_DUR_BUF], tb[KS_DUR_BUF];
	enum tm_bucket top = TM_OTHER;

	c = t > waits ? t - waits : 0;
	oncpu = (double)(v[TM_CPU_USER] + v[TM_CPU_KERNEL] + v[TM_PAGE_FAULTS]);
	cpu = m->total.res[TM_RES_CPU];
	mem = m->total.res[TM_RES_MEM];
	io = m->total.res[TM_RES_IO];
	net = m->total.res[TM_RES_NET];

	b->cls = BEHAVIOR_UNKNOWN;
	b->io_intensity = c ? clamp01(io / (double)c) : 0;
	b->network_intensity = c ? clamp01(net / (double)c) : 0;
	b->cpu_intensity = c ? clamp01(cpu / (double)c) : 0;
	b->memory_intensity = c ? clamp01(mem / (double)c) : 0;
	/* RSS growing fast is memory-bound work whatever the faults cost (behavior.c) */
	if (growth_mem > b->memory_intensity && b->rss_growth_kb_per_sec > 0)
		b->memory_intensity = growth_mem;
	b->on_cpu_ratio = t ? clamp01((double)(v[TM_CPU_USER] + v[TM_CPU_KERNEL]) / (double)t) : 0;
	b->runq_wait_ratio = t ? clamp01((double)v[TM_RUN_QUEUE] / (double)t) : 0;
	b->fault_cpu_share = oncpu > 0 ? clamp01((double)v[TM_PAGE_FAULTS] / oncpu) : 0;
	b->page_faults_per_sec = wall_ns ? (double)m->faults / ((double)wall_ns / 1e9) : 0;

	if (wall_ns < MIN_NS || t < MIN_NS) {
		snprintf(reason, n, "too short to classify: %s of wall time, %s of thread time",
			 ks_fmt_dur(db, wall_ns), ks_fmt_dur(tb, t));
		return;
	}
	if (c < MIN_NS) {
		b->cls = BEHAVIOR_MIXED;
		snprintf(reason, n, "%u%% of thread time waiting on other traced tasks "
			 "(pipes, children, locks): none of it is a resource's", tm_pct(waits, t));
		return;
	}
	b->cls = behavior_pick(b);
	if (waits >= WAITS_NOTED * (double)t)
		snprintf(note, sizeof(note), ", not counting the %u%% waiting on other traced tasks",
			 tm_pct(waits, t));
	switch (b->cls) {
	case BEHAVIOR_CPU_BOUND:
		if (v[TM_RUN_QUEUE] * 10 >= c)
			snprintf(what, sizeof(what), " and %u%% waiting for one",
				 tm_pct(v[TM_RUN_QUEUE], c));
		else
			what[0] = 0;
		snprintf(reason, n, "%u%% of thread time on a CPU (%u%% user, %u%% kernel)%s%s",
			 tm_pct(v[TM_CPU_USER] + v[TM_CPU_KERNEL], c), tm_pct(v[TM_CPU_USER], c),
			 tm_pct(v[TM_CPU_KERNEL], c), what, note);
		return;
	case BEHAVIOR_MEMORY_BOUND:
		snprintf(reason, n, "%u%% of thread time in page faults and memory syscalls "
			 "(%llu faults)%s", tm_pct((uint64_t)mem, c),
			 (unsigned long long)m->faults, note);
		return;
	case BEHAVIOR_IO_BOUND:
		cause_words(m, TM_DISK, "blocked on files", what, sizeof(what));
		bound_words(reason, n, "file I/O", io, v[TM_DISK], c, what, note);
		return;
	case BEHAVIOR_NETWORK_BOUND:
		cause_words(m, TM_NETWORK, "blocked on sockets", what, sizeof(what));
		bound_words(reason, n, "the network", net, v[TM_NETWORK], c, what, note);
		return;
	default:
		break;
	}
	/* mixed: the largest bucket that is no wait on another task */
	for (unsigned k = 0; k < TM_NBUCKETS; k++)
		if (k != TM_PIPE && k != TM_CHILD && k != TM_LOCK && v[k] > v[top])
			top = k;
	if (top == TM_SLEEP || top == TM_POLL || top == TM_OTHER) {
		cause_words(m, top, top == TM_SLEEP ? "sleeping" : top == TM_POLL ?
			    "polling fds of unknown kind" : "blocked", what, sizeof(what));
		snprintf(reason, n, "no resource dominates: %u%% of thread time %s%s",
			 tm_pct(v[top], c), what, note);
	} else {
		snprintf(reason, n, "no resource dominates: cpu %u%%, io %u%%, memory %u%%, "
			 "network %u%% of thread time%s", (unsigned)(b->cpu_intensity * 100 + 0.5),
			 (unsigned)(b->io_intensity * 100 + 0.5),
			 (unsigned)(b->memory_intensity * 100 + 0.5),
			 (unsigned)(b->network_intensity * 100 + 0.5), note);
	}
}
