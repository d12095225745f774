/*
 * exp_fault_around.c - experiment 8: how many PTEs does one fault install?
 *
 * On a read fault in a file-backed (or shmem) mapping the kernel may map
 * neighbouring pages that are already in the page cache ("fault-around"),
 * so one fault can install many PTEs.  PT-BM cares: a stray read maps a whole
 * window, and a process that wants one page mapped gets sixteen.
 *
 * Each kind maps 64 pages whose data already exists, placed at the start of a
 * 2 MiB-aligned range so that all 64 PTEs live in one page table:
 *   - shared anonymous, in base pages as a processes-mode pool of 4 KiB
 *     pages keeps them: populated, then MADV_DONTNEED drops this
 *     process's PTEs (the pages stay in the shmem cache);
 *   - shared file and private file: a temporary file written with pwrite and
 *     fsync'ed (pages cached, clean);
 *   - private anonymous: nothing to find (a read maps the zero page).
 * Read one byte of page 24 and count present PTEs (and their alignment);
 * drop them with MADV_DONTNEED (for shared memory this keeps the pages),
 * write one byte of page 50, count again.
 *
 * File pages may sit in large folios (one pwrite of 256 KiB can make one
 * folio), and a read fault may then map the whole folio, not a 16-page
 * window.  Placement matters too, and a last measurement shows it: when the
 * mapping puts such a folio across a 2 MiB page-table boundary, a read fault
 * may map only its own page.
 * "file_straddle" maps the private file with pages 0-31 below such a boundary
 * and 32-63 above it and reads page 24 again.
 */
#include "probe.h"
#include "probe_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define N_PAGES	   64
#define READ_PAGE  24	       /* in the middle, so an aligned window fits in the VMA */
#define WRITE_PAGE 50	       /* outside any window around READ_PAGE */
#define TABLE	   (2ul << 20) /* bytes mapped by one page table (x86-64) */
#define STRADDLE   32	       /* file_straddle: pages below the table boundary */

struct fa {
	long read_ptes;	     /* PTEs after one read fault */
	long read_faults;    /* minor faults it took */
	long window_first;   /* first present page index, -1 if none */
	bool window_aligned; /* the window starts at a multiple of its size */
	long write_ptes;     /* PTEs after one write fault, starting from none */
	long write_faults;
};

static void measure(char *p, struct fa *f)
{
	size_t ps = probe_page_size();
	struct probe_faults f0 = probe_faults_now();
	(void)*(volatile char *)(p + READ_PAGE * ps);
	f->read_faults = probe_faults_since(f0).minor;
	uint64_t pm[N_PAGES];
	f->read_ptes = -1;
	f->window_first = -1;
	if (probe_pagemap_read(p, N_PAGES, pm) == 0) {
		f->read_ptes = (long)probe_pagemap_count(pm, N_PAGES, PM_PRESENT);
		for (size_t i = 0; i < N_PAGES && f->window_first < 0; i++)
			if (pm[i] & PM_PRESENT)
				f->window_first = (long)i;
	}
	if (f->window_first >= 0 && f->read_ptes > 0) {
		uintptr_t start = (uintptr_t)p + (uintptr_t)f->window_first * ps;
		f->window_aligned = start % ((uintptr_t)f->read_ptes * ps) == 0;
	}
	/* The write fault starts from no PTEs too: the read may have mapped
	 * WRITE_PAGE already (a large folio is mapped whole). */
	f->write_ptes = -1;
	if (madvise(p, N_PAGES * ps, MADV_DONTNEED) != 0)
		return;
	f0 = probe_faults_now();
	*(volatile char *)(p + WRITE_PAGE * ps) = 1;
	f->write_faults = probe_faults_since(f0).minor;
	f->write_ptes = probe_present_count(p, N_PAGES);
}

/*
 * Map N_PAGES (prot, flags, fd) so that page STRADDLE lands on a page-table
 * boundary when straddle is set, else so that page 0 starts a page table.
 * The mapping sits inside a PROT_NONE reservation returned in *resv (unmap
 * RESERVATION bytes of it to undo both).  Returns the mapping or MAP_FAILED.
 */
