/*
 * Description: experiment 3 (fork-private).  A private anonymous mapping is
 * copy on write across fork: the child starts with the parent's PTEs and
 * data, its first write to each page faults and copies (new PFN), and
 * neither process ever sees the other's later writes.
 */
#include "probe_test.h"

int main(void)
{
	const struct probe_result *r = pt_run("fork-private");
	long long n = pt_int(r, "pages"), v;
	PT_CHECK(pt_int(r, "child_ptes_at_fork") == n, "fork copies private anonymous PTEs");
	PT_CHECK(pt_int(r, "child_sees_prefork_data") == n, "the child sees pre-fork data");
	PT_CHECK(pt_int(r, "child_write_faults") >= n, "each first write faults (%lld)",
		 pt_int(r, "child_write_faults"));
	PT_CHECK(pt_int(r, "parent_sees_child_writes") == 0, "the parent never sees them");
	PT_CHECK(pt_int(r, "parent_sees_own_data_after_child_write") == n, "it keeps its own");
	PT_CHECK(pt_int(r, "parent_write_faults") >= n, "the parent's writes fault too");
	PT_CHECK(pt_int(r, "child_sees_parent_writes") == 0, "the child never sees the parent's");
	PT_CHECK(pt_int(r, "child_sees_own_writes") == n, "and keeps its own");
	if (pt_has_int(r, "same_pfn_after_fork", &v)) {
		PT_CHECK(v == n, "same physical pages right after fork");
		PT_CHECK(pt_int(r, "child_pfn_changed_by_write") == n, "a write copies the page");
	}
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
