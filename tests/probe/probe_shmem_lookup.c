/*
 * Description: experiment 2 (shmem-lookup).  The second process finds a
 * shared page through the shmem inode's page cache: the mapping is
 * "/dev/zero (deleted)", a process forked after population has no PTEs yet
 * mincore() reports the pages resident, MADV_DONTNEED zaps only the caller
 * and frees nothing, MADV_REMOVE and fallocate(PUNCH_HOLE) zap the other
 * process's PTEs and free the Shmem.
 */
#include "probe_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void check_trial(const struct probe_result *r, const char *prefix, const char *how)
{
	char k[PROBE_KEY_LEN];
#define K(name) (snprintf(k, sizeof(k), "%s.%s", prefix, name), k)
	long long n = pt_int(r, K("pages")), v;
	long long size_kb = n * sysconf(_SC_PAGESIZE) / 1024;
	PT_CHECK(pt_int(r, K("pagemap_file_bit_pages")) == n, "%s: shmem pages are file pages",
		 prefix);
	v = pt_int(r, K("shmem_kb_populate"));
	PT_CHECK(v > size_kb * 3 / 4 && v < size_kb * 5 / 4, "%s: population adds %lld kB Shmem",
		 prefix, v);
	PT_CHECK(pt_int(r, K("child_ptes_at_start")) == 0, "%s: fork copies no PTEs", prefix);
	PT_CHECK(pt_int(r, K("child_mincore_resident")) == n,
		 "%s: mincore sees the page cache without PTEs", prefix);
	PT_CHECK(pt_int(r, K("child_read_parent_data")) == n, "%s: the child reads the data",
		 prefix);
	if (pt_has_int(r, K("same_pfn_pages"), &v))
		PT_CHECK(v == n, "%s: same physical pages", prefix);
	PT_CHECK(pt_int(r, K("dontneed.child_ptes")) == 0, "%s: DONTNEED zaps the caller", prefix);
	PT_CHECK(pt_int(r, K("dontneed.parent_ptes")) == n, "%s: but not the other process",
		 prefix);
	v = pt_int(r, K("dontneed.shmem_kb"));
	PT_CHECK(v > -size_kb / 4 && v < size_kb / 4, "%s: DONTNEED frees nothing (%lld kB)",
		 prefix, v);
	PT_CHECK(pt_int(r, K("dontneed.child_rereads_data")) == n, "%s: the data stayed", prefix);
	PT_CHECK(strstr(pt_str(r, K("release")), how) != NULL, "%s: released with %s", prefix, how);
	PT_CHECK(pt_int(r, K("release.parent_ptes")) == 0, "%s: %s zaps the other's PTEs", prefix,
		 how);
	v = pt_int(r, K("release.shmem_kb"));
	PT_CHECK(v < -size_kb * 3 / 4 && v > -size_kb * 5 / 4, "%s: %s frees the Shmem (%lld kB)",
		 prefix, how, v);
	PT_CHECK(pt_int(r, K("release.parent_reads_zero")) == n, "%s: the data is gone", prefix);
#undef K
}

int main(void)
{
	const struct probe_result *r = pt_run("shmem-lookup");
	PT_CHECK(strcmp(pt_str(r, "anon.maps_name"), "/dev/zero (deleted)") == 0,
		 "a shared anonymous mapping is a hidden shmem file: '%s'",
		 pt_str(r, "anon.maps_name"));
	check_trial(r, "anon", "MADV_REMOVE");
	if (probe_ev_find(r, "memfd_punch.pages"))
		check_trial(r, "memfd_punch", "PUNCH_HOLE");
	else
		printf("note: no memfd here: %s\n", pt_str(r, "memfd_punch"));
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
