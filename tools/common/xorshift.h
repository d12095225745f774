/*
 * xorshift.h - the pseudo-random generator the bench and the probe share
 * (xorshift64*): a dependent random read picks its next page with it, so
 * the two measure the same access pattern.
 */
#ifndef PTBM_XORSHIFT_H
#define PTBM_XORSHIFT_H

#include <stdint.h>

/* Next value of the xorshift64* sequence in *s (s must not be 0). */
static inline uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

#endif /* PTBM_XORSHIFT_H */