#define RESERVATION (3 * TABLE)
static char *place(int prot, int flags, int fd, bool straddle, char **resv)
{
	*resv =
	    mmap(NULL, RESERVATION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (*resv == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t table = ((uintptr_t)*resv + TABLE - 1) & ~(TABLE - 1);
	if (straddle)
		table += TABLE - STRADDLE * probe_page_size();
	char *p = mmap((void *)table, N_PAGES * probe_page_size(), prot, flags | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;
		munmap(*resv, RESERVATION);
		errno = err;
	}
	return p;
}

static int shared_anon(struct fa *f)
{
	char *resv;
	char *p = place(PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, false, &resv);
	if (p == MAP_FAILED)
		return -errno;
	probe_base_pages(p, N_PAGES);
	int rc = probe_populate_write(p, N_PAGES);
	if (rc == 0 && madvise(p, N_PAGES * probe_page_size(), MADV_DONTNEED) != 0)
		rc = -errno; /* drops this process's PTEs, keeps the pages */
	if (rc == 0)
		measure(p, f);
	munmap(resv, RESERVATION);
	return rc;
}

/* The cached, clean file all file kinds map; returns an fd or -errno. */
static int make_file(struct probe_result *r, char *path, size_t path_len)
{
	size_t len = N_PAGES * probe_page_size();
	int fd = probe_temp_file(r, NULL, "fa", path, path_len);
	if (fd < 0)
		return fd;
	char *buf = malloc(len);
	int rc = buf ? 0 : -ENOMEM;
	if (buf) {
		memset(buf, 0x33, len);
		rc = probe_write_all(fd, buf, len, 0);
		free(buf);
	}
	if (rc == 0 && fsync(fd) != 0) /* no writeback may hold a folio while we fault */
		rc = -errno;
	if (rc < 0) {
		close(fd);
		unlink(path);
		return rc;
	}
	return fd;
}

static int file_kind(int fd, int flags, bool straddle, struct fa *f)
{
	char *resv;
	char *p = place(PROT_READ | PROT_WRITE, flags, fd, straddle, &resv);
	if (p == MAP_FAILED)
		return -errno;
	measure(p, f);
	munmap(resv, RESERVATION);
	return 0;
}

static int private_anon(struct fa *f)
{
	char *resv;
	char *p = place(PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, false, &resv);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, N_PAGES * probe_page_size(), MADV_NOHUGEPAGE);
	measure(p, f);
	munmap(resv, RESERVATION);
	return 0;
}

static void evidence(struct probe_result *r, const char *prefix, const struct fa *f)
{
	char k[PROBE_KEY_LEN];
#define KEY(name) (snprintf(k, sizeof(k), "%s.%s", prefix, name), k)
	probe_ev_int(r, KEY("read_fault_ptes"), f->read_ptes);
	probe_ev_int(r, KEY("read_faults"), f->read_faults);
	probe_ev_int(r, KEY("window_first_page"), f->window_first);
	probe_ev_bool(r, KEY("window_aligned"), f->window_aligned);
	probe_ev_int(r, KEY("write_fault_ptes"), f->write_ptes);
	probe_ev_int(r, KEY("write_faults"), f->write_faults);
#undef KEY
}

void probe_exp_fault_around(struct probe_result *r)
{
	struct fa sh = {0}, sf = {0}, pf = {0}, st = {0}, pa = {0};
	int rc = shared_anon(&sh);
	if (rc == 0)
		rc = private_anon(&pa);
	if (rc < 0) {
		probe_fail_errno(r, "anonymous mappings", -rc);
		return;
	}
	char path[300];
	int fd = make_file(r, path, sizeof(path));
	int rc_file = fd < 0 ? fd : 0;
	if (rc_file == 0) {
		rc_file = file_kind(fd, MAP_SHARED, false, &sf);
		if (rc_file == 0)
			rc_file = file_kind(fd, MAP_PRIVATE, false, &pf);
		if (rc_file == 0)
			rc_file = file_kind(fd, MAP_PRIVATE, true, &st);
		close(fd);
		unlink(path);
	}

	char knob[64];
	if (probe_read_line("/sys/kernel/debug/fault_around_bytes", knob, sizeof(knob)) == 0)
		probe_ev_str(r, "fault_around_bytes", "%s", knob);
	else
		probe_ev_str(r, "fault_around_bytes", "not readable (debugfs)");
	probe_ev_int(r, "pages", N_PAGES);
	probe_ev_int(r, "read_page", READ_PAGE);
	probe_ev_int(r, "write_page", WRITE_PAGE);
	evidence(r, "shared_anon", &sh);
	if (rc_file == 0) {
		evidence(r, "shared_file", &sf);
		evidence(r, "private_file", &pf);
		evidence(r, "file_straddle", &st);
	} else {
		probe_ev_str(r, "file", "not measurable: %s", strerror(-rc_file));
	}
	evidence(r, "private_anon", &pa);

	if (sh.read_ptes < 0 || pa.read_ptes < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE, "/proc/self/pagemap unreadable");
		return;
	}
	bool file = rc_file == 0;
	if (sh.read_ptes < 1 || pa.read_ptes < 1 || sh.write_ptes < 1 || pa.write_ptes < 1 ||
	    (file &&
	     (sf.read_ptes < 1 || pf.read_ptes < 1 || sf.write_ptes < 1 || pf.write_ptes < 1))) {
		probe_verdict(r, PROBE_INCONCLUSIVE, "a fault mapped no page");
		return;
	}
	char reads[PROBE_VERDICT_LEN], writes[PROBE_VERDICT_LEN];
	long window_kb = sh.read_ptes * (long)probe_page_size() / 1024;
	if (file)
		snprintf(reads, sizeof(reads),
			 "shared anon %ld (%ld KiB%s), shared file %ld, private file %ld (%ld "
			 "across a 2 MiB table), private anon %ld",
			 sh.read_ptes, window_kb, sh.window_aligned ? " aligned" : "", sf.read_ptes,
			 pf.read_ptes, st.read_ptes, pa.read_ptes);
	else
		snprintf(reads, sizeof(reads), "shared anon %ld (%ld KiB%s), private anon %ld",
			 sh.read_ptes, window_kb, sh.window_aligned ? " aligned" : "",
			 pa.read_ptes);
	bool writes_one = sh.write_ptes == 1 && pa.write_ptes == 1 &&
			  (!file || (sf.write_ptes == 1 && pf.write_ptes == 1));
	if (writes_one)
		snprintf(writes, sizeof(writes), "1");
	else if (file)
		snprintf(writes, sizeof(writes),
			 "shared anon %ld, shared file %ld, private %ld/%ld", sh.write_ptes,
			 sf.write_ptes, pf.write_ptes, pa.write_ptes);
	else
		snprintf(writes, sizeof(writes), "shared anon %ld, private anon %ld", sh.write_ptes,
			 pa.write_ptes);
	probe_verdict(r, PROBE_CONCLUSIVE, "PTEs per read fault: %s; per write fault: %s", reads,
		      writes);
}
