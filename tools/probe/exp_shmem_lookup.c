/*
 * exp_shmem_lookup.c - experiment 2: how does the second process find the page?
 *
 * Experiment 1 shows that a process without a PTE faults the shared page in
 * by itself.  Something shared must lead its fault to the page the other
 * process created.  If that something is the shmem inode's page cache (the
 * mapping is a hidden tmpfs file), then all of these hold, and the trial in
 * probe_shm.c measures each one:
 *
 *   - /proc/self/maps names a file ("/dev/zero (deleted)") and pagemap marks
 *     the pages as file/shared pages (bit 61);
 *   - a process forked after the pages exist starts with no PTEs for them
 *     (fork copies nothing for a file-backed shared VMA);
 *   - mincore(), which asks the page cache, reports them resident in that
 *     process anyway;
 *   - MADV_DONTNEED, which only zaps the caller's PTEs, leaves the page in the
 *     cache for the other process and frees nothing;
 *   - MADV_REMOVE and fallocate(PUNCH_HOLE), which remove pages from the
 *     cache, zap every process's PTEs and lower Shmem in /proc/meminfo.
 *
 * The shared anonymous mapping gets MADV_REMOVE; fallocate needs a file
 * descriptor, so the punch-hole variant runs on a memfd (same shmem code).
 */
#include "probe.h"
#include "probe_shm.h"

#include <errno.h>
#include <string.h>

#define N_PAGES 4096 /* 16 MiB: Shmem changes stand out of the machine's noise */

void probe_exp_shmem_lookup(struct probe_result *r)
{
	struct probe_shm_trial anon, punch;
	int rc = probe_shm_trial_run(PROBE_SHM_ANON, PROBE_REL_REMOVE, N_PAGES, r, &anon);
	if (rc < 0) {
		probe_fail_errno(r, "shared anonymous trial", -rc);
		return;
	}
	probe_shm_trial_evidence(r, "anon", &anon);
	int rc_punch = probe_shm_trial_run(PROBE_SHM_MEMFD, PROBE_REL_PUNCH, N_PAGES, r, &punch);
	if (rc_punch == 0)
		probe_shm_trial_evidence(r, "memfd_punch", &punch);
	else
		probe_ev_str(r, "memfd_punch", "not measurable: memfd trial: %s",
			     strerror(-rc_punch));

	const char *why_anon = NULL, *why_punch = NULL;
	bool anon_ok = probe_shm_trial_matches(&anon, &why_anon);
	bool punch_ok = rc_punch == 0 && probe_shm_trial_matches(&punch, &why_punch);
	if (!anon_ok)
		probe_verdict(r, PROBE_INCONCLUSIVE, "not the shmem page-cache behaviour: %s",
			      why_anon);
	else if (rc_punch == 0 && !punch_ok)
		probe_verdict(r, PROBE_INCONCLUSIVE, "MADV_REMOVE as expected, but punch-hole: %s",
			      why_punch);
	else
		probe_verdict(
		    r, PROBE_CONCLUSIVE,
		    "lookup via the shmem inode's page cache: no PTEs copied, mincore "
		    "sees the cache, DONTNEED zaps the caller only, REMOVE%s frees for all",
		    punch_ok ? "/punch-hole" : "");
}
