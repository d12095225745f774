/*
 * exp_pte_metadata.c - experiment 7: is PTE metadata per process?
 *
 * A buffer manager would love to read "was this page referenced / written?"
 * from the page table instead of keeping its own descriptors.  With many
 * processes mapping one pool, that only works if the bits are per page, not
 * per process.  Parent P and child C map the same 64 shared pages (both
 * populated with MADV_POPULATE_*, so neither has the pages in its TLB), then:
 *
 *   A. exclusive (pagemap bit 56): P's bits before C maps, then both.
 *   B. accessed: both write "1" to /proc/self/clear_refs; P reads all 64
 *      pages, C reads the first 16; each reads "Referenced" of the VMA in
 *      /proc/self/smaps (which counts young PTEs of that process).
 *   C. soft-dirty (bit 55): both clear with "4"; P writes page 0; both read
 *      bit 55.  Skipped when a written page never shows bit 55.
 *   D. written: each registers the range with userfaultfd in asynchronous
 *      write-protect mode and write-protects it; P writes pages 0-15, C pages
 *      32-39; each asks PAGEMAP_SCAN which pages it has written.
 *
 * Per-process state predicts different answers in P and C for the same
 * physical pages in B, C and D.
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N_PAGES 64 /* one bit each in a uint64_t */

/* PAGEMAP_SCAN (Linux 6.7) and asynchronous uffd-wp, for older headers. */
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* Pages each side reads (B) and writes (D). */
#define P_READS	 N_PAGES
#define C_READS	 16
#define P_WRITES 0x000000000000ffffull /* pages 0-15 */
#define C_WRITES 0x000000ff00000000ull /* pages 32-39 */

static uint64_t bits_of(const uint64_t *pm, uint64_t bit)
{
	uint64_t m = 0;
	for (size_t i = 0; i < N_PAGES; i++)
		if ((pm[i] & (PM_PRESENT | bit)) == (PM_PRESENT | bit))
			m |= 1ull << i;
	return m;
}

static uint64_t pagemap_bits(const char *p, uint64_t bit)
{
	uint64_t pm[N_PAGES];
	if (probe_pagemap_read(p, N_PAGES, pm) < 0)
		return 0;
	return bits_of(pm, bit);
}

static void write_pages(char *p, uint64_t mask)
{
	for (size_t i = 0; i < N_PAGES; i++)
		if (mask & (1ull << i))
			*(volatile char *)(p + i * probe_page_size()) = 1;
}

/* Soft-dirty support: clear, write a private page, look at bit 55. */
static bool soft_dirty_supported(void)
{
	size_t ps = probe_page_size();
	char *q = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED)
		return false;
	*(volatile char *)q = 1;
	bool ok = probe_clear_refs("4") == 0;
	*(volatile char *)q = 2;
	uint64_t pm = 0;
	ok = ok && probe_pagemap_read(q, 1, &pm) == 0 && (pm & PM_SOFT_DIRTY);
	munmap(q, ps);
	return ok;
}

/*
 * Start asynchronous write tracking on [p, p + N_PAGES): a userfaultfd in
 * WP_ASYNC mode, range registered for WP and write-protected.  Returns the
 * uffd (kept open while tracking) or -errno.
 */
static int wp_track_start(char *p)
{
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 && errno == EPERM)
		uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0)
		return -errno;
	size_t len = N_PAGES * probe_page_size();
	struct uffdio_api api = {
	    .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
	struct uffdio_register reg = {.range = {(uintptr_t)p, len},
				      .mode = UFFDIO_REGISTER_MODE_WP};
	struct uffdio_writeprotect wp = {.range = {(uintptr_t)p, len},
					 .mode = UFFDIO_WRITEPROTECT_MODE_WP};
	int err = 0;
	if (ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0 ||
	    ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) != 0)
		err = errno;
	if (err) {
		close(uffd);
		return -err;
	}
	return uffd;
}

