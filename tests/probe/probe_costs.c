/*
 * Description: experiment 9 (costs).  The cost relations PT-BM's design
 * relies on (kernel-facts.md, "Costs on this machine"): populating is far
 * cheaper than faulting page by page, a second process's read touch is
 * cheaper than its write touch (fault-around), and releasing in batches of
 * 64 is cheaper per page than one call per page.  Absolute figures depend on
 * the machine; only relations are checked, each by a factor of at least 2.
 * Other work on the machine can squeeze a ratio for a whole run, so a run
 * whose relations fail is measured again, up to ATTEMPTS runs in all; a kernel
 * whose costs really relate otherwise fails every one.
 */
#include "probe_test.h"

#include <stdio.h>

/* a is cheaper than b by at least a factor of 2. */
#define CHEAPER(a, b)                                                                              \
	PT_CHECK(pt_num(r, a) > 0 && pt_num(r, a) * 2 < pt_num(r, b), "%s %.0f ns vs %s %.0f ns",  \
		 a, pt_num(r, a), b, pt_num(r, b))

#define ATTEMPTS 3

static void check(const struct probe_result *r)
{
	CHEAPER("populate_write_private_alloc_ns", "first_write_touch_private_ns");
	CHEAPER("populate_write_shared_alloc_ns", "first_write_touch_shared_ns");
	CHEAPER("other_process_read_touch_ns", "other_process_write_touch_ns");
	CHEAPER("other_process_populate_read_ns", "other_process_read_touch_ns");
	CHEAPER("other_process_populate_write_ns", "other_process_write_touch_ns");
	CHEAPER("dontneed_batch64_1proc_ns", "dontneed_batch1_1proc_ns");
	CHEAPER("remove_batch64_1proc_ns", "remove_batch1_1proc_ns");
	CHEAPER("remove_batch64_2proc_ns", "remove_batch1_2proc_ns");
	double v;
	if (probe_ev_get_num(r, "punch_batch64_1proc_ns", &v))
		CHEAPER("punch_batch64_1proc_ns", "punch_batch1_1proc_ns");
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
}

int main(void)
{
	const struct probe_result *r = NULL;
	for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
		if (attempt > 1) {
			printf("attempt %d of %d: a relation failed above; measuring again\n",
			       attempt, ATTEMPTS);
			pt_reset();
		}
		r = pt_run("costs");
		check(r);
		if (pt_failures() == 0)
			break;
	}
	return pt_finish(r);
}
