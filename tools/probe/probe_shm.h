/*
 * probe_shm.h - the shared-memory family, and the two-process trial run on it.
 *
 * Shared anonymous mmap, SysV shmget/shmat, POSIX shm_open and memfd_create
 * all promise "memory two processes share".  Experiments 2 and 5 ask how the
 * second process finds a page: probe_shm_trial_run() performs the same
 * sequence on any of them, and probe_shm_trial_matches() says whether what it
 * measured is the shmem page-cache behaviour (see exp_shmem_lookup.c).
 */
#ifndef PTBM_PROBE_SHM_H
#define PTBM_PROBE_SHM_H

#include "probe.h"

#include <stdbool.h>
#include <stddef.h>

enum probe_shm_kind {
	PROBE_SHM_ANON = 0, /* mmap(MAP_SHARED | MAP_ANONYMOUS) */
	PROBE_SHM_SYSV,	    /* shmget(IPC_PRIVATE) + shmat */
	PROBE_SHM_POSIX,    /* shm_open + mmap(MAP_SHARED) */
	PROBE_SHM_MEMFD,    /* memfd_create + mmap(MAP_SHARED) */
	PROBE_SHM_N_KINDS,
};

enum probe_release {
	PROBE_REL_DONTNEED = 0, /* madvise(MADV_DONTNEED) */
	PROBE_REL_REMOVE,	/* madvise(MADV_REMOVE) */
	PROBE_REL_PUNCH,	/* fallocate(PUNCH_HOLE | KEEP_SIZE) on the fd */
};

struct probe_shm {
	enum probe_shm_kind kind;
	char *addr;  /* the mapping */
	size_t len;  /* bytes mapped */
	int fd;	     /* POSIX and memfd; -1 otherwise */
	int sysv_id; /* SysV; -1 otherwise */
};

/* "anon", "sysv", "posix", "memfd" (evidence key prefixes). */
const char *probe_shm_kind_key(enum probe_shm_kind kind);
/* "MADV_DONTNEED", "MADV_REMOVE", "fallocate(PUNCH_HOLE)". */
const char *probe_release_name(enum probe_release how);

/*
 * Create and map len bytes of kind.  Names are removed as soon as the object
 * is mapped (and registered in r first, in case of a crash), so nothing
 * outlives the experiment.  Returns 0, or -errno (-ENOSYS: kind unsupported).
 */
int probe_shm_create(struct probe_shm *s, enum probe_shm_kind kind, size_t len,
		     struct probe_result *r);
void probe_shm_destroy(struct probe_shm *s);

/* Release n pages from first_page on.  Returns 0 or -errno (-EOPNOTSUPP for
 * PROBE_REL_PUNCH on a kind without a file descriptor). */
int probe_shm_release(const struct probe_shm *s, size_t first_page, size_t n_pages,
		      enum probe_release how);

/* What the trial measured.  Counts are pages unless named _kb. */
struct probe_shm_trial {
	size_t n_pages;			     /* size of the object */
	char maps_name[128];		     /* /proc/self/maps name of the mapping */
	size_t parent_present;		     /* parent's PTEs after populating */
	size_t file_bit_pages;		     /* of those, pagemap bit 61 (file/shmem) */
	long shmem_kb_populate;		     /* Shmem change across the population */
	size_t child_present_at_start;	     /* PTEs of a child forked after population */
	size_t child_mincore_resident;	     /* mincore() residency before it touched */
	long child_read_faults;		     /* child's minor faults to read every page */
	size_t child_present_after_read;     /* child's PTEs after reading */
	size_t child_data_ok;		     /* pages where it read the parent's data */
	long same_pfn;			     /* pages at the same PFN in both; -1 hidden */
	long kpagecount_two;		     /* pages mapped twice per kpagecount; -1 hidden */
	size_t child_present_after_dontneed; /* after MADV_DONTNEED in the child */
	size_t parent_present_after_dontneed;
	long shmem_kb_dontneed;		     /* Shmem change across that MADV_DONTNEED */
	size_t child_data_ok_after_dontneed; /* the child reads again: data still there */
	enum probe_release release;	     /* how the child then released the pages */
	int release_err;		     /* 0, or -errno of that call */
	long shmem_kb_release;		     /* Shmem change across the release */
	size_t parent_present_after_release; /* parent's PTEs after the child released */
	size_t parent_zero_after_release;    /* pages the parent now reads as zero */
	int attempts;			     /* runs needed for plausible Shmem figures */
};

/*
 * The trial: the parent creates kind, populates n_pages and tags them; a child
 * forked afterwards checks its PTEs and mincore(), reads everything (faults,
 * data, PFNs), drops its PTEs with MADV_DONTNEED, reads again, then releases
 * the pages with how; the parent watches its own PTEs and Shmem throughout.
 * Runs again (up to 3 times) when Shmem figures look disturbed by other
 * processes.  Returns 0 with t filled, or -errno when kind cannot be created
 * or the peer protocol broke.
 */
int probe_shm_trial_run(enum probe_shm_kind kind, enum probe_release how, size_t n_pages,
			struct probe_result *r, struct probe_shm_trial *t);

/* True when t shows the shmem page-cache behaviour (exp_shmem_lookup.c); else
 * *why names the first observation that differs. */
bool probe_shm_trial_matches(const struct probe_shm_trial *t, const char **why);

/* Add t's figures to r, keys prefixed with prefix and '.'. */
void probe_shm_trial_evidence(struct probe_result *r, const char *prefix,
			      const struct probe_shm_trial *t);

#endif /* PTBM_PROBE_SHM_H */
