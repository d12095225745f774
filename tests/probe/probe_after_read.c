/*
 * Description: experiment 12 (after-read). Random 8 KiB O_DIRECT reads at
 * queue depth 1, six variants in turn: every variant's time per read is
 * measured and sane (above the time of the work it adds, where it adds
 * some, and below a second); each extra time in the evidence is the
 * difference of the measured means; the verdict's words follow from them
 * (hidden when before_spin's extra time is under a quarter of the work,
 * "more than itself" when after_spin's is over 1.25 times it); the sum over
 * a page in cache was timed. The batches likewise: each timed and sane (a
 * batch with 200 us of work takes at least those 200 us; more is not
 * required, since the work may hide behind the reads), batch_spin's extra
 * time and what the groups save are the differences of the means, and the
 * verdict's "hidden" for the batch follows from its figures. The batches
 * with their misses' page-table work (private and shared frames) likewise:
 * the work was timed, a batch takes at least its work, the extra times are
 * the differences, and whether the shared frames' work fits in a plain
 * batch follows from the figures. The shared frames' work split with a
 * helper thread likewise, the helper's own time within the work's (the
 * probing thread waits for it), and whether it is faster than one thread
 * follows from the figures. The batch read into a registered buffer
 * (where the kernel registers it; the verdict says so where it refuses):
 * timed and sane, its CPU time and batch_groups' measured and within
 * their wall times, what it saves the differences of the means.
 * Where the filesystem refuses O_DIRECT or there is no io_uring, the result
 * says so.
 */
