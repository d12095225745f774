/*
 * Description: experiment 5 (shm-family).  Shared anonymous mmap, SysV shm,
 * POSIX shm and memfd are one shmem mechanism: each is a (hidden) shmem file,
 * copies no PTEs at fork, is resident per mincore() without PTEs, keeps pages
 * under MADV_DONTNEED, frees them for everyone under MADV_REMOVE, and is
 * accounted as Shmem.  Kinds this machine cannot create are skipped.
 */
#include "probe_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *key;      /* evidence prefix */
	const char *maps_tag; /* what /proc/self/maps shows for it */
} kinds[] = {
    {"anon", "/dev/zero"},
    {"sysv", "/SYSV"},
    {"posix", "/dev/shm/"},
    {"memfd", "/memfd:"},
};

int main(void)
{
	const struct probe_result *r = pt_run("shm-family");
	int measured = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char k[PROBE_KEY_LEN];
		const char *p = kinds[i].key;
#define K(name) (snprintf(k, sizeof(k), "%s.%s", p, name), k)
		if (!probe_ev_find(r, K("pages"))) {
			printf("note: %s not measurable: %s\n", p, pt_str(r, p));
			continue;
		}
		measured++;
		long long n = pt_int(r, K("pages")), size_kb = n * sysconf(_SC_PAGESIZE) / 1024, v;
		PT_CHECK(strstr(pt_str(r, K("maps_name")), kinds[i].maps_tag) != NULL,
			 "%s: maps shows '%s'", p, pt_str(r, K("maps_name")));
		PT_CHECK(pt_int(r, K("pagemap_file_bit_pages")) == n, "%s: shmem pages", p);
		v = pt_int(r, K("shmem_kb_populate"));
		PT_CHECK(v > size_kb * 3 / 4 && v < size_kb * 5 / 4, "%s: Shmem +%lld kB", p, v);
		PT_CHECK(pt_int(r, K("child_ptes_at_start")) == 0, "%s: no PTEs after fork", p);
		PT_CHECK(pt_int(r, K("child_mincore_resident")) == n, "%s: mincore resident", p);
		PT_CHECK(pt_int(r, K("child_read_parent_data")) == n, "%s: data shared", p);
		PT_CHECK(pt_int(r, K("dontneed.parent_ptes")) == n, "%s: DONTNEED is local", p);
		PT_CHECK(pt_int(r, K("release.parent_ptes")) == 0, "%s: REMOVE is global", p);
		v = pt_int(r, K("release.shmem_kb"));
		PT_CHECK(v < -size_kb * 3 / 4 && v > -size_kb * 5 / 4, "%s: REMOVE frees %lld kB",
			 p, v);
#undef K
	}
	PT_CHECK(measured >= 2, "at least anonymous and one other kind measured (%d)", measured);
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
