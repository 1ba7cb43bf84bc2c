/* The time model in the reports: analysis.time and processes[].time in the JSON
 * document, and the summary the text report opens with (wall and CPU time, the
 * buckets, the class and its reason). */
#include <string.h>

#include "replay/report.h"
#include "replay/timeclass.h"
#include "util/units.h"

static json_t *jns(uint64_t ns)
{
	return json_integer(ns > INT64_MAX ? INT64_MAX : (json_int_t)ns);
}

json_t *report_json_time(const struct report *r, const struct tm_times *t)
{
	json_t *o = json_object(), *b = json_object();
	bool ok;

	if (!o || !b || json_object_set_new(o, "buckets", b)) { /* set_new takes b */
		json_decref(o);
		if (!o)
			json_decref(b);
		return NULL;
	}
	ok = !json_object_set_new(o, "total_thread_ns", jns(t->total)) &&
	     !json_object_set_new(o, "source", json_string(r->tm.has_sched ? "sched" : "syscalls"));
	for (unsigned k = 0; ok && k < TM_NBUCKETS; k++)
		ok = !json_object_set_new(b, tm_bucket_name(k), jns(t->ns[k]));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The order buckets are shown in: the work, then the waits. */
static const enum tm_bucket shown[] = {
	TM_CPU_USER, TM_CPU_KERNEL, TM_PAGE_FAULTS, TM_RUN_QUEUE, TM_DISK, TM_NETWORK,
	TM_PIPE, TM_CHILD, TM_LOCK, TM_SLEEP, TM_POLL, TM_OTHER,
};

static const char *bucket_words(enum tm_bucket k)
{
	switch (k) {
	case TM_CPU_USER: return "on a CPU, user mode";
	case TM_CPU_KERNEL: return "on a CPU, in syscalls";
	case TM_PAGE_FAULTS: return "page faults (estimated)";
	case TM_RUN_QUEUE: return "runnable, waiting for a CPU";
	case TM_DISK: return "blocked on files";
	case TM_NETWORK: return "blocked on sockets";
	case TM_PIPE: return "blocked on pipes (other tasks)";
	case TM_CHILD: return "waiting for children";
	case TM_LOCK: return "waiting on locks (futex)";
	case TM_SLEEP: return "sleeping";
	case TM_POLL: return "polling fds of unknown kind";
	default: return "blocked, other";
	}
}

void report_text_summary(FILE *f, const struct report *r)
{
	const struct tm_times *t = &r->tm.total;
	const struct sched_analysis *s = &r->a.sched;
	char d[3][KS_DUR_BUF];

	fprintf(f, "\nSUMMARY\n  wall time    %s\n", ks_fmt_dur(d[0], r->wall_ns));
	if (sched_available(s))
		fprintf(f, "  CPU time     %s (%s user, %s in syscalls)\n",
			ks_fmt_dur(d[0], s->total.on_ns),
			ks_fmt_dur(d[1], t->ns[TM_CPU_USER] + t->ns[TM_PAGE_FAULTS]),
			ks_fmt_dur(d[2], t->ns[TM_CPU_KERNEL]));
	fprintf(f, "  class        %s: %s\n", behavior_class_name(r->beh.cls), r->reason);
	if (!r->have_tm || !t->total)
		return;
	fprintf(f, "  thread time  %s over %zu threads%s\n", ks_fmt_dur(d[0], t->total),
		r->tm.nthreads, r->tm.has_sched ? "" :
		" (no scheduler events: on a CPU outside syscalls assumed)");
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		enum tm_bucket k = shown[i];

		if (!t->ns[k])
			continue;
		fprintf(f, "    %-12s %10s %5.1f%%  %s\n", tm_bucket_name(k),
			ks_fmt_dur(d[0], t->ns[k]), 100.0 * (double)t->ns[k] / (double)t->total,
			bucket_words(k));
	}
}