/* Pages PAGEMAP_SCAN reports PAGE_IS_WRITTEN, as a bit mask; -errno on failure. */
static int wp_written(const char *p, uint64_t *mask)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t ps = probe_page_size();
	struct page_region vec[N_PAGES];
	struct pm_scan_arg a = {
	    .size = sizeof(a),
	    .start = (uintptr_t)p,
	    .end = (uintptr_t)p + N_PAGES * ps,
	    .vec = (uintptr_t)vec,
	    .vec_len = N_PAGES,
	    .category_mask = PAGE_IS_WRITTEN,
	    .return_mask = PAGE_IS_WRITTEN,
	};
	long n = ioctl(fd, PAGEMAP_SCAN, &a);
	int err = n < 0 ? errno : 0;
	close(fd);
	if (err)
		return -err;
	*mask = 0;
	for (long i = 0; i < n; i++)
		for (uint64_t a0 = vec[i].start; a0 < vec[i].end; a0 += ps)
			*mask |= 1ull << ((a0 - (uintptr_t)p) / ps);
	return 0;
}

struct child_report {
	uint64_t exclusive;  /* bit 56 mask once both map */
	long referenced_kb;  /* smaps Referenced after its C_READS reads */
	uint64_t soft_dirty; /* bit 55 mask after P wrote page 0 */
	int wp_err;	     /* 0, or -errno starting write tracking */
	int scan_err;	     /* 0, or -errno of PAGEMAP_SCAN */
	uint64_t written;    /* PAGE_IS_WRITTEN mask */
};

struct ctx {
	char *p;
	bool soft_dirty;
};

static int child(struct probe_peer *self, void *arg)
{
	const struct ctx *c = arg;
	char *p = c->p;
	struct child_report rep;
	memset(&rep, 0, sizeof(rep));
	madvise(p, N_PAGES * probe_page_size(), MADV_POPULATE_READ);
	rep.exclusive = pagemap_bits(p, PM_EXCLUSIVE);
	/* B: accessed */
	/* Without a working clear_refs the counts would be stale, not per process. */
	int cleared = probe_clear_refs("1");
	if (probe_peer_signal(self) || probe_peer_await(self))
		return 1;
	probe_touch_read(p, C_READS);
	rep.referenced_kb = cleared < 0 ? cleared : probe_smaps_kb(p, "Referenced");
	/* C: soft-dirty */
	if (c->soft_dirty)
		probe_clear_refs("4");
	if (probe_peer_signal(self) || probe_peer_await(self))
		return 1;
	rep.soft_dirty = pagemap_bits(p, PM_SOFT_DIRTY);
	/* D: written; the parent is tracking already */
	int uffd = wp_track_start(p);
	rep.wp_err = uffd < 0 ? uffd : 0;
	if (probe_peer_signal(self) || probe_peer_await(self))
		return 1;
	if (uffd >= 0) {
		write_pages(p, C_WRITES);
		rep.scan_err = wp_written(p, &rep.written);
		close(uffd);
	}
	return probe_peer_send(self, &rep, sizeof(rep)) ? 1 : 0;
}

static int popcount64(uint64_t m)
{
	return __builtin_popcountll(m);
}

/* Everything measured, from both sides.  Counts are pages; -errno when unreadable. */
struct meta {
	int excl_alone;		       /* bit 56 in P before C maps */
	int excl_p, excl_c;	       /* bit 56 in P and C once both map */
	long ref_p, ref_c;	       /* young PTEs per smaps after P_READS / C_READS reads */
	bool sd_supported;	       /* bit 55 works on this kernel */
	int sd_p, sd_c;		       /* bit 55 of page 0 after P wrote it */
	int written_err;	       /* 0, or -errno of write tracking on either side */
	uint64_t written_p, written_c; /* PAGE_IS_WRITTEN masks */
};

