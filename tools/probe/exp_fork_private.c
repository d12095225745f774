/*
 * exp_fork_private.c - experiment 3: private anonymous memory and fork: copy on write.
 *
 * The classic: vmcache-style buffer pools map MAP_PRIVATE, which cannot be
 * shared between processes.  This experiment shows why, by measurement:
 *
 *   1. The parent maps N private anonymous pages, writes tag A, forks.
 *   2. The child counts its PTEs (fork copies them, write-protected), reads
 *      the pages (tag A?), notes PFNs, writes tag B (write faults), notes
 *      PFNs again.
 *   3. The parent reads (A, or the child's B?), writes tag C (write faults:
 *      the pages were write-protected at fork), notes PFNs.
 *   4. The child reads once more (B, or the parent's C?).
 *
 * Copy on write predicts: A after fork, B invisible to the parent, C invisible
 * to the child, one write fault per page on each side, same PFNs after fork,
 * new PFNs in the child after its write.  Sharing would show B in the parent.
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_sys.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define N_PAGES 64
#define TAG_A	0xA
#define TAG_B	0xB
#define TAG_C	0xC

struct first_report {
	long present_at_fork; /* child's PTEs before touching */
	long sees_a;	      /* pages with the parent's pre-fork tag */
	long write_faults;    /* minor faults writing tag B */
	uint64_t pfn_at_fork[N_PAGES];
	uint64_t pfn_after_write[N_PAGES];
};

struct second_report {
	long sees_b; /* its own writes */
	long sees_c; /* the parent's later writes */
};

static int child(struct probe_peer *self, void *arg)
{
	char *p = arg;
	struct first_report r1;
	memset(&r1, 0, sizeof(r1));
	r1.present_at_fork = probe_present_count(p, N_PAGES);
	probe_pfns(p, N_PAGES, r1.pfn_at_fork);
	r1.sees_a = (long)probe_count_tag(p, N_PAGES, TAG_A);
	struct probe_faults f0 = probe_faults_now();
	probe_fill(p, N_PAGES, TAG_B);
	r1.write_faults = probe_faults_since(f0).minor;
	probe_pfns(p, N_PAGES, r1.pfn_after_write);
	if (probe_peer_send(self, &r1, sizeof(r1)) || probe_peer_await(self))
		return 1;
	struct second_report r2 = {
	    .sees_b = (long)probe_count_tag(p, N_PAGES, TAG_B),
	    .sees_c = (long)probe_count_tag(p, N_PAGES, TAG_C),
	};
	return probe_peer_send(self, &r2, sizeof(r2)) ? 1 : 0;
}

static long count_equal(const uint64_t *a, const uint64_t *b, size_t n)
{
	long c = 0;
	for (size_t i = 0; i < n; i++)
		c += a[i] != 0 && a[i] == b[i];
	return c;
}

void probe_exp_fork_private(struct probe_result *r)
{
	size_t ps = probe_page_size(), len = N_PAGES * ps;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		probe_fail_errno(r, "mmap", errno);
		return;
	}
	probe_fill(p, N_PAGES, TAG_A);
	uint64_t pfn_before[N_PAGES], pfn_after[N_PAGES];
	probe_pfns(p, N_PAGES, pfn_before);

	struct probe_peer peer;
	int rc = probe_peer_start(&peer, child, p);
	if (rc < 0) {
		probe_fail_errno(r, "fork", -rc);
		munmap(p, len);
		return;
	}
	struct first_report r1;
	struct second_report r2;
	long parent_sees_a = 0, parent_sees_b = 0, parent_faults = 0;
	rc = probe_peer_recv(&peer, &r1, sizeof(r1));
	if (!rc) {
		parent_sees_a = (long)probe_count_tag(p, N_PAGES, TAG_A);
		parent_sees_b = (long)probe_count_tag(p, N_PAGES, TAG_B);
		struct probe_faults f0 = probe_faults_now();
		probe_fill(p, N_PAGES, TAG_C);
		parent_faults = probe_faults_since(f0).minor;
		probe_pfns(p, N_PAGES, pfn_after);
		rc = probe_peer_signal(&peer);
	}
	if (!rc)
		rc = probe_peer_recv(&peer, &r2, sizeof(r2));
	probe_peer_finish(&peer, 5);
	munmap(p, len);
	if (rc < 0) {
		probe_fail_errno(r, "talking to the child", -rc);
		return;
	}

	bool pfns = probe_pfns_visible();
	probe_ev_int(r, "pages", N_PAGES);
	probe_ev_int(r, "child_ptes_at_fork", r1.present_at_fork);
	probe_ev_int(r, "child_sees_prefork_data", r1.sees_a);
	probe_ev_int(r, "child_write_faults", r1.write_faults);
	probe_ev_int(r, "parent_sees_own_data_after_child_write", parent_sees_a);
	probe_ev_int(r, "parent_sees_child_writes", parent_sees_b);
	probe_ev_int(r, "parent_write_faults", parent_faults);
	probe_ev_int(r, "child_sees_own_writes", r2.sees_b);
	probe_ev_int(r, "child_sees_parent_writes", r2.sees_c);
	long shared_at_fork = -1, child_moved = -1, parent_kept = -1;
	if (pfns) {
		shared_at_fork = count_equal(pfn_before, r1.pfn_at_fork, N_PAGES);
		child_moved = N_PAGES - count_equal(r1.pfn_at_fork, r1.pfn_after_write, N_PAGES);
		parent_kept = count_equal(pfn_before, pfn_after, N_PAGES);
		probe_ev_int(r, "same_pfn_after_fork", shared_at_fork);
		probe_ev_int(r, "child_pfn_changed_by_write", child_moved);
		probe_ev_int(r, "parent_pfn_kept_on_write", parent_kept);
	} else {
		probe_ev_str(r, "pfns", PROBE_NO_PFNS);
	}

	bool isolated = r1.sees_a == N_PAGES && parent_sees_a == N_PAGES && parent_sees_b == 0 &&
			r2.sees_b == N_PAGES && r2.sees_c == 0;
	bool faulted = r1.write_faults >= N_PAGES && parent_faults >= N_PAGES;
	if (parent_sees_b == N_PAGES || r2.sees_c == N_PAGES) {
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "writes are shared across fork (no copy on write)");
	} else if (!isolated || !faulted) {
		probe_verdict(r, PROBE_INCONCLUSIVE,
			      "partial isolation: parent saw %ld/%d own pages, child %ld/%d; "
			      "write faults %ld/%ld",
			      parent_sees_a, N_PAGES, r2.sees_b, N_PAGES, r1.write_faults,
			      parent_faults);
	} else if (!pfns) {
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "copy on write: no sharing after fork; one write fault per page on "
			      "each side (PFNs not visible)");
	} else if (shared_at_fork == N_PAGES && child_moved == N_PAGES) {
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "copy on write: same PFNs after fork, a write fault copies the page "
			      "(child's PFNs changed); no sharing");
	} else {
		probe_verdict(
		    r, PROBE_INCONCLUSIVE,
		    "writes isolated, but %ld/%d PFNs shared at fork, %ld changed on write",
		    shared_at_fork, N_PAGES, child_moved);
	}
}
