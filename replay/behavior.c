/* The behaviour classifier. The thresholds below are the whole of the policy.
 *
 * Thread time T = the sum over threads of their lifetime (from the scheduler events;
 * without them, first syscall entry to last syscall exit), minus the time spent
 * waiting on other traced tasks (futex, wait4, waitid, rt_sigsuspend, pause): a
 * shell waiting for its child, or an idle pool thread on a condition variable, is
 * not a resource use of its own. T splits into time in syscalls S (minus those
 * waits) and time outside them U = T - S, where a thread computes, takes page
 * faults, or waits on a run queue after being preempted (a thread can only block
 * inside a syscall or a fault).
 *
 * Tuned on the workloads of tests/workload.c (2-vCPU VM, busy): a CPU loop gives
 * cpu ~1.0 even when half its time is run-queue wait; O_DSYNC writes io ~1.0;
 * loopback TCP network ~0.93; touching 1 GiB of fresh pages memory ~0.9; their
 * even mix io/memory/cpu ~0.32/0.34/0.34; a compile cpu ~0.8, memory ~0.1.
 *
 *   io_intensity      = time in file_io syscalls / T        (blocked in I/O, or
 *                       copying: either way the files are the limit)
 *   network_intensity = time in network syscalls / T        (incl. poll/select/epoll)
 *   memory_intensity  = (time in memory syscalls + f * U) / T, at least
 *                       GROWTH_SHARE * min(1, RSS growth rate / GROWTH_FULL_KBPS)
 *   cpu_intensity     = (1 - f) * U / T
 *
 * where f, the share of the time outside syscalls that goes to page faults, is the
 * scheduler's estimate of on-CPU time in faults over all on-CPU time. That estimate
 * is made per time slice (sched.h: sched_fault_ns): a slice that does little else
 * than touch fresh pages (a fault at least every 16 us) counts in full whatever a
 * fault costs on this machine, elsewhere 4 us per fault, so one that computes with
 * a few faults counts barely. Run-queue wait outside
 * syscalls is shared between the two sides in that proportion (the thread wanted a
 * CPU for either). Without scheduler events there is no fault
 * count, and f becomes the old allocation-churn estimate: (memory syscalls / all
 * syscalls) * min(1, memory syscalls per second of T / MEM_RATE_FULL).
 *
 * Each intensity is clamped to [0, 1]; syscall_rate_per_sec = syscalls / wall seconds.
 * The class:
 *
 *   unknown   the window is shorter than MIN_WALL_NS (50 ms), or T is, or (without
 *             scheduler events, the only other evidence) there are fewer than
 *             MIN_CALLS (20) syscalls, or (with them) T less the run-queue wait is
 *             under MIN_ACTIVE_NS (10 ms): a few calls that waited for a CPU on a
 *             busy machine did too little to tell what bounds them
 *   X_bound   the largest intensity among those over their bar (io, network and
 *             memory: BOUND_SHARE 0.4; cpu: CPU_SHARE 0.6), when it is also at least
 *             DOMINANCE (1.5) times each of the other three
 *   mixed     otherwise: several comparable shares, or none large (e.g. sleeping)
 */
#include "replay/behavior.h"

#define MIN_WALL_NS (50ull * 1000 * 1000)
#define MIN_CALLS 20
#define MIN_ACTIVE_NS (10ull * 1000 * 1000)
#define BOUND_SHARE 0.4
#define CPU_SHARE 0.6
#define DOMINANCE 1.5
#define MEM_RATE_FULL 1000.0      /* memory syscalls per second that count fully */
#define GROWTH_FULL_KBPS 1048576.0 /* RSS growing 1 GiB/s ... */
#define GROWTH_SHARE 0.5           /* ... is at least half a memory-bound share */

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

enum behavior_class behavior_pick(const struct behavior *b)
{
	const struct {
		enum behavior_class cls;
		double v, bar;
	} c[] = {
		{ BEHAVIOR_NETWORK_BOUND, b->network_intensity, BOUND_SHARE },
		{ BEHAVIOR_IO_BOUND, b->io_intensity, BOUND_SHARE },
		{ BEHAVIOR_MEMORY_BOUND, b->memory_intensity, BOUND_SHARE },
		{ BEHAVIOR_CPU_BOUND, b->cpu_intensity, CPU_SHARE },
	};
	const unsigned n = sizeof(c) / sizeof(c[0]);
	int best = -1;

