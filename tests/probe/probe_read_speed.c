/*
 * Description: experiment 11 (read-speed).  Which frames read faster, and
 * why, measured so that the answer follows from the figures on any host.
 * No speed ratio is asserted (the project's hosts differ by up to 10x, and
 * what a huge mapping saves depends on the host's own paging).  Checked:
 *
 *   - the rule of probe.h: documented figures classify as the cause they
 *     show, and the edge cases (nothing faster, nothing measured) too;
 *   - every variant was measured (or says why not): a time per read that is
 *     a positive, finite number below 100 us, quartiles around the median
 *     ratio, shares between 0 and 100 per cent;
 *   - the mappings are what the kernel promises: MADV_NOHUGEPAGE keeps the
 *     baseline, the shared 4 KiB memory and the second file mapping on
 *     PTEs (so file_pte is the same cache as file_pmd, by 4 KiB entries);
 *     a split THP is no longer PMD-mapped but still in large folios;
 *   - eviction inside a huge folio does what Linux does: MADV_DONTNEED of
 *     8 KiB splits the PMD and unmaps only those 8 KiB, the folio stays
 *     whole (its split deferred); a punched 8 KiB hole in a huge tmpfs file
 *     splits the folio, unmaps it in this process, and gives back exactly
 *     the 8 KiB;
 *   - `cause` and the verdict follow from the evidence by the rule.
 *
 * A run that fails a check is measured again, up to ATTEMPTS runs in all.
 */
#include "probe_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ATTEMPTS 3

