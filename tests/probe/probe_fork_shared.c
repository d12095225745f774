/*
 * Description: experiment 1 (fork-shared).  A shared anonymous mapping's page
 * tables are not synchronized across fork: the child has no PTEs for pages
 * the parent wrote after the fork until its own faults fill them, it reads
 * the parent's data, and (root) both map the same physical page.
 */
#include "probe_test.h"

int main(void)
{
	const struct probe_result *r = pt_run("fork-shared");
	long long n = pt_int(r, "pages"), v;
	PT_CHECK(pt_int(r, "parent_ptes_after_write") == n,
		 "the parent's own writes map its pages");
	PT_CHECK(pt_int(r, "child_ptes_before_access") == 0,
		 "no PTE reaches the child before it touches the pages");
	PT_CHECK(pt_int(r, "child_read_faults") > 0, "the child takes its own faults");
	PT_CHECK(pt_int(r, "child_ptes_after_access") == n, "its faults map every page");
	PT_CHECK(pt_int(r, "child_read_parent_data") == n, "and it reads the parent's data");
	if (pt_has_int(r, "same_pfn_pages", &v))
		PT_CHECK(v == n, "both processes map the same physical pages");
	if (pt_has_int(r, "kpagecount_2_pages", &v))
		PT_CHECK(v == n, "kpagecount says each page is mapped twice");
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
