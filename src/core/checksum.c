/*
 * checksum.c - the page trailer: a checksum that makes a torn or corrupted
 * page an error instead of data.
 *
 * The last PTBM_PAGE_TRAILER bytes of every page belong to the pool:
 *
 *   [ caller's bytes ... | checksum (8) | magic (4) | page size (4) ]
 *
 * The checksum is XXH3-64 of the caller's bytes seeded with the page id, so
 * a page written to the wrong place fails too. It is computed when the page
 * is written back (ptbm_page_seal) and verified when it is read
 * (ptbm_page_verify). A page of all zeros is a page never written (a hole
 * of a file extended by ftruncate) and reads as zeros, unless the pool
 * knows it was written (pageio.c, the written set): then it was zeroed on disk
 * (a zeroed block, a hole punched over it) and is as corrupt as any other.
 *
 * On x86-64 the sum goes through libxxhash's dispatcher, which picks the
 * widest vector unit the CPU has (AVX2, AVX-512) at the first call: the
 * library's plain entry points are built for SSE2 only. A miss verifies
 * its page right after the disk delivered it, on the miss's path, where the
 * sum of an 8 KiB page in cache took 1.27 us with SSE2 and 0.31 us through
 * the dispatcher on the machine measured (docs/bench.md, "What a miss pays
 * after its read"). Either way the sum is the same (unit_file checks the
 * trailers on disk against the plain entry point).
 */
#include "core/checksum.h"

#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h> /* XXH3_64bits_withSeed is the dispatcher now */
#endif

#define TRAILER_MAGIC 0x50424d54u /* "TMBP" */

struct trailer {
	uint64_t checksum;
	uint32_t magic;
	uint32_t page_size;
};

_Static_assert(sizeof(struct trailer) == PTBM_PAGE_TRAILER, "trailer size");

static uint64_t page_sum(const void *page, uint32_t page_size, uint64_t pid)
{
	return XXH3_64bits_withSeed(page, page_size - PTBM_PAGE_TRAILER,
				    pid ^ 0x9e3779b97f4a7c15ull);
}

void ptbm_page_seal(void *page, uint32_t page_size, uint64_t pid)
{
	struct trailer t = {
	    .checksum = page_sum(page, page_size, pid),
	    .magic = TRAILER_MAGIC,
	    .page_size = page_size,
	};
	memcpy((char *)page + page_size - PTBM_PAGE_TRAILER, &t, sizeof t);
}

static bool all_zero(const void *page, uint32_t n)
{
	const uint64_t *w = page;
	for (uint32_t i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	return true;
}

int ptbm_page_verify(const void *page, uint32_t page_size, uint64_t pid, bool written)
{
	struct trailer t;
	memcpy(&t, (const char *)page + page_size - PTBM_PAGE_TRAILER, sizeof t);
	if (t.magic != TRAILER_MAGIC || t.page_size != page_size)
		return !written && all_zero(page, page_size) ? 0 : PTBM_ECHECKSUM;
	return t.checksum == page_sum(page, page_size, pid) ? 0 : PTBM_ECHECKSUM;
}