static const char *const variants[] = {
    "private_4k_shuffled", "shared_4k",	      "file_pte",	"file_pmd",
    "private_thp_pmd",	   "private_thp_pte", "shared_thp_pmd", "tmpfs_huge_pmd",
    "memfd_collapsed_pmd",
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

/* ---- the rule, on documented figures ---- */

static void check_rule(void)
{
	/* The nested-paging host, docs/bench.md: file pages PMD-mapped 0.57x,
	 * the same frames by PTEs 0.95x, private THP 0.63x, split 1.04x. */
	struct probe_read_point seen[] = {
	    {0.57, 96, 99}, {0.95, 0, 99}, {0.63, 100, 100}, {1.04, 0, 100}, {0.91, 0, 0}};
	PT_CHECK(strcmp(probe_read_speed_cause(seen, 5), "2 MiB mappings") == 0,
		 "the documented figures name 2 MiB mappings");
	/* A TLB that merges contiguous PTEs would make the split THP fast too. */
	struct probe_read_point merged[] = {{0.57, 96, 99}, {0.70, 0, 100}};
	PT_CHECK(strcmp(probe_read_speed_cause(merged, 2), "physical contiguity") == 0,
		 "a fast PTE-mapped large folio names physical contiguity");
	struct probe_read_point flat[] = {{0.97, 96, 99}, {1.02, 0, 100}, {0.80, 0, 0}};
	PT_CHECK(strcmp(probe_read_speed_cause(flat, 3), "nothing") == 0,
		 "no fast huge or large-folio variant: nothing (a fast 4 KiB one is no cause)");
	struct probe_read_point none[] = {{0, 96, 99}, {0.5, 0, -1}};
	PT_CHECK(strcmp(probe_read_speed_cause(none, 2), "unmeasured") == 0,
		 "unmeasured variants and unknown folios decide nothing");
	struct probe_read_point few[] = {{0.40, 40, 40}};
	PT_CHECK(strcmp(probe_read_speed_cause(few, 1), "unmeasured") == 0,
		 "below %.0f%% mapped or in large folios a variant is neither",
		 PROBE_READ_MAPPED_MIN_PCT);
}

/* ---- the run ---- */

static bool measured(const struct probe_result *r, const char *v)
{
	const struct probe_evidence *e = probe_ev_find(r, v);
	if (e) { /* a reason instead of figures */
		PT_CHECK(strncmp(e->value, "not measurable", 14) == 0,
			 "%s is not measured only when it cannot be here: %s", v, e->value);
		return false;
	}
	return true;
}

static double num(const struct probe_result *r, const char *v, const char *suffix)
{
	char key[PROBE_KEY_LEN];
	snprintf(key, sizeof(key), "%s_%s", v, suffix);
	return pt_num(r, key);
}

/* The share key, or -1 when absent (no PFNs). */
static double share(const struct probe_result *r, const char *v, const char *suffix)
{
	char key[PROBE_KEY_LEN];
	double x;
	snprintf(key, sizeof(key), "%s_%s", v, suffix);
	if (!probe_ev_get_num(r, key, &x))
		return -1;
	PT_CHECK(x >= 0 && x <= 100.001, "%s = %.3f is a share in per cent", key, x);
	return x;
}

static void check_time(const char *what, double ns)
{
	PT_CHECK(isfinite(ns) && ns > 0 && ns < 1e5, "%s = %.3f ns is a time per read", what, ns);
}

static void check_variant(const struct probe_result *r, const char *v, struct probe_read_point *p)
{
	*p = (struct probe_read_point){0, 0, -1};
	if (!measured(r, v))
		return;
	check_time(v, num(r, v, "ns"));
	double q1 = num(r, v, "ratio_p25"), m = num(r, v, "ratio"), q3 = num(r, v, "ratio_p75");
	PT_CHECK(m > 0 && isfinite(m) && q1 <= m && m <= q3, "%s: 0 < %.3f <= %.3f <= %.3f", v, q1,
		 m, q3);
	p->ratio = m;
	p->huge_pct = share(r, v, "huge_pct");
	p->large_pct = share(r, v, "large_pct");
	share(r, v, "contig_pct");
	PT_CHECK(p->huge_pct >= 0, "%s: its PMD-mapped share was measured", v);
}

static void check_mappings(const struct probe_result *r, const struct probe_read_point *p)
{
	PT_CHECK(pt_num(r, "private_4k_huge_pct") == 0,
		 "MADV_NOHUGEPAGE keeps the baseline on 4 KiB PTEs");
	for (size_t i = 0; i < N_VARIANTS; i++) {
		bool pte = !strcmp(variants[i], "private_4k_shuffled") ||
			   !strcmp(variants[i], "shared_4k") || !strcmp(variants[i], "file_pte");
		if (pte && p[i].ratio > 0)
			PT_CHECK(p[i].huge_pct == 0, "%s is mapped by PTEs only (%.3f%% 2M)",
				 variants[i], p[i].huge_pct);
	}
	if (p[5].ratio > 0) { /* private_thp_pte */
		PT_CHECK(p[5].huge_pct < PROBE_READ_MAPPED_MIN_PCT,
			 "mprotect split the THPs' PMDs (%.3f%% still 2M)", p[5].huge_pct);
		PT_CHECK(p[5].large_pct >= PROBE_READ_MAPPED_MIN_PCT,
			 "but not the folios (%.3f%% in large folios)", p[5].large_pct);
	}
	if (p[4].ratio > 0) /* private_thp_pmd: the split runs exactly when THPs came */
		PT_CHECK((p[5].ratio > 0) == (p[4].huge_pct >= 50),
			 "the split THP was measured iff the THPs were PMD-mapped");
	if (p[8].ratio > 0) /* memfd_collapsed_pmd */
		PT_CHECK(p[8].huge_pct >= PROBE_READ_MAPPED_MIN_PCT,
			 "MADV_COLLAPSE maps a memfd by PMDs (%.3f%% 2M)", p[8].huge_pct);
	PT_CHECK(pt_str(r, "shared_anon_collapse")[0] != '\0',
		 "what MADV_COLLAPSE answers for shared anonymous memory is recorded");
	if (p[3].ratio > 0) {
		PT_CHECK(p[2].ratio > 0, "the file's two mappings were measured together");
		double s;
		for (const char *k = "file_pte_ratio_stride_4k\0file_pmd_ratio_stride_4k\0"
				     "file_pte_ratio_stride_16k\0file_pmd_ratio_stride_16k\0";
		     *k; k += strlen(k) + 1) {
			s = pt_num(r, k);
			PT_CHECK(isfinite(s) && s > 0, "%s = %.3f is a ratio", k, s);
		}
	}
}

static void check_release(const struct probe_result *r)
{
	const char *pv = "release_private_thp";
	if (measured(r, pv)) {
		PT_CHECK(num(r, pv, "us_per_call") > 0, "a private release took time");
		PT_CHECK(num(r, pv, "huge_kb_before") == 8192, "4 PMD-mapped THPs before");
		PT_CHECK(num(r, pv, "huge_kb_after") < 8192, "MADV_DONTNEED split their PMDs");
		PT_CHECK(num(r, pv, "rss_kb_dropped") == 32,
			 "and unmapped only the released 4 x 8 KiB (%.0f kB)",
			 num(r, pv, "rss_kb_dropped"));
		double rest = share(r, pv, "rest_large_pct");
		if (rest >= 0)
			PT_CHECK(rest == 100, "the folio stays whole until its deferred split");
	}
	const char *tv = "release_tmpfs_huge";
	if (measured(r, tv)) {
		PT_CHECK(num(r, tv, "us_per_call") > 0, "a tmpfs punch took time");
		PT_CHECK(num(r, tv, "huge_kb_before") == 8192, "4 PMD-mapped huge folios before");
		PT_CHECK(num(r, tv, "huge_kb_after") == 0,
			 "splitting a folio unmaps all of it (%.0f kB still 2M)",
			 num(r, tv, "huge_kb_after"));
		PT_CHECK(num(r, tv, "freed_kb") == 32,
			 "the file gave back exactly the 4 x 8 KiB punched (%.0f kB)",
			 num(r, tv, "freed_kb"));
		PT_CHECK(num(r, tv, "folio_splits") >= 4, "each punch split a folio");
		PT_CHECK(num(r, tv, "refaults_per_block") >= 1,
			 "the rest of a block is mapped again by faults");
	}
}

static void check_run(const struct probe_result *r)
{
	long long mib = pt_int(r, "region_mib");
	PT_CHECK(mib == 256 || mib == 512 || mib == 1024, "region of %lld MiB", mib);
	PT_CHECK(pt_int(r, "stride_bytes") == 8192, "the bench's page size");
	check_time("private_4k_ns", pt_num(r, "private_4k_ns"));
	struct probe_read_point p[N_VARIANTS];
	for (size_t i = 0; i < N_VARIANTS; i++)
		check_variant(r, variants[i], &p[i]);
	check_mappings(r, p);
	check_release(r);
	const char *cause = probe_read_speed_cause(p, N_VARIANTS);
	PT_CHECK(strcmp(pt_str(r, "cause"), cause) == 0, "cause '%s' is the rule's '%s'",
		 pt_str(r, "cause"), cause);
	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	PT_CHECK(strncmp(r->verdict, cause, strlen(cause)) == 0 && r->verdict[strlen(cause)] == ':',
		 "the verdict names it: %s", r->verdict);
	PT_CHECK(!r->evidence_truncated, "no evidence was dropped");
}

int main(void)
{
	check_rule();
	return pt_run_checked("read-speed", ATTEMPTS, check_run);
}
