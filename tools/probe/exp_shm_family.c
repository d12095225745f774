/*
 * exp_shm_family.c - experiment 5: do all four kinds of shared memory behave alike?
 *
 * Shared anonymous mmap, SysV shmget/shmat, POSIX shm_open and memfd_create
 * are four doors.  If they lead to the same shmem mechanism, each passes the
 * trial of experiment 2 (probe_shm.c) with the same figures: no PTEs after
 * fork, mincore residency without PTEs, the other process's own faults,
 * MADV_DONTNEED local, MADV_REMOVE global, and Shmem accounting in
 * /proc/meminfo.  A kind the kernel lacks (memfd before 3.17, SysV disabled
 * in a container) is "not measurable" and does not count against the others.
 * The trial does not judge fault counts, so they are compared across kinds
 * here: a kind whose reader needs many more faults lacks fault-around.
 */
#include "probe.h"
#include "probe_shm.h"

#include <stdio.h>
#include <string.h>

#define N_PAGES 4096 /* 16 MiB per kind */

void probe_exp_shm_family(struct probe_result *r)
{
	size_t n_ok = 0, n_measured = 0;
	long read_faults[PROBE_SHM_N_KINDS] = {0}; /* 0: not measured */
	char differing[PROBE_VERDICT_LEN] = "";
	char missing[PROBE_VERDICT_LEN] = "";
	for (int k = 0; k < PROBE_SHM_N_KINDS; k++) {
		const char *key = probe_shm_kind_key(k);
		struct probe_shm_trial t;
		int rc = probe_shm_trial_run(k, PROBE_REL_REMOVE, N_PAGES, r, &t);
		if (rc < 0) {
			probe_ev_str(r, key, "not measurable: %s", strerror(-rc));
			size_t len = strlen(missing);
			snprintf(missing + len, sizeof(missing) - len, "%s%s", len ? ", " : "",
				 key);
			continue;
		}
		n_measured++;
		read_faults[k] = t.child_read_faults;
		probe_shm_trial_evidence(r, key, &t);
		const char *why = NULL;
		if (probe_shm_trial_matches(&t, &why)) {
			n_ok++;
			continue;
		}
		char k_why[PROBE_KEY_LEN];
		snprintf(k_why, sizeof(k_why), "%s.differs", key);
		probe_ev_str(r, k_why, "%s", why);
		size_t len = strlen(differing);
		snprintf(differing + len, sizeof(differing) - len, "%s%s (%s)", len ? "; " : "",
			 key, why);
	}
	/* The trial does not judge fault counts; compare them across kinds here.
	 * A kind taking over twice the faults of another to read the same pages
	 * maps one page per fault: it has no fault-around. */
	char faults_note[PROBE_VERDICT_LEN] = "";
	long fewest = 0;
	for (int k = 0; k < PROBE_SHM_N_KINDS; k++)
		if (read_faults[k] > 0 && (fewest == 0 || read_faults[k] < fewest))
			fewest = read_faults[k];
	for (int k = 0; k < PROBE_SHM_N_KINDS; k++) {
		if (read_faults[k] <= 2 * fewest)
			continue;
		size_t len = strlen(faults_note);
		snprintf(faults_note + len, sizeof(faults_note) - len,
			 "; %s: no fault-around (%ld read faults vs %ld)", probe_shm_kind_key(k),
			 read_faults[k], fewest);
	}
	if (n_measured == 0)
		probe_verdict(r, PROBE_UNMEASURABLE, "no shared-memory kind could be created");
	else if (n_ok != n_measured)
		probe_verdict(r, PROBE_INCONCLUSIVE, "kinds differ: %s", differing);
	else if (missing[0])
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "%zu kinds alike: shmem page cache, Shmem-accounted (%s not "
			      "measurable)%s",
			      n_ok, missing, faults_note);
	else
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "all 4 kinds alike: one shmem page cache, per-process PTEs, "
			      "Shmem-accounted%s",
			      faults_note);
}
