/* util: the clocks every part of ksight reads, in nanoseconds. Trace times are
 * CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() reads in the probes. */
#ifndef KSIGHT_UTIL_CLOCK_H
#define KSIGHT_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t ks_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC ns: the probes' clock. */
static inline uint64_t ks_mono_ns(void)
{
	return ks_clock_ns(CLOCK_MONOTONIC);
}

/* CLOCK_REALTIME ns since the epoch. */
static inline uint64_t ks_real_ns(void)
{
	return ks_clock_ns(CLOCK_REALTIME);
}

#endif