/* Steps B-D from the parent's side (A's first half ran before the fork). */
static int run_parent(struct probe_peer *peer, char *p, struct meta *m)
{
	long kb_per_page = (long)(probe_page_size() / 1024);
	struct child_report rep;
	int rc = probe_peer_await(peer); /* the child mapped and cleared its bits */
	if (rc)
		return rc;
	m->excl_p = popcount64(pagemap_bits(p, PM_EXCLUSIVE));
	int cleared = probe_clear_refs("1");
	probe_touch_read(p, P_READS);
	long ref_kb = cleared < 0 ? cleared : probe_smaps_kb(p, "Referenced");
	if (m->sd_supported)
		probe_clear_refs("4");
	if ((rc = probe_peer_signal(peer)) || (rc = probe_peer_await(peer)))
		return rc;
	uint64_t sd = 0;
	if (m->sd_supported) {
		write_pages(p, 1);
		sd = pagemap_bits(p, PM_SOFT_DIRTY);
	}
	int uffd = wp_track_start(p);
	if ((rc = probe_peer_signal(peer)) || (rc = probe_peer_await(peer)))
		return rc;
	if (uffd >= 0)
		write_pages(p, P_WRITES);
	if ((rc = probe_peer_signal(peer)) || (rc = probe_peer_recv(peer, &rep, sizeof(rep))))
		return rc;
	int scan_err = uffd;
	if (uffd >= 0) {
		scan_err = wp_written(p, &m->written_p);
		close(uffd);
	}
	m->excl_c = popcount64(rep.exclusive);
	m->ref_p = ref_kb < 0 ? ref_kb : ref_kb / kb_per_page;
	m->ref_c = rep.referenced_kb < 0 ? rep.referenced_kb : rep.referenced_kb / kb_per_page;
	m->sd_p = (int)(sd & 1);
	m->sd_c = (int)(rep.soft_dirty & 1);
	m->written_err = scan_err < 0 ? scan_err : rep.wp_err ? rep.wp_err : rep.scan_err;
	m->written_c = rep.written;
	return 0;
}

static void meta_evidence(struct probe_result *r, const struct meta *m)
{
	probe_ev_int(r, "pages", N_PAGES);
	probe_ev_int(r, "exclusive_bit_parent_alone", m->excl_alone);
	probe_ev_int(r, "exclusive_bit_parent_both_mapping", m->excl_p);
	probe_ev_int(r, "exclusive_bit_child_both_mapping", m->excl_c);
	probe_ev_int(r, "accessed_parent_read_pages", P_READS);
	probe_ev_int(r, "accessed_child_read_pages", C_READS);
	if (m->ref_p >= 0 && m->ref_c >= 0) {
		probe_ev_int(r, "accessed_parent_referenced_pages", m->ref_p);
		probe_ev_int(r, "accessed_child_referenced_pages", m->ref_c);
	} else {
		probe_ev_str(r, "accessed", "not measurable: clear_refs or smaps: %s",
			     strerror((int)-(m->ref_p < 0 ? m->ref_p : m->ref_c)));
	}
	if (m->sd_supported) {
		probe_ev_int(r, "soft_dirty_parent_page0", m->sd_p);
		probe_ev_int(r, "soft_dirty_child_page0", m->sd_c);
	} else {
		probe_ev_str(r, "soft_dirty",
			     "not measurable: bit 55 never set on a written page "
			     "(CONFIG_MEM_SOFT_DIRTY off)");
	}
	if (m->written_err) {
		probe_ev_str(r, "written", "not measurable: uffd-wp async + PAGEMAP_SCAN: %s",
			     strerror(-m->written_err));
	} else {
		probe_ev_str(r, "written_parent_wrote", "%#018llx", (unsigned long long)P_WRITES);
		probe_ev_str(r, "written_parent_scan", "%#018llx",
			     (unsigned long long)m->written_p);
		probe_ev_str(r, "written_child_wrote", "%#018llx", (unsigned long long)C_WRITES);
		probe_ev_str(r, "written_child_scan", "%#018llx", (unsigned long long)m->written_c);
		probe_ev_bool(r, "written_per_process",
			      m->written_p == P_WRITES && m->written_c == C_WRITES);
	}
}

