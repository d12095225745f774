/*
 * exp_fork_shared.c - experiment 1: are page tables synchronized across fork?
 *
 * PT-BM lets many processes use one shared mapping as the buffer pool.  When
 * one process faults a page in, does the kernel also fill the other
 * processes' page tables, or does each process fault for itself?
 *
 *   1. mmap(MAP_SHARED | MAP_ANONYMOUS) N pages, fork.
 *   2. The parent writes a tag into each page (its own faults fill its PTEs).
 *   3. The child reads its pagemap: how many PTEs does it have before it
 *      touches anything?  Then it reads every page (faults, data) and reads
 *      its pagemap again.
 *   4. With PFNs visible (root), both sides compare the physical pages and
 *      /proc/kpagecount.
 *
 * Possible answers: the child has all N PTEs before touching (synchronized
 * page tables), or none until its own faults (per-process page tables).
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_sys.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define N_PAGES 64
#define TAG	0xF0F1

struct child_report {
	long present_before; /* child's PTEs before its own access */
	long present_after;  /* ... after reading every page */
	long read_faults;    /* minor faults of that read pass */
	long data_ok;	     /* pages where it read the parent's tag */
	uint64_t pfn[N_PAGES];
};

static int child(struct probe_peer *self, void *arg)
{
	char *p = arg;
	struct child_report rep = {0};
	if (probe_peer_await(self)) /* the parent has written */
		return 1;
	rep.present_before = probe_present_count(p, N_PAGES);
	struct probe_faults f0 = probe_faults_now();
	rep.data_ok = (long)probe_count_tag(p, N_PAGES, TAG);
	rep.read_faults = probe_faults_since(f0).minor;
	rep.present_after = probe_present_count(p, N_PAGES);
	probe_pfns(p, N_PAGES, rep.pfn);
	if (probe_peer_send(self, &rep, sizeof(rep)))
		return 1;
	/* Keep the mapping until the parent has read kpagecount. */
	return probe_peer_await(self) ? 1 : 0;
}

void probe_exp_fork_shared(struct probe_result *r)
{
	size_t ps = probe_page_size();
	char *p =
	    mmap(NULL, N_PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		probe_fail_errno(r, "mmap", errno);
		return;
	}
	struct probe_peer peer;
	int rc = probe_peer_start(&peer, child, p);
	if (rc < 0) {
		probe_fail_errno(r, "fork", -rc);
		goto out_unmap;
	}
	struct probe_faults f0 = probe_faults_now();
	probe_fill(p, N_PAGES, TAG);
	long parent_faults = probe_faults_since(f0).minor;
	long parent_present = probe_present_count(p, N_PAGES);

	struct child_report rep;
	rc = probe_peer_signal(&peer);
	if (!rc)
		rc = probe_peer_recv(&peer, &rep, sizeof(rep));
	if (rc < 0) {
		probe_fail_errno(r, "talking to the child", -rc);
		probe_peer_finish(&peer, 5);
		goto out_unmap;
	}

	long twice;
	long same_pfn = probe_compare_pfns(p, rep.pfn, N_PAGES, &twice);
	probe_peer_signal(&peer);
	probe_peer_finish(&peer, 5);

	probe_ev_int(r, "pages", N_PAGES);
	probe_ev_int(r, "parent_write_faults", parent_faults);
	probe_ev_int(r, "parent_ptes_after_write", parent_present);
	probe_ev_int(r, "child_ptes_before_access", rep.present_before);
	probe_ev_int(r, "child_read_faults", rep.read_faults);
	probe_ev_int(r, "child_ptes_after_access", rep.present_after);
	probe_ev_int(r, "child_read_parent_data", rep.data_ok);
	if (same_pfn >= 0) {
		probe_ev_int(r, "same_pfn_pages", same_pfn);
		if (twice >= 0)
			probe_ev_int(r, "kpagecount_2_pages", twice);
		else
			probe_ev_str(r, "kpagecount_2_pages",
				     "not measurable: /proc/kpagecount unreadable");
	} else {
		probe_ev_str(r, "same_pfn_pages", PROBE_NO_PFNS);
	}

	if (rep.present_before < 0 || rep.present_after < 0 || parent_present < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE, "/proc/self/pagemap unreadable");
	} else if (rep.data_ok != N_PAGES) {
		probe_verdict(r, PROBE_INCONCLUSIVE,
			      "the child read %ld of %d pages the parent wrote", rep.data_ok,
			      N_PAGES);
	} else if (rep.present_before == N_PAGES) {
		probe_verdict(
		    r, PROBE_CONCLUSIVE,
		    "page tables synchronized: the child had the parent's PTEs before touching");
	} else if (rep.present_before == 0 && rep.present_after == N_PAGES && rep.read_faults > 0) {
		if (same_pfn < 0)
			probe_verdict(
			    r, PROBE_CONCLUSIVE,
			    "per-process page tables, filled by each process's own faults; "
			    "data shared (PFNs not visible)");
		else if (same_pfn == N_PAGES)
			probe_verdict(
			    r, PROBE_CONCLUSIVE,
			    "per-process page tables, filled by each process's own faults; "
			    "page shared (same PFN)");
		else
			probe_verdict(
			    r, PROBE_INCONCLUSIVE,
			    "per-process page tables, but only %ld of %d pages share a PFN",
			    same_pfn, N_PAGES);
	} else {
		probe_verdict(r, PROBE_INCONCLUSIVE,
			      "child had %ld PTEs before and %ld after its access, %ld faults",
			      rep.present_before, rep.present_after, rep.read_faults);
	}
out_unmap:
	munmap(p, N_PAGES * ps);
}
