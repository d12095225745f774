/*
 * Description: experiment 7 (pte-metadata).  Accessed, written and
 * soft-dirty state live in each process's PTEs: for the same shared pages the
 * parent (read 64, wrote 16) and the child (read 16, wrote 8) each see only
 * their own accesses.  The exclusive bit (56) is page-level: set while one
 * process maps the page, clear in both once two do.
 */
#include "probe_test.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
	const struct probe_result *r = pt_run("pte-metadata");
	long long n = pt_int(r, "pages"), v;
	PT_CHECK(pt_int(r, "exclusive_bit_parent_alone") == n, "exclusive while alone");
	PT_CHECK(pt_int(r, "exclusive_bit_parent_both_mapping") == 0, "not once shared (parent)");
	PT_CHECK(pt_int(r, "exclusive_bit_child_both_mapping") == 0, "not once shared (child)");
	if (pt_has_int(r, "accessed_parent_referenced_pages", &v)) {
		PT_CHECK(v == pt_int(r, "accessed_parent_read_pages"),
			 "the parent's PTEs record its reads");
		PT_CHECK(pt_int(r, "accessed_child_referenced_pages") ==
			     pt_int(r, "accessed_child_read_pages"),
			 "the child's PTEs record only its own");
	} else {
		printf("note: accessed state %s\n", pt_str(r, "accessed"));
	}
	if (pt_has_int(r, "written_per_process", &v)) {
		PT_CHECK(strcmp(pt_str(r, "written_parent_scan"),
				pt_str(r, "written_parent_wrote")) == 0,
			 "the parent's written set is its own writes");
		PT_CHECK(
		    strcmp(pt_str(r, "written_child_scan"), pt_str(r, "written_child_wrote")) == 0,
		    "the child's written set is its own writes");
	} else {
		printf("note: written state %s\n", pt_str(r, "written"));
	}
	if (pt_has_int(r, "soft_dirty_parent_page0", &v)) {
		PT_CHECK(v == 1, "the writer's PTE is soft-dirty");
		PT_CHECK(pt_int(r, "soft_dirty_child_page0") == 0, "the other's is not");
	}
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
