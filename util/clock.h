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

/* Epoch ns of a CLOCK_MONOTONIC ts given the recorded offset between the clocks,
 * saturated to the int64 range (a hostile trace may hold any pair). */
static inline int64_t ks_mono_to_epoch(uint64_t ts, int64_t mono_to_realtime)
{
	int64_t out;

	if (ts > (uint64_t)INT64_MAX)
		ts = (uint64_t)INT64_MAX;
	if (__builtin_add_overflow((int64_t)ts, mono_to_realtime, &out))
		out = mono_to_realtime < 0 ? INT64_MIN : INT64_MAX;
	return out;
}

#endif
