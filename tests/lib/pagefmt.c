/*
 * pagefmt.c - stamped pages (see pagefmt.h).
 */
#include "pagefmt.h"

#include <string.h>
#include <xxhash.h>

void pagefmt_fill(void *p, size_t usable, uint64_t pid, uint64_t version)
{
	struct page_head *h = p;
	unsigned char *body = (unsigned char *)(h + 1);
	size_t n = usable - sizeof *h;
	uint64_t x = pid * 0x9e3779b97f4a7c15ull + version;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(body + i, &x, 8);
	}
	h->pid = pid;
	h->version = version;
	h->sum = XXH3_64bits(body, n);
}

int pagefmt_check(const void *p, size_t usable, uint64_t pid, uint64_t *version)
{
	const struct page_head *h = p;
	*version = h->version;
	if (h->pid == 0 && h->version == 0 && h->sum == 0) {
		const unsigned char *b = p;
		for (size_t i = 0; i < usable; i++)
			if (b[i])
				return 1;
		return 0;
	}
	return h->pid != pid || h->sum != XXH3_64bits(h + 1, usable - sizeof *h);
}
