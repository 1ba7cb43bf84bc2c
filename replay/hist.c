/* Histogram queries and printing; adding values is inline in hist.h because the
 * replay inner loop calls it once per event. */
#include <math.h>
#include <string.h>

#include "replay/hist.h"

void ks_hist_init(struct ks_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void ks_hist_merge(struct ks_hist *dst, const struct ks_hist *src)
{
	if (!src->count)
		return;
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	for (unsigned i = 0; i < KS_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
}

/* The range of values bucket idx holds in a histogram of sub_bits sub-buckets. */
static void bucket_range(unsigned idx, unsigned sub_bits, uint64_t *lo, uint64_t *hi)
{
	unsigned sh, sub;

	if (idx < (2u << sub_bits)) {
		*lo = *hi = idx;
		return;
	}
	sh = (idx >> sub_bits) - 1;
	sub = idx - (sh << sub_bits);
	*lo = (uint64_t)sub << sh;
	*hi = *lo + ((1ull << sh) - 1);
}

void ks_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	bucket_range(idx, KS_HIST_SUB_BITS, lo, hi);
}

/* The buckets of either histogram, as the percentile search reads them. */
struct buckets {
	const uint64_t *wide;   /* ks_hist */
	const uint32_t *narrow; /* ks_chist */
	unsigned n, sub_bits, first;
	uint64_t total; /* what the buckets add up to */
};

/* The midpoint of the bucket that holds the value of rank ceil(p% of total),
 * clamped to [min, max]; min or max at the ends, 0 when count is 0. */
static uint64_t percentile(const struct buckets *bk, uint64_t count, uint64_t min, uint64_t max,
			   double p)
{
	uint64_t rank, cum = 0, lo, hi, v;

	if (!count)
		return 0;
	if (p <= 0)
		return min;
	if (p >= 100)
		return max;
	rank = (uint64_t)ceil(p / 100.0 * (double)bk->total);
	rank = rank < 1 ? 1 : rank > bk->total ? bk->total : rank;
	for (unsigned i = bk->first; i < bk->n; i++) {
		cum += bk->wide ? bk->wide[i] : bk->narrow[i];
		if (cum < rank)
			continue;
		bucket_range(i, bk->sub_bits, &lo, &hi);
		v = lo + (hi - lo) / 2;
		return v < min ? min : v > max ? max : v;
	}
	return max;
}

uint64_t ks_hist_percentile(const struct ks_hist *h, double p)
{
	struct buckets bk = { .wide = h->bucket, .n = KS_HIST_BUCKETS,
			      .sub_bits = KS_HIST_SUB_BITS, .total = h->count };

	if (h->count)
		bk.first = ks_hist_index(h->min);
	return percentile(&bk, h->count, h->min, h->max, p);
}

void ks_chist_init(struct ks_chist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void ks_chist_merge(struct ks_chist *dst, const struct ks_chist *src)
{
	if (!src->count)
		return;
	dst->count += src->count;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	for (unsigned i = 0; i < KS_CHIST_BUCKETS; i++)
		dst->bucket[i] = dst->bucket[i] > UINT32_MAX - src->bucket[i] ? UINT32_MAX :
			dst->bucket[i] + src->bucket[i];
}

uint64_t ks_chist_percentile(const struct ks_chist *h, double p)
{
	struct buckets bk = { .narrow = h->bucket, .n = KS_CHIST_BUCKETS,
			      .sub_bits = KS_CHIST_SUB_BITS };

	/* Saturated counters make the bucket total the reference, not count. */
	if (h->count)
		bk.first = ks_chist_index(h->min);
	for (unsigned i = bk.first; i < KS_CHIST_BUCKETS; i++)
		bk.total += h->bucket[i];
	return percentile(&bk, h->count, h->min, h->max, p);
}

static void print_stars(FILE *f, uint64_t val, uint64_t val_max, int width)
{
	int stars = val_max ? (int)((val < val_max ? val : val_max) * width / val_max) : 0;

	for (int i = 0; i < stars; i++)
		fputc('*', f);
	for (int i = stars; i < width; i++)
		fputc(' ', f);
	if (val > val_max)
		fputc('+', f);
}

void ks_log2_print(FILE *f, const uint64_t *slots, unsigned n, const char *unit)
{
	int idx_max = -1, stars, width;
	uint64_t val_max = 0;

	for (unsigned i = 0; i < n; i++) {
		if (slots[i])
			idx_max = (int)i;
		if (slots[i] > val_max)
			val_max = slots[i];
	}
	if (idx_max < 0)
		return;
	/* The same layout as libbpf-tools' trace_helpers.c print_log2_hist. */
	fprintf(f, "%*s%-*s : count    distribution\n", idx_max <= 32 ? 5 : 15, "",
		idx_max <= 32 ? 19 : 29, unit);
	stars = idx_max <= 32 ? 40 : 20;
	width = idx_max <= 32 ? 10 : 20;
	for (int i = 0; i <= idx_max; i++) {
		unsigned long long low = (1ull << i), high = i == 63 ? UINT64_MAX : (2ull << i) - 1;

		if (low == high)
			low -= 1;
		fprintf(f, "%*llu -> %-*llu : %-8llu |", width, low, width, high,
			(unsigned long long)slots[i]);
		print_stars(f, slots[i], val_max, stars);
		fputs("|\n", f);
	}
}