/* Append to a verdict being built. */
static void add(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void meta_verdict(struct probe_result *r, const struct meta *m)
{
	char per[PROBE_VERDICT_LEN] = "", shared[PROBE_VERDICT_LEN] = "",
	     odd[PROBE_VERDICT_LEN] = "";
	if (m->ref_p >= 0 && m->ref_c >= 0) {
		if (m->ref_p == P_READS && m->ref_c == C_READS)
			add(per, sizeof(per), "%saccessed (%ld vs %ld pages)", per[0] ? ", " : "",
			    m->ref_p, m->ref_c);
		else if (m->ref_p == m->ref_c)
			add(shared, sizeof(shared), "%saccessed", shared[0] ? ", " : "");
		else
			add(odd, sizeof(odd), "%saccessed %ld/%ld", odd[0] ? ", " : "", m->ref_p,
			    m->ref_c);
	}
	if (m->sd_supported) {
		if (m->sd_p == 1 && m->sd_c == 0)
			add(per, sizeof(per), "%ssoft-dirty", per[0] ? ", " : "");
		else if (m->sd_p == m->sd_c)
			add(shared, sizeof(shared), "%ssoft-dirty", shared[0] ? ", " : "");
		else
			add(odd, sizeof(odd), "%ssoft-dirty", odd[0] ? ", " : "");
	}
	if (!m->written_err) {
		if (m->written_p == P_WRITES && m->written_c == C_WRITES)
			add(per, sizeof(per), "%swritten (%d vs %d pages)", per[0] ? ", " : "",
			    popcount64(m->written_p), popcount64(m->written_c));
		else if (m->written_p == m->written_c)
			add(shared, sizeof(shared), "%swritten", shared[0] ? ", " : "");
		else
			add(odd, sizeof(odd), "%swritten", odd[0] ? ", " : "");
	}
	const char *excl = m->excl_alone == N_PAGES && m->excl_p == 0 && m->excl_c == 0
			       ? "; exclusive bit is page-level (0 in both once shared)"
			       : "";
	if (odd[0])
		probe_verdict(r, PROBE_INCONCLUSIVE, "unexpected per-process figures: %s", odd);
	else if (shared[0])
		probe_verdict(r, PROBE_CONCLUSIVE, "shared between processes: %s%s%s%s", shared,
			      per[0] ? "; per process: " : "", per, excl);
	else if (per[0])
		probe_verdict(r, PROBE_CONCLUSIVE, "per process: %s%s", per, excl);
	else
		probe_verdict(r, PROBE_UNMEASURABLE,
			      "no per-PTE state readable (smaps, soft-dirty, PAGEMAP_SCAN)");
}

void probe_exp_pte_metadata(struct probe_result *r)
{
	size_t ps = probe_page_size(), len = N_PAGES * ps;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		probe_fail_errno(r, "mmap", errno);
		return;
	}
	int rc = probe_populate_write(p, N_PAGES);
	if (rc < 0) {
		probe_fail_errno(r, "MADV_POPULATE_WRITE", -rc);
		munmap(p, len);
		return;
	}
	struct meta m;
	memset(&m, 0, sizeof(m));
	m.sd_supported = soft_dirty_supported();
	m.excl_alone = popcount64(pagemap_bits(p, PM_EXCLUSIVE));
	struct ctx c = {.p = p, .soft_dirty = m.sd_supported};
	struct probe_peer peer;
	rc = probe_peer_start(&peer, child, &c);
	if (rc < 0) {
		probe_fail_errno(r, "fork", -rc);
		munmap(p, len);
		return;
	}
	rc = run_parent(&peer, p, &m);
	probe_peer_finish(&peer, 5);
	munmap(p, len);
	if (rc < 0) {
		probe_fail_errno(r, "talking to the child", -rc);
		return;
	}
	meta_evidence(r, &m);
	meta_verdict(r, &m);
}
