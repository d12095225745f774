/*
 * hist.c - percentiles of the log-linear histogram (hist.h).
 *
 * Bucket b < 16 holds exactly the value b. Above, group g = b / 16 covers
 * [2^(g+3), 2^(g+4)) in 16 equal steps of 2^(g-1): sub-bucket s holds
 * [(16 + s) << (g-1), (17 + s) << (g-1)).
 */
#include "hist.h"

#include <string.h>

void hist_clear(struct hist *h)
{
	memset(h, 0, sizeof *h);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		dst->n[b] += src->n[b];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* Lowest value of bucket b, and its width. */
static void bucket_range(unsigned b, double *lo, double *width)
{
	if (b < HIST_SUB) {
		*lo = b;
		*width = 1;
		return;
	}
	unsigned g = b / HIST_SUB, s = b % HIST_SUB;
	double step = (double)(1ull << (g - 1));
	*lo = (HIST_SUB + s) * step;
	*width = step;
}

static double bucket_mid(const struct hist *h, unsigned b)
{
	double lo, w;
	bucket_range(b, &lo, &w);
	double mid = lo + (w - 1) / 2;
	return mid > (double)h->max ? (double)h->max : mid;
}

double hist_quantile(const struct hist *h, double q)
{
	if (!h->count)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->n[b];
		if (seen > rank)
			return bucket_mid(h, b);
	}
	return (double)h->max;
}

double hist_mean(const struct hist *h)
{
	if (!h->count)
		return 0;
	double sum = 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		if (h->n[b])
			sum += (double)h->n[b] * bucket_mid(h, b);
	return sum / (double)h->count;
}
