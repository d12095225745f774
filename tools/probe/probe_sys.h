/*
 * probe_sys.h - what the experiments read from the kernel: page tables through
 * /proc/self/pagemap, physical pages through /proc/kpagecount, residency
 * through mincore(), fault counts through getrusage(), Shmem from
 * /proc/meminfo, per-VMA fields from /proc/self/smaps and /proc/self/maps.
 *
 * Conventions: functions return 0 (or a count) on success and -errno on
 * failure, with errno captured right after the call that set it.  Page counts
 * are size_t; "pages" always means base pages of probe_page_size() bytes.
 */
#ifndef PTBM_PROBE_SYS_H
#define PTBM_PROBE_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* /proc/<pid>/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT    (1ULL << 63)	 /* page present in RAM */
#define PM_SWAPPED    (1ULL << 62)	 /* page in swap */
#define PM_FILE	      (1ULL << 61)	 /* file page or shared anonymous page */
#define PM_EXCLUSIVE  (1ULL << 56)	 /* page mapped by this process only */
#define PM_SOFT_DIRTY (1ULL << 55)	 /* PTE soft-dirty */
#define PM_PFN_MASK   ((1ULL << 55) - 1) /* PFN when present; 0 when hidden */

/* Evidence text where a PFN comparison cannot be made. */
#define PROBE_NO_PFNS "not measurable: PFNs hidden (needs CAP_SYS_ADMIN)"

/* A pattern word written at the start of page i under tag. */
#define PROBE_TAG(tag, i) (((uint64_t)(tag) << 32) | (uint64_t)(i))

size_t probe_page_size(void);
uint64_t probe_now_ns(void);
/* CPU time of the calling thread, ns: what it ran, not what it waited for the CPU. */
uint64_t probe_cpu_ns(void);

/* Read n pagemap entries for the pages starting at addr (page aligned). */
int probe_pagemap_read(const void *addr, size_t n_pages, uint64_t *entries);
/* Number of entries with every bit of mask set. */
size_t probe_pagemap_count(const uint64_t *entries, size_t n, uint64_t mask);
/* Pages of [addr, addr + n pages) with a present PTE in this process, or -errno. */
long probe_present_count(const void *addr, size_t n_pages);
/* Page frame numbers of n pages (0 where absent or hidden). */
int probe_pfns(const void *addr, size_t n_pages, uint64_t *pfns);
/* True when pagemap shows PFNs to this process (CAP_SYS_ADMIN); measured once. */
bool probe_pfns_visible(void);
/*
 * Compare this process's PFNs for n pages at addr with other[] (PFNs of the
 * same pages in another process).  Returns how many pages have the same
 * non-zero PFN, or -1 when PFNs are hidden; *mapped_twice gets how many of
 * this process's pages /proc/kpagecount shows mapped exactly twice (-1 when
 * unreadable).
 */
long probe_compare_pfns(const void *addr, const uint64_t *other, size_t n_pages,
			long *mapped_twice);
/* How many page tables map the physical page pfn (/proc/kpagecount, root). */
int probe_kpagecount(uint64_t pfn, uint64_t *count);
/* One advice over n runs of this process: one process_madvise(2) call
 * (Linux 6.13+ for MADV_DONTNEED, MADV_REMOVE and MADV_POPULATE_*), else one
 * madvise(2) per run; 0 or -errno. */
struct iovec;
int probe_advise_vec(struct iovec *iov, size_t n, int advice);
/* Pages mincore() reports resident, or -errno. */
long probe_mincore_count(const void *addr, size_t n_pages);
/* The same for the first n pages of the file fd (mapped read-only for the call). */
long probe_mincore_count_fd(int fd, size_t n_pages);

struct probe_faults {
	long minor; /* ru_minflt: faults served without I/O */
	long major; /* ru_majflt: faults that waited for I/O */
};
/* This process's fault counters so far. */
struct probe_faults probe_faults_now(void);
/* b - a, field by field. */
struct probe_faults probe_faults_since(struct probe_faults a);

