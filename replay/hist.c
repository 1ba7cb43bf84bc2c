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

void ks_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	unsigned sh, sub;

	if (idx < (2u << KS_HIST_SUB_BITS)) {
		*lo = *hi = idx;
		return;
	}
	sh = (idx >> KS_HIST_SUB_BITS) - 1;
	sub = idx - (sh << KS_HIST_SUB_BITS);
	*lo = (uint64_t)sub << sh;
	*hi = *lo + ((1ull << sh) - 1);
}

uint64_t ks_hist_percentile(const struct ks_hist *h, double p)
{
	uint64_t rank, cum = 0, lo, hi, v;

	if (!h->count)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (unsigned i = ks_hist_index(h->min); i < KS_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		if (cum < rank)
			continue;
		ks_hist_bucket_range(i, &lo, &hi);
		v = lo + (hi - lo) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
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
	uint64_t rank, cum = 0, total = 0, lo, hi, v;
	unsigned first = 0, sh, sub;

	if (!h->count)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* Saturated counters make the bucket total the reference, not count. */
	first = ks_chist_index(h->min);
	for (unsigned i = first; i < KS_CHIST_BUCKETS; i++)
		total += h->bucket[i];
	rank = (uint64_t)ceil(p / 100.0 * (double)total);
	rank = rank < 1 ? 1 : rank > total ? total : rank;
	for (unsigned i = first; i < KS_CHIST_BUCKETS; i++) {
		cum += h->bucket[i];
		if (cum < rank)
			continue;
		if (i < (2u << KS_CHIST_SUB_BITS)) {
			lo = hi = i;
		} else {
			sh = (i >> KS_CHIST_SUB_BITS) - 1;
			sub = i - (sh << KS_CHIST_SUB_BITS);
			lo = (uint64_t)sub << sh;
			hi = lo + ((1ull << sh) - 1);
		}
		v = lo + (hi - lo) / 2;
		return v < h->min ? h->min : v > h->max ? h->max : v;
	}
	return h->max;
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
