/*
 * Description: experiment 6 (demand-paging).  mmap() of a file whose cache
 * was dropped loads nothing; each touched page (MADV_RANDOM: no read-around)
 * costs one major fault and makes exactly that page resident.  A freshly
 * exec'd binary starts with nothing cached and is read through major faults.
 */
#include "probe_test.h"

#include <stdio.h>

int main(void)
{
	const struct probe_result *r = pt_run("demand-paging");
	long long touched = pt_int(r, "pages_touched_madv_random"), v;
	PT_CHECK(pt_int(r, "resident_after_fadvise_dontneed") == 0, "the cache was dropped");
	PT_CHECK(pt_int(r, "resident_after_mmap") == 0, "mmap loads nothing");
	PT_CHECK(pt_int(r, "ptes_after_mmap") == 0, "and maps nothing");
	PT_CHECK(pt_int(r, "major_faults_for_touches") == touched, "one major fault per touch");
	PT_CHECK(pt_int(r, "resident_after_touches") == touched, "only the touched pages load");
	PT_CHECK(pt_int(r, "readaround_pages_one_default_fault") >= 1,
		 "a default fault loads at least its page");
	if (pt_has_int(r, "exec_major_faults", &v)) {
		PT_CHECK(pt_int(r, "exec_resident_before") == 0, "the binary copy starts uncached");
		PT_CHECK(v > 0, "exec reads the binary through major faults");
		PT_CHECK(pt_int(r, "exec_resident_after") > 0, "which leaves pages resident");
	} else {
		printf("note: exec part %s\n", pt_str(r, "exec"));
	}
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
