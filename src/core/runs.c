/*
 * runs.c - sorting page ids (runs.h merges the frames of sorted ids into
 * runs).
 */
#include "core/runs.h"

#include <stdlib.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void ptbm_sort_ids(uint64_t *ids, size_t n)
{
	qsort(ids, n, sizeof ids[0], cmp_u64);
}