/* A /proc/meminfo field in kB ("Shmem"), or -errno. */
long probe_meminfo_kb(const char *field);
/* A /proc/self/smaps field in kB ("Referenced") of the VMA holding addr, or -errno. */
long probe_smaps_kb(const void *addr, const char *field);
/*
 * The same field summed over every VMA that overlaps [addr, addr + bytes),
 * each counted whole (a range split into several VMAs by mprotect), or -errno.
 */
long probe_smaps_range_kb(const void *addr, size_t bytes, const char *field);
/* A /proc/vmstat counter ("thp_split_page"), or -errno. */
long long probe_vmstat(const char *field);
/* Flags of the physical page pfn from /proc/kpageflags (root).  0 or -errno. */
int probe_kpageflags(uint64_t pfn, uint64_t *flags);
#define PROBE_KPF_COMPOUND_HEAD (1ULL << 15) /* first page of a large folio */
#define PROBE_KPF_COMPOUND_TAIL (1ULL << 16) /* another page of one */
/* The path column of the /proc/self/maps line holding addr ("" if none). */
int probe_maps_name(const void *addr, char *buf, size_t len);
/* Write what ("1": referenced bits, "4": soft-dirty) to /proc/self/clear_refs. */
int probe_clear_refs(const char *what);
/* A directory on a disk-backed file system (not tmpfs/ramfs) for temp files. */
int probe_disk_dir(char *buf, size_t len);
/*
 * Create an empty temporary file "ptbm-probe-<stem>-XXXXXX" in dir (NULL: a
 * disk-backed directory if there is one, else /tmp) and register it in r for
 * clean-up.  path receives its name.  Returns an O_RDWR | O_CLOEXEC fd or -errno.
 */
struct probe_result;
int probe_temp_file(struct probe_result *r, const char *dir, const char *stem, char *path,
		    size_t path_len);
/* pwrite all of len bytes at off, or send them all (off < 0: fd is a
 * socket; no SIGPIPE).  0 or -errno. */
int probe_write_all(int fd, const void *buf, size_t len, off_t off);
/* Sum of the "TLB:" row of /proc/interrupts, or -errno (-ENOENT: no such row). */
long long probe_tlb_interrupts(void);
/* First line of a small file, newline stripped. */
int probe_read_line(const char *path, char *buf, size_t len);

/* Helpers on a mapping of n pages: write PROBE_TAG(tag, i) into each page's
 * first word; count pages whose first word equals PROBE_TAG(tag, i), or 0. */
void probe_fill(void *addr, size_t n_pages, uint32_t tag);
size_t probe_count_tag(const void *addr, size_t n_pages, uint32_t tag);
size_t probe_count_zero(const void *addr, size_t n_pages);
/* Read (or write) one byte of each page: one fault per page without PTE. */
void probe_touch_read(const void *addr, size_t n_pages);
void probe_touch_write(void *addr, size_t n_pages);

/* Map every page writable with MADV_POPULATE_WRITE (write faults before 5.14).
 * 0 or -errno. */
int probe_populate_write(void *addr, size_t n_pages);

/*
 * Base pages only in this process's mapping of shared memory
 * (MADV_NOHUGEPAGE, inherited by a fork), whatever the transparent_hugepage
 * settings allow shmem: the granularity of a processes-mode pool's frames
 * of 4 KiB pages. A kernel without THP refuses the advice and has no
 * larger folios to give: fine.
 */
void probe_base_pages(void *addr, size_t n_pages);

/* Median of n doubles (sorts v in place). */
double probe_median(double *v, size_t n);
/* The q-quantile (0..1, nearest rank) of n doubles (sorts v in place); 0 if n is 0. */
double probe_quantile(double *v, size_t n, double q);
/*
 * How far n run times agree: the largest over the smallest once the trim
 * fastest and the trim slowest runs are set aside (trim 0: max / min; trim 1
 * of 5 runs: the 4th over the 2nd, which one disturbed run cannot move, as
 * it cannot move the median).  1 when they agree exactly; NaN when nothing
 * is left or a run is not positive (a failed or impossible measurement).
 */
double probe_spread(const double *v, size_t n, size_t trim);

#endif /* PTBM_PROBE_SYS_H */
