/* Latency histograms: a log-linear one with bounded relative error for percentiles,
 * and libbpf-tools-style log2 slots for the printed distributions. */
#ifndef KSIGHT_REPLAY_HIST_H
#define KSIGHT_REPLAY_HIST_H

#include <stdint.h>
#include <stdio.h>

/*
 * Log-linear buckets: values below 2^(SUB_BITS+1) = 256 have a bucket each (exact);
 * above, each power of two [2^e, 2^(e+1)) is cut into 2^SUB_BITS = 128 equal
 * sub-buckets, each 2^(e-7) wide. A value is reported as the middle of its bucket,
 * so the relative error of any percentile is at most 2^(e-7)/2 / 2^e = 1/256
 * (< 0.4%), and 0 below 256 ns. 7424 buckets cover all of uint64_t.
 */
#define KS_HIST_SUB_BITS 7
#define KS_HIST_BUCKETS ((64 - KS_HIST_SUB_BITS + 1) << KS_HIST_SUB_BITS)
#define KS_HIST_MAX_REL_ERROR (1.0 / 256)

struct ks_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min; /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t bucket[KS_HIST_BUCKETS];
};

/* Returns the bucket index of v: branch-free, a count-leading-zeros and shifts. */
static inline unsigned ks_hist_index(uint64_t v)
{
	unsigned e = 63 - (unsigned)__builtin_clzll(v | ((2u << KS_HIST_SUB_BITS) - 1));
	unsigned sh = e - KS_HIST_SUB_BITS;

	return (sh << KS_HIST_SUB_BITS) + (unsigned)(v >> sh);
}

/* Adds one value. */
static inline void ks_hist_add(struct ks_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	h->min = v < h->min ? v : h->min;
	h->max = v > h->max ? v : h->max;
	h->bucket[ks_hist_index(v)]++;
}

/* Empties h. */
void ks_hist_init(struct ks_hist *h);

/* Adds every value of src to dst. */
void ks_hist_merge(struct ks_hist *dst, const struct ks_hist *src);

/* Returns the smallest and largest value that fall into bucket idx. */
void ks_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi);

/* Returns the p-th percentile (0 <= p <= 100, nearest rank: the value at rank
 * ceil(p/100 * count)) within KS_HIST_MAX_REL_ERROR; exact min/max at 0 and 100.
 * Returns 0 when h is empty. */
uint64_t ks_hist_percentile(const struct ks_hist *h, double p);

/*
 * A compact log-linear histogram for per-process figures (run-queue latency of each
 * process): 16 sub-buckets per power of two, so a percentile is within 1/32 (3.1%)
 * of the exact value; 976 32-bit counters (3.8 KiB), saturating.
 */
#define KS_CHIST_SUB_BITS 4
#define KS_CHIST_BUCKETS ((64 - KS_CHIST_SUB_BITS + 1) << KS_CHIST_SUB_BITS)
#define KS_CHIST_MAX_REL_ERROR (1.0 / 32)

struct ks_chist {
	uint64_t count;
	uint64_t min, max; /* min is UINT64_MAX while empty */
	uint32_t bucket[KS_CHIST_BUCKETS];
};

static inline unsigned ks_chist_index(uint64_t v)
{
	unsigned e = 63 - (unsigned)__builtin_clzll(v | ((2u << KS_CHIST_SUB_BITS) - 1));
	unsigned sh = e - KS_CHIST_SUB_BITS;

	return (sh << KS_CHIST_SUB_BITS) + (unsigned)(v >> sh);
}

/* Empties h. */
void ks_chist_init(struct ks_chist *h);

/* Adds one value. */
static inline void ks_chist_add(struct ks_chist *h, uint64_t v)
{
	uint32_t *b = &h->bucket[ks_chist_index(v)];

	h->count++;
	h->min = v < h->min ? v : h->min;
	h->max = v > h->max ? v : h->max;
	*b += *b != UINT32_MAX;
}

/* Adds every value of src to dst. */
void ks_chist_merge(struct ks_chist *dst, const struct ks_chist *src);

/* Returns the p-th percentile as ks_hist_percentile does, within
 * KS_CHIST_MAX_REL_ERROR; 0 when h is empty. */
uint64_t ks_chist_percentile(const struct ks_chist *h, double p);

/* Log2 slots as libbpf-tools print them: slot i holds [2^i, 2^(i+1)), 0 in slot 0. */
#define KS_LOG2_SLOTS 64

/* Returns the log2 slot of v: floor(log2(v)), and 0 for 0. */
static inline unsigned ks_log2_slot(uint64_t v)
{
	return 63 - (unsigned)__builtin_clzll(v | 1);
}

/* Prints slots[0..n) like libbpf-tools' print_log2_hist: a header
 * "     usecs               : count    distribution" and one line per slot up to
 * the last non-empty one, with a bar of stars scaled to the largest count.
 * Prints nothing when every slot is empty. */
void ks_log2_print(FILE *f, const uint64_t *slots, unsigned n, const char *unit);

#endif
