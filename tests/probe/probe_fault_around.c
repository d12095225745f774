/*
 * Description: experiment 8 (fault-around).  One read fault on a shared
 * (shmem) mapping maps the cached pages of its aligned 64 KiB window, 16
 * PTEs; a read fault on a shared or private file mapping maps more than its
 * own page too (fault-around, or the whole large folio); a private anonymous
 * read maps one page; a write fault on shared anonymous memory or on a
 * private mapping maps exactly one.
 */
#include "probe_test.h"

int main(void)
{
	const struct probe_result *r = pt_run("fault-around");
	long long v;
	PT_CHECK(pt_int(r, "shared_anon.read_faults") >= 1, "the read faulted");
	PT_CHECK(pt_int(r, "shared_anon.read_fault_ptes") == 16,
		 "one shared read fault maps 16 PTEs (%lld)",
		 pt_int(r, "shared_anon.read_fault_ptes"));
	PT_CHECK(pt_int(r, "shared_anon.window_aligned"), "the window is 64 KiB aligned");
	PT_CHECK(pt_int(r, "shared_anon.write_fault_ptes") == 1, "a shared write maps one");
	if (pt_has_int(r, "private_file.read_fault_ptes", &v)) {
		/* 16 with order-0 page cache, the whole large folio where the file
		 * system uses them (ext4 on 6.18): more than one either way. */
		PT_CHECK(v > 1, "a private file read maps more than its page (%lld)", v);
		PT_CHECK(pt_int(r, "private_file.write_fault_ptes") == 1,
			 "a private write maps one");
		v = pt_int(r, "shared_file.read_fault_ptes");
		PT_CHECK(v > 1, "so does a shared file read (%lld)", v);
		PT_CHECK(pt_int(r, "shared_file.write_fault_ptes") >= 1,
			 "a shared write maps its page");
	}
	PT_CHECK(pt_int(r, "private_anon.read_fault_ptes") == 1, "private anonymous: one");
	PT_CHECK(pt_int(r, "private_anon.write_fault_ptes") == 1, "and one for a write");
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
