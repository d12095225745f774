/*
 * folios.h - how large a folio the kernel may give a fault in shmem frames
 * (folios.c), read off the transparent_hugepage settings.
 *
 * A frame is released a page at a time. A folio no larger than the pool's
 * page is freed whole by a hole punched over its pages; a larger one is
 * split first, a split can fail (then nothing is freed), and its first
 * touch allocated memory for pages that are not resident. So a pool keeps
 * its budget only where shmem folios are at most a page.
 */
#ifndef PTBM_CORE_FOLIOS_H
#define PTBM_CORE_FOLIOS_H

#include "base.h"

/* Where the settings are read: the transparent_hugepage folder in sysfs
 * and the mount table (a test points them at files of its own). */
struct ptbm_thp_source {
	const char *thp_dir; /* .../transparent_hugepage */
	const char *mounts;  /* a mounts(5) table */
};
/* The system's: /sys/kernel/mm/transparent_hugepage and /proc/self/mounts,
 * unless the tests' library was pointed elsewhere. */
struct ptbm_thp_source ptbm_thp_system(void);

/*
 * The largest folio, in bytes, that a fault may allocate in shmem frames,
 * in a mapping advised MADV_HUGEPAGE (advised) or not: anonymous shmem
 * (anon: a pool's own shared mapping, inherited by fork) or a file in the
 * tmpfs mounted at shm_dir (a named pool's POSIX shm object). 4096 if only
 * base pages; *why (len bytes) names the setting that allows the largest.
 */
uint64_t ptbm_shmem_folio_max(struct ptbm_thp_source src, bool anon, bool advised,
			      const char *shm_dir, char *why, size_t len);

#ifdef PTBM_FAULT_INJECTION
/* Tests: read the settings from src instead of the system's (NULL fields:
 * the system's again). */
void ptbm_thp_source_set(struct ptbm_thp_source src);
#endif

#endif /* PTBM_CORE_FOLIOS_H */