#include "probe_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	const struct probe_result *r = pt_run("after-read");
	static const char *const v[] = {"read",	     "before_spin", "after_spin",
					"after_sum", "after_copy",  "poll"};
	double us[6], spin_us = pt_int(r, "spin_ns") / 1000.0;
	for (int i = 0; i < 6; i++) {
		char key[64];
		snprintf(key, sizeof key, "%s_us", v[i]);
		us[i] = pt_num(r, key);
		PT_CHECK(us[i] > 0 && us[i] < 1e6, "%s: %.1f us per read", v[i], us[i]);
	}
	PT_CHECK(pt_int(r, "reads_per_variant") > 0, "reads were made");
	PT_CHECK(us[1] >= spin_us && us[2] >= spin_us, "a read with %.0f us of work takes longer",
		 spin_us);
	PT_CHECK(fabs(pt_num(r, "before_spin_extra_us") - (us[1] - us[0])) < 5e-3,
		 "before_spin's extra time is the difference");
	PT_CHECK(fabs(pt_num(r, "after_spin_extra_us") - (us[2] - us[0])) < 5e-3,
		 "after_spin's extra time is the difference");
	PT_CHECK(fabs(pt_num(r, "after_sum_extra_us") - (us[3] - us[0])) < 5e-3, "after_sum's");
	PT_CHECK(fabs(pt_num(r, "after_copy_extra_us") - (us[4] - us[0])) < 5e-3, "after_copy's");
	PT_CHECK(fabs(pt_num(r, "poll_saves_us") - (us[0] - us[5])) < 5e-3, "poll's");
	bool hidden = us[1] - us[0] < 0.25 * spin_us;
	bool amplified = us[2] - us[0] > 1.25 * spin_us;
	PT_CHECK(pt_int(r, "work_before_wait_hidden") == hidden, "hidden follows the figures");
	PT_CHECK(pt_int(r, "work_after_read_amplified") == amplified,
		 "amplified follows the figures");
	/* the single reads' part of the verdict, and the batch's */
	const char *amid = strstr(r->verdict, "a batch of");
	PT_CHECK(amid != NULL, "the verdict speaks of the batch: %s", r->verdict);
	if (!amid)
		return pt_finish(r);
	char single[sizeof r->verdict];
	snprintf(single, sizeof single, "%.*s", (int)(amid - r->verdict), r->verdict);
	PT_CHECK(strstr(single, hidden ? "(hidden)" : "(not hidden)") != NULL,
		 "the verdict says whether the work before was hidden: %s", r->verdict);
	PT_CHECK(strstr(single, amplified ? "more than itself" : "about itself") != NULL,
		 "and whether the work after cost more than itself");
	double cached = pt_num(r, "sum_in_cache_ns");
	PT_CHECK(cached > 0 && cached < 1e6, "the sum in cache was timed (%.0f ns)", cached);
	double batch = pt_num(r, "batch_us"), batch_spin = pt_num(r, "batch_spin_us");
	double batch_work = pt_int(r, "batch_spin_ns") / 1000.0;
	PT_CHECK(pt_int(r, "batch_reads") > 1 && pt_int(r, "batches_per_variant") > 0,
		 "batches were made");
	PT_CHECK(batch > 0 && batch < 1e6, "a batch: %.0f us", batch);
	PT_CHECK(batch_spin >= batch_work && batch_spin < 1e6,
		 "a batch with %.0f us of work takes at least the work: %.0f us", batch_work,
		 batch_spin);
	PT_CHECK(fabs(pt_num(r, "batch_spin_extra_us") - (batch_spin - batch)) < 5e-3,
		 "batch_spin's extra time is the difference");
	double groups = pt_num(r, "batch_groups_us");
	PT_CHECK(groups > 0 && groups < 1e6, "a batch in groups of %lld: %.0f us",
		 pt_int(r, "group_reads"), groups);
	PT_CHECK(fabs(pt_num(r, "groups_save_us") - (batch - groups)) < 5e-3,
		 "what the groups save is the difference");
	PT_CHECK(pt_int(r, "group_reads") > 1 &&
		     pt_int(r, "group_reads") < pt_int(r, "batch_reads"),
		 "a group is part of a batch");
	bool batch_hidden = batch_spin - batch < 0.25 * batch_work;
	PT_CHECK(pt_int(r, "work_during_batch_hidden") == batch_hidden,
		 "the batch's hidden follows the figures");
	PT_CHECK(strstr(amid, batch_hidden ? "(hidden)" : "(not hidden)") != NULL,
		 "the verdict says whether the batch's work was hidden: %s", r->verdict);
	static const char *const kinds[] = {"private", "shared"};
	for (int k = 0; k < 2; k++) {
		char key[64];
		snprintf(key, sizeof key, "batch_pages_%s_us", kinds[k]);
		double t = pt_num(r, key);
		snprintf(key, sizeof key, "batch_pages_%s_work_us", kinds[k]);
		double work = pt_num(r, key);
		PT_CHECK(work > 0 && work < 1e6, "the %s frames' page work was timed: %.0f us",
			 kinds[k], work);
		PT_CHECK(t >= work && t < 1e6, "a batch with %.0f us of %s page work takes %.0f us",
			 work, kinds[k], t);
		snprintf(key, sizeof key, "batch_pages_%s_extra_us", kinds[k]);
		PT_CHECK(fabs(pt_num(r, key) - (t - batch)) < 5e-3,
			 "%s's extra time is the difference", key);
		if (k == 1)
			PT_CHECK(pt_int(r, "shared_page_work_fits_batch") == (work < batch),
				 "whether the shared work fits follows the figures");
	}
	PT_CHECK(strstr(amid, "page work") != NULL, "the verdict speaks of the page work: %s",
		 r->verdict);
	if (pt_int(r, "helper_started")) {
		double t = pt_num(r, "batch_pages_helper_us");
		double work = pt_num(r, "batch_pages_helper_work_us");
		double helper = pt_num(r, "batch_pages_helper_helper_us");
		double shared = pt_num(r, "batch_pages_shared_us");
		PT_CHECK(helper > 0 && helper <= work,
			 "the helper's work was timed, %.0f us, within the thread's %.0f us "
			 "(which waits for it)",
			 helper, work);
		PT_CHECK(t >= work && t < 1e6, "a helped batch with %.0f us of work takes %.0f us",
			 work, t);
		PT_CHECK(fabs(pt_num(r, "batch_pages_helper_extra_us") - (t - batch)) < 5e-3,
			 "the helped batch's extra time is the difference");
		bool faster = t < shared;
		PT_CHECK(pt_int(r, "helper_beats_one_thread") == faster,
			 "whether the helper pays follows the figures");
		PT_CHECK(strstr(amid, faster ? "(faster)" : "(not faster)") != NULL,
			 "the verdict says whether it does: %s", r->verdict);
	} else {
		PT_CHECK(strstr(amid, "no helper") != NULL,
			 "the verdict says there was no helper: %s", r->verdict);
	}
	if (pt_int(r, "buffer_registered")) {
		double reg = pt_num(r, "batch_registered_us");
		double groups_cpu = pt_num(r, "batch_groups_cpu_us");
		double reg_cpu = pt_num(r, "batch_registered_cpu_us");
		PT_CHECK(reg > 0 && reg < 1e6, "a batch into a registered buffer: %.0f us", reg);
		PT_CHECK(groups_cpu > 0 && groups_cpu <= groups * 1.01 + 1,
			 "batch_groups' CPU time %.0f us, within its %.0f us", groups_cpu, groups);
		PT_CHECK(reg_cpu > 0 && reg_cpu <= reg * 1.01 + 1,
			 "batch_registered's CPU time %.0f us, within its %.0f us", reg_cpu, reg);
		PT_CHECK(fabs(pt_num(r, "registered_saves_us") - (groups - reg)) < 5e-3,
			 "what the registered buffer saves is the difference");
		PT_CHECK(fabs(pt_num(r, "registered_saves_cpu_us") - (groups_cpu - reg_cpu)) < 5e-3,
			 "and its CPU time's");
		PT_CHECK(strstr(amid, "registered") != NULL && strstr(amid, "(CPU") != NULL,
			 "the verdict speaks of the registered buffer: %s", r->verdict);
	} else {
		PT_CHECK(strstr(amid, "registered buffer refused") != NULL,
			 "the verdict says the buffer was refused: %s", r->verdict);
	}
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	return pt_finish(r);
}