	for (unsigned i = 0; i < n; i++)
		if (c[i].v >= c[i].bar && (best < 0 || c[i].v > c[best].v))
			best = (int)i;
	if (best < 0)
		return BEHAVIOR_MIXED;
	for (unsigned i = 0; i < n; i++)
		if ((int)i != best && c[best].v < DOMINANCE * c[i].v)
			return BEHAVIOR_MIXED;
	return c[best].cls;
}

void behavior_classify(const struct behavior_input *in, struct behavior *out)
{
	double t, u, s, f, mem_share, mem_rate, wall_s = (double)in->wall_ns / 1e9;
	uint64_t span = in->has_sched && in->life_ns ? in->life_ns : in->thread_ns, tns;

	*out = (struct behavior){ .cls = BEHAVIOR_UNKNOWN };
	if (in->wall_ns)
		out->syscall_rate_per_sec = (double)in->calls / wall_s;

	/* Without thread spans (one syscall per thread), fall back on the wall time. */
	tns = span > in->wait_ns ? span - in->wait_ns : 0;
	if (!tns)
		tns = in->wall_ns;
	if (!tns || (!in->calls && !in->has_sched))
		return;
	t = (double)tns;

	s = in->syscall_ns > in->wait_ns ? (double)(in->syscall_ns - in->wait_ns) : 0;
	u = t > s ? t - s : 0;
	if (in->has_sched) {
		out->on_cpu_ratio = clamp01(ratio((double)in->on_cpu_ns, t));
		out->runq_wait_ratio = clamp01(ratio((double)in->runq_ns, t));
		out->page_faults_per_sec = ratio((double)in->faults, wall_s);
		f = clamp01(ratio((double)in->fault_ns, (double)in->on_cpu_ns));
	} else {
		mem_share = ratio((double)in->cat_calls[KS_CAT_MEMORY], (double)in->calls);
		mem_rate = (double)in->cat_calls[KS_CAT_MEMORY] / (t / 1e9);
		f = mem_share * (mem_rate >= MEM_RATE_FULL ? 1.0 : mem_rate / MEM_RATE_FULL);
	}
	out->fault_cpu_share = in->has_sched ? f : 0;

	out->io_intensity = clamp01((double)in->cat_ns[KS_CAT_FILE_IO] / t);
	out->network_intensity = clamp01((double)in->cat_ns[KS_CAT_NETWORK] / t);
	out->cpu_intensity = clamp01((1 - f) * u / t);
	out->memory_intensity = clamp01(((double)in->cat_ns[KS_CAT_MEMORY] + f * u) / t);
	if (in->has_samples && wall_s > 0) {
		double g;

		out->rss_growth_kb_per_sec = (double)in->rss_growth_kb / wall_s;
		g = GROWTH_SHARE * clamp01(out->rss_growth_kb_per_sec / GROWTH_FULL_KBPS);
		if (g > out->memory_intensity)
			out->memory_intensity = g;
	}

	if (in->wall_ns < MIN_WALL_NS || tns < MIN_WALL_NS ||
	    (!in->has_sched && in->calls < MIN_CALLS) ||
	    (in->has_sched && tns < MIN_ACTIVE_NS + in->runq_ns))
		out->cls = BEHAVIOR_UNKNOWN;
	else
		out->cls = behavior_pick(out);
}

const char *behavior_class_name(enum behavior_class cls)
{
	switch (cls) {
	case BEHAVIOR_IO_BOUND:
		return "io_bound";
	case BEHAVIOR_CPU_BOUND:
		return "cpu_bound";
	case BEHAVIOR_MEMORY_BOUND:
		return "memory_bound";
	case BEHAVIOR_NETWORK_BOUND:
		return "network_bound";
	case BEHAVIOR_MIXED:
		return "mixed";
	default:
		return "unknown";
	}
}
