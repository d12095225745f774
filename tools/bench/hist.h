/*
 * hist.h - a log-linear latency histogram: each power of two is split into
 * 16 linear buckets, so any recorded value is known to within 1/16 (6%),
 * from 1 to 2^48 units, in a fixed 6 KiB that workers fill without locks
 * and that merge by adding counts. Values are recorded in whatever unit
 * the caller uses (here TSC cycles) and scaled when percentiles are read.
 */
#ifndef PTBM_TOOLS_HIST_H
#define PTBM_TOOLS_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 4 /* 16 linear buckets per power of two */
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_GROUPS   45 /* values up to 2^(45 + HIST_SUB_BITS - 1) */
#define HIST_BUCKETS  (HIST_GROUPS * HIST_SUB)

struct hist {
	uint64_t count;		  /* values recorded */
	uint64_t max;		  /* the largest one */
	uint64_t n[HIST_BUCKETS]; /* values per bucket */
};

static inline unsigned hist_bucket(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned top = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	unsigned group = top - HIST_SUB_BITS + 1;
	if (group >= HIST_GROUPS)
		return HIST_BUCKETS - 1;
	unsigned sub = (unsigned)(v >> (top - HIST_SUB_BITS)) & (HIST_SUB - 1);
	return group * HIST_SUB + sub;
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->n[hist_bucket(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

void hist_clear(struct hist *h);
/* dst += src */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value below which a fraction q (0..1) of the recorded values lie
 * (the middle of its bucket, capped by the maximum); 0 if empty. */
double hist_quantile(const struct hist *h, double q);
/* Mean, from bucket middles. */
double hist_mean(const struct hist *h);

#endif
