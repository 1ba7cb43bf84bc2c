/* First version of the behaviour classifier: syscall figures only. Scheduler data
 * (run time, switches) and page faults will refine it; the thresholds below are
 * the whole of the policy.
 *
 * Thread time T = sum over threads of their active span (first syscall entry to
 * last syscall exit) minus the time spent waiting on other traced tasks (futex,
 * wait4, waitid): a shell waiting for its child, or an idle pool thread waiting on
 * a condition variable, is not a resource use of its own. Then:
 *
 *   io_intensity      = time in file_io syscalls / T
 *   network_intensity = time in network syscalls (incl. poll/select/epoll) / T
 *   cpu_intensity     = 1 - (time in syscalls - task waits) / T
 *                       (the share of thread time not blocked in the kernel)
 *   memory_intensity  = time in memory syscalls / T
 *                       + cpu_intensity * (memory syscalls / all syscalls)
 *                         * min(1, memory syscalls per second of T / 1000)
 *                       (allocation churn: mmap/munmap/brk at a high rate while
 *                       running means page faults and zeroing in user time)
 *
 * each clamped to [0, 1]; syscall_rate_per_sec = syscalls / wall seconds. Class:
 *
 *   unknown        wall < 50 ms, or fewer than 20 syscalls
 *   network_bound  network >= 0.4 and network >= io
 *   io_bound       io >= 0.4
 *   memory_bound   memory >= 0.4
 *   cpu_bound      cpu >= 0.6
 *   mixed          none of the above (e.g. sleeping, or several moderate shares)
 */
#include "replay/behavior.h"

#define MIN_WALL_NS (50ull * 1000 * 1000)
#define MIN_CALLS 20
#define BOUND_SHARE 0.4
#define CPU_SHARE 0.6
#define MEM_RATE_FULL 1000.0 /* memory syscalls per second that count fully */

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

void behavior_classify(const struct behavior_input *in, struct behavior *out)
{
	double t, mem_share, mem_rate, blocked;
	uint64_t tns;

	*out = (struct behavior){ .cls = BEHAVIOR_UNKNOWN };
	if (in->wall_ns)
		out->syscall_rate_per_sec = (double)in->calls / ((double)in->wall_ns / 1e9);

	/* Without thread spans (one syscall per thread), fall back on the wall time. */
	tns = in->thread_ns > in->wait_ns ? in->thread_ns - in->wait_ns : 0;
	if (!tns)
		tns = in->wall_ns;
	if (!tns || !in->calls)
		return;
	t = (double)tns;

	out->io_intensity = clamp01((double)in->cat_ns[KS_CAT_FILE_IO] / t);
	out->network_intensity = clamp01((double)in->cat_ns[KS_CAT_NETWORK] / t);
	blocked = in->syscall_ns > in->wait_ns ? (double)(in->syscall_ns - in->wait_ns) : 0;
	out->cpu_intensity = clamp01(1.0 - blocked / t);
	mem_share = (double)in->cat_calls[KS_CAT_MEMORY] / (double)in->calls;
	mem_rate = (double)in->cat_calls[KS_CAT_MEMORY] / (t / 1e9);
	out->memory_intensity = clamp01((double)in->cat_ns[KS_CAT_MEMORY] / t +
					out->cpu_intensity * mem_share *
						(mem_rate >= MEM_RATE_FULL ? 1.0 : mem_rate / MEM_RATE_FULL));

	if (in->wall_ns < MIN_WALL_NS || in->calls < MIN_CALLS)
		out->cls = BEHAVIOR_UNKNOWN;
	else if (out->network_intensity >= BOUND_SHARE &&
		 out->network_intensity >= out->io_intensity)
		out->cls = BEHAVIOR_NETWORK_BOUND;
	else if (out->io_intensity >= BOUND_SHARE)
		out->cls = BEHAVIOR_IO_BOUND;
	else if (out->memory_intensity >= BOUND_SHARE)
		out->cls = BEHAVIOR_MEMORY_BOUND;
	else if (out->cpu_intensity >= CPU_SHARE)
		out->cls = BEHAVIOR_CPU_BOUND;
	else
		out->cls = BEHAVIOR_MIXED;
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
