/*
 * Description: experiment 4 (file-mappings).  One file, MAP_SHARED in one
 * process and MAP_PRIVATE in another: both map the same page-cache page
 * until the private side writes (then it has its own copy, the file and the
 * shared side see nothing); shared writes reach the file and every page the
 * private side has not copied.
 */
#include "probe_test.h"

int main(void)
{
	const struct probe_result *r = pt_run("file-mappings");
	long long n = pt_int(r, "pages"), v;
	PT_CHECK(pt_int(r, "shared_mapper_read_file_data") == n, "shared side reads the file");
	PT_CHECK(pt_int(r, "private_mapper_read_file_data") == n, "private side reads the file");
	PT_CHECK(!pt_int(r, "shared_mapper_sees_private_write"), "private writes stay private");
	PT_CHECK(!pt_int(r, "file_changed_by_private_write"), "and never reach the file");
	PT_CHECK(pt_int(r, "file_changed_by_shared_write"), "shared writes reach the file");
	PT_CHECK(pt_int(r, "private_mapper_sees_shared_write_unwritten_page"),
		 "an uncopied private page shows the shared write");
	PT_CHECK(!pt_int(r, "private_mapper_sees_shared_write_own_copy"),
		 "a copied private page does not");
	PT_CHECK(pt_int(r, "private_copy_keeps_own_write"), "the copy keeps the private write");
	if (pt_has_int(r, "same_page_cache_page_before_private_write", &v)) {
		PT_CHECK(v == n, "both map the page-cache pages");
		PT_CHECK(pt_int(r, "private_write_moved_page_0_to_new_pfn"),
			 "a private write moves to a new page");
	}
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
